-- The status machines of agent.ingestions and agent.workflow_executions, in one place:
--   ingestions:          (new) -> queued -> running -> completed | failed
--                        running -> queued   (a failed attempt with attempts left: retried later)
--                        failed  -> queued   (agent.retry_ingestion: a person retries it)
--   workflow_executions: (new) -> pending | running; pending -> running | cancelled;
--                        running -> completed | failed | cancelled
-- A row may stay in its status (a lease that expired is claimed again: running, one attempt
-- more; metadata changes) unless that status is final: completed, and a workflow's failed and
-- cancelled, take no change at all. The trigger
-- agent_10_status_machine on both tables refuses anything else with SQLSTATE 55000
-- (object_not_in_prerequisite_state), whichever way the row is written (a function, a plain
-- UPDATE), and keeps the timestamps: started_at when a row enters running, finished_at when it
-- reaches a final status (clock_timestamp(), so a duration inside one transaction is real),
-- updated_at on every change. duration is a generated column (finished_at - started_at).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.status_transitions(): every legal (machine, from, to); from is NULL for a new row.
CREATE OR REPLACE FUNCTION agent.status_transitions()
RETURNS TABLE (machine text, from_status text, to_status text)
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    VALUES ('ingestions', NULL, 'queued'),
           ('ingestions', 'queued', 'running'),
           ('ingestions', 'running', 'completed'),
           ('ingestions', 'running', 'failed'),
           ('ingestions', 'running', 'queued'),
           ('ingestions', 'failed', 'queued'),
           ('workflow_executions', NULL, 'pending'),
           ('workflow_executions', NULL, 'running'),
           ('workflow_executions', 'pending', 'running'),
           ('workflow_executions', 'pending', 'cancelled'),
           ('workflow_executions', 'running', 'completed'),
           ('workflow_executions', 'running', 'failed'),
           ('workflow_executions', 'running', 'cancelled')
$$;

COMMENT ON FUNCTION agent.status_transitions() IS
    'The legal status transitions of ingestions and workflow executions (from NULL: a new row)';

-- agent.guard_status(): the trigger. A final status takes no change at all.
CREATE OR REPLACE FUNCTION agent.guard_status()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_from text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
    v_now timestamptz := clock_timestamp();
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status = OLD.status THEN
        IF NOT EXISTS (SELECT FROM agent.status_transitions() AS t
                       WHERE t.machine = TG_TABLE_NAME AND t.from_status = OLD.status) THEN
            RAISE EXCEPTION '% %: a % row is final and cannot change', TG_TABLE_NAME, OLD.id, OLD.status
                USING ERRCODE = '55000';
        END IF;
        IF TG_TABLE_NAME = 'ingestions' THEN  -- nested: a workflow row has no attempts field
            IF NEW.status = 'running' AND NEW.attempts <> OLD.attempts THEN
                NEW.started_at := v_now;  -- claimed again after its lease expired
            END IF;
        END IF;
        NEW.updated_at := v_now;
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT FROM agent.status_transitions() AS t
                   WHERE t.machine = TG_TABLE_NAME AND t.from_status IS NOT DISTINCT FROM v_from
                     AND t.to_status = NEW.status) THEN
        RAISE EXCEPTION '% %: % -> % is not a legal transition', TG_TABLE_NAME,
            coalesce(NEW.id::text, '(new)'), coalesce(v_from, '(new)'), NEW.status
            USING ERRCODE = '55000',
                  HINT = coalesce('from ' || coalesce(v_from, '(new)') || ' a row may go to: '
                                  || (SELECT string_agg(t.to_status, ', ' ORDER BY t.to_status)
                                      FROM agent.status_transitions() AS t
                                      WHERE t.machine = TG_TABLE_NAME AND t.from_status IS NOT DISTINCT FROM v_from),
                                  'a ' || v_from || ' row is final');
    END IF;
    IF NEW.status = 'running' THEN
        NEW.started_at := v_now;
        NEW.finished_at := NULL;
    ELSIF NEW.status IN ('completed', 'failed', 'cancelled') THEN
        NEW.finished_at := v_now;
    ELSIF NEW.status IN ('queued', 'pending') THEN
        NEW.finished_at := NULL;
    END IF;
    NEW.updated_at := v_now;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION agent.guard_status() IS
    'Trigger: refuses illegal status transitions (55000) and stamps started_at, finished_at, updated_at';
REVOKE ALL ON FUNCTION agent.status_transitions(), agent.guard_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.status_transitions() TO authenticated, service_role;

DROP TRIGGER IF EXISTS agent_10_status_machine ON agent.ingestions;
CREATE TRIGGER agent_10_status_machine
    BEFORE INSERT OR UPDATE ON agent.ingestions
    FOR EACH ROW EXECUTE FUNCTION agent.guard_status();
DROP TRIGGER IF EXISTS agent_10_status_machine ON agent.workflow_executions;
CREATE TRIGGER agent_10_status_machine
    BEFORE INSERT OR UPDATE ON agent.workflow_executions
    FOR EACH ROW EXECUTE FUNCTION agent.guard_status();
