-- Row-level security of the agent tables: each user sees and changes only their own rows,
-- through every path (table, function, trigger, the unified search). The identity is
-- (select app.current_user_id()), which runs once per query; NULL (no identity) matches no row.
-- service_role bypasses RLS (workers, collectors, maintenance); anon has no access. Metrics are
-- append-only: a user reads and adds samples, never changes them. The partitions of
-- agent.metrics have row-level security on and forced and no grants: they are reached through
-- agent.metrics, whose policies apply (maintain_metric_partitions).
ALTER TABLE agent.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.settings FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.conversations FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.documents FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.chunks FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.ingestions ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.ingestions FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.workflow_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.workflow_executions FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.metrics FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Everyone with access may read the agent settings" ON agent.settings;
CREATE POLICY "Everyone with access may read the agent settings" ON agent.settings
    FOR SELECT TO authenticated, service_role USING (true);

DROP POLICY IF EXISTS "Users keep their own conversations" ON agent.conversations;
CREATE POLICY "Users keep their own conversations" ON agent.conversations
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users keep their own documents" ON agent.documents;
CREATE POLICY "Users keep their own documents" ON agent.documents
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users keep the chunks of their own documents" ON agent.chunks;
CREATE POLICY "Users keep the chunks of their own documents" ON agent.chunks
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users queue and work on their own ingestions" ON agent.ingestions;
CREATE POLICY "Users queue and work on their own ingestions" ON agent.ingestions
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users record and follow their own workflow executions" ON agent.workflow_executions;
CREATE POLICY "Users record and follow their own workflow executions" ON agent.workflow_executions
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users read their own metrics" ON agent.metrics;
CREATE POLICY "Users read their own metrics" ON agent.metrics
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users record their own metrics" ON agent.metrics;
CREATE POLICY "Users record their own metrics" ON agent.metrics
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));
