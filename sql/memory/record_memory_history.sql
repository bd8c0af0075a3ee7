-- Trigger memories_30_history (AFTER INSERT OR UPDATE): one memory_history row per ADD, UPDATE,
-- MERGE, DELETE and RESTORE, in the same transaction, with the database role and the app user.
-- The deduplication trigger names its event (memory.dedup_event()); other updates are classified
-- from the row (a memory restored from a mempg export by memory.import_batch() brings its own
-- history, 0016, and gets none here; an ADD is dated at the memory's created_at, which an import
-- keeps from its source, and is now() otherwise): is_deleted flipping is DELETE or RESTORE, a new version is UPDATE, and changes
-- that are not content (relevance, access counts) write nothing.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.record_memory_history()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_event text := memory.dedup_event();
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF memory.import_restoring() THEN
            RETURN NULL;  -- a restored memory: memory.import_batch() writes its exported history
        END IF;
        v_event := 'ADD';
    ELSIF v_event = 'NOOP' THEN
        RETURN NULL;
    ELSIF v_event IS NULL THEN
        v_event := CASE
            WHEN NOT OLD.is_deleted AND NEW.is_deleted THEN 'DELETE'
            WHEN OLD.is_deleted AND NOT NEW.is_deleted THEN 'RESTORE'
            WHEN NEW.version <> OLD.version THEN 'UPDATE'
        END;
        IF v_event IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO memory.memory_history (memory_id, user_id, event, old_memory, new_memory, old_version, new_version,
                                       created_at)
    VALUES (NEW.id, NEW.user_id, v_event,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.memory END, NEW.memory,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.version END, NEW.version,
            CASE WHEN TG_OP = 'INSERT' THEN least(NEW.created_at, now()) ELSE now() END);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.record_memory_history() IS
    'Trigger: writes memory_history rows for ADD, UPDATE, MERGE, DELETE and RESTORE';
REVOKE ALL ON FUNCTION memory.record_memory_history() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_30_history ON memory.memories;
CREATE TRIGGER memories_30_history
    AFTER INSERT OR UPDATE ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.record_memory_history();
