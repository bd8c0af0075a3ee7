-- Workflow executions (agent.workflow_executions): one row per run of a workflow through an
-- adapter (prefect, airflow, an agent framework) over some repositories, with its status machine
-- (status_machine.sql: pending -> running -> completed | failed | cancelled), its timestamps,
-- the duration the table computes (a generated column, finished_at - started_at), its result
-- and error.
--   agent.start_workflow(user_id, workflow_id, adapter, repositories, metadata, status)
--       -> the execution's id; status 'running' (default) starts it now, 'pending' queues it;
--   agent.set_workflow_status(id, status, result, error) -> the execution, moved on;
--   agent.list_workflow_executions(user_id, adapter, status, cursor, page_size) -> newest first,
--       on the index (user_id, adapter, status, created_at DESC, id DESC), as the seed asks.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION agent.start_workflow(
    user_id text,
    workflow_id text,
    adapter text,
    repositories text[] DEFAULT '{}',
    metadata jsonb DEFAULT '{}',
    status text DEFAULT 'running')
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'workflow_id', 'adapter'],
                                    ARRAY[start_workflow.user_id, start_workflow.workflow_id, start_workflow.adapter],
                                    ARRAY['user_id', 'workflow_id', 'adapter']);
    IF start_workflow.repositories IS NULL THEN
        RAISE EXCEPTION 'repositories must not be NULL (use ''{}'' for none)' USING ERRCODE = '22004';
    END IF;
    IF cardinality(start_workflow.repositories) > 1000 THEN
        RAISE EXCEPTION 'repositories holds % names; at most 1000 are allowed', cardinality(start_workflow.repositories)
            USING ERRCODE = '22001';
    END IF;
    FOR i IN 1 .. cardinality(start_workflow.repositories) LOOP
        PERFORM agent.check_identifiers(ARRAY[format('repositories[%s]', i)], ARRAY[start_workflow.repositories[i]],
                                        ARRAY[format('repositories[%s]', i)]);
    END LOOP;
    PERFORM agent.check_metadata(start_workflow.metadata, 'metadata');
    IF start_workflow.status IS NULL OR start_workflow.status NOT IN ('pending', 'running') THEN
        RAISE EXCEPTION 'status of a new execution must be pending or running, got %',
            coalesce(left(start_workflow.status, 100), 'NULL') USING ERRCODE = '22023';
    END IF;
    INSERT INTO agent.workflow_executions AS w (user_id, workflow_id, adapter, repositories, metadata, status)
    VALUES (start_workflow.user_id, start_workflow.workflow_id, start_workflow.adapter, start_workflow.repositories,
            start_workflow.metadata, start_workflow.status)
    RETURNING w.id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION agent.start_workflow(text, text, text, text[], jsonb, text) IS
    'Records a workflow execution, running (started now) or pending; returns its id';

CREATE OR REPLACE FUNCTION agent.set_workflow_status(id uuid, status text, result jsonb DEFAULT NULL, error text DEFAULT NULL)
RETURNS agent.workflow_executions
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_row agent.workflow_executions;
BEGIN
    IF set_workflow_status.id IS NULL OR set_workflow_status.status IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN set_workflow_status.id IS NULL THEN 'id' ELSE 'status' END
            USING ERRCODE = '22004';
    END IF;
    IF set_workflow_status.status NOT IN ('pending', 'running', 'completed', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'status must be pending, running, completed, failed or cancelled, got %',
            left(set_workflow_status.status, 100) USING ERRCODE = '22023';
    END IF;
    IF set_workflow_status.error IS NOT NULL THEN
        PERFORM agent.check_content(set_workflow_status.error, 'error');
    END IF;
    IF octet_length(set_workflow_status.result::text) > (SELECT s.max_metadata_bytes FROM memory.settings AS s) THEN
        RAISE EXCEPTION 'result is % bytes as JSON text; at most % are allowed', octet_length(set_workflow_status.result::text),
            (SELECT s.max_metadata_bytes FROM memory.settings AS s) USING ERRCODE = '22001';
    END IF;
    UPDATE agent.workflow_executions AS w
    SET status = set_workflow_status.status,
        result = coalesce(set_workflow_status.result, w.result),
        error = coalesce(set_workflow_status.error, w.error)
    WHERE w.id = set_workflow_status.id
    RETURNING w.* INTO v_row;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no workflow execution %', set_workflow_status.id USING ERRCODE = 'P0002';
    END IF;
    RETURN v_row;
END
$$;

COMMENT ON FUNCTION agent.set_workflow_status(uuid, text, jsonb, text) IS
    'Moves a workflow execution to a status (55000 when the machine does not allow it), with its result or error';

CREATE OR REPLACE FUNCTION agent.list_workflow_executions(
    user_id text,
    adapter text,
    status text,
    before_created_at timestamptz DEFAULT NULL,
    before_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS SETOF agent.workflow_executions
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'adapter', 'status'],
                                    ARRAY[list_workflow_executions.user_id, list_workflow_executions.adapter,
                                          list_workflow_executions.status],
                                    ARRAY['user_id', 'adapter', 'status']);
    PERFORM agent.check_page((list_workflow_executions.before_created_at IS NOT NULL)::integer
                             + (list_workflow_executions.before_id IS NOT NULL)::integer,
                             list_workflow_executions.page_size);
    RETURN QUERY
    SELECT w.* FROM agent.workflow_executions AS w
    WHERE w.user_id = list_workflow_executions.user_id AND w.adapter = list_workflow_executions.adapter
      AND w.status = list_workflow_executions.status
      AND (list_workflow_executions.before_created_at IS NULL
           OR (w.created_at, w.id) < (list_workflow_executions.before_created_at, list_workflow_executions.before_id))
    ORDER BY w.created_at DESC, w.id DESC
    LIMIT list_workflow_executions.page_size;
END
$$;

COMMENT ON FUNCTION agent.list_workflow_executions(text, text, text, timestamptz, uuid, integer) IS
    'A page of a user''s executions of one adapter in one status, newest first; keyset cursor (created_at, id)';

REVOKE ALL ON FUNCTION agent.start_workflow(text, text, text, text[], jsonb, text),
    agent.set_workflow_status(uuid, text, jsonb, text),
    agent.list_workflow_executions(text, text, text, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.start_workflow(text, text, text, text[], jsonb, text),
    agent.set_workflow_status(uuid, text, jsonb, text),
    agent.list_workflow_executions(text, text, text, timestamptz, uuid, integer) TO authenticated, service_role;
