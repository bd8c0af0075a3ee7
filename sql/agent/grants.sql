-- Privileges of the agent schema. authenticated works through row-level security; service_role
-- (BYPASSRLS) runs the workers, the metrics collector (COPY) and maintenance; anon gets nothing.
-- Ingestions and workflow executions are not deleted by users (their history is the record);
-- metrics are append-only and leave by whole partitions (retention); settings change only by
-- service_role.
REVOKE ALL ON SCHEMA agent FROM PUBLIC;
GRANT USAGE ON SCHEMA agent TO authenticated, service_role;
REVOKE ALL ON agent.settings, agent.conversations, agent.documents, agent.chunks, agent.ingestions,
    agent.workflow_executions, agent.metrics FROM PUBLIC, anon;
GRANT SELECT ON agent.settings TO authenticated, service_role;
GRANT UPDATE ON agent.settings TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON agent.conversations, agent.documents, agent.chunks TO authenticated, service_role;
GRANT SELECT, INSERT, UPDATE ON agent.ingestions, agent.workflow_executions TO authenticated, service_role;
GRANT DELETE ON agent.ingestions, agent.workflow_executions TO service_role;
GRANT SELECT, INSERT ON agent.metrics TO authenticated, service_role;
