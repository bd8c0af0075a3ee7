-- Triggers memories_15_rate_limit_update and _delete (BEFORE UPDATE, BEFORE DELETE; after
-- memories_10_normalize, so bad input gets its 22xxx error first): every change of a memory takes
-- a token through memory.take_token(), whichever path it comes by (update_memory, delete_memory,
-- restore_memory, or a plain UPDATE or DELETE, which authenticated may also run), one per row:
--   UPDATE setting is_deleted                   -> delete (delete_memory's soft delete)
--   UPDATE of content, scope, expiry; a restore -> update
--   DELETE of a live memory                     -> delete (purging a soft-deleted one is free)
-- An UPDATE that changes none of those (touch_memories, decay) takes nothing, by the trigger's
-- WHEN clause, and neither does deduplication's own UPDATE of the memory an add matched
-- (pg_trigger_depth() > 1): that add has paid. The clause compares only types of pg_catalog (a
-- restore recreates it with an empty search_path, where pgvector's = is not found): a new
-- embedding shows there as a new version, which memories_10_normalize bumps; and it is written as
-- pg_get_triggerdef prints it back, so that a restored database has the same definition.
-- Adds (every INSERT) take theirs in the deduplication trigger, under its scope lock
-- (deduplicate_memories.sql). A row refused by the bucket fails its statement, which writes nothing.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.limit_memory_writes()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM memory.take_token('delete', OLD.user_id);
        RETURN OLD;
    END IF;
    IF pg_trigger_depth() = 1 THEN
        PERFORM memory.take_token(CASE WHEN NEW.is_deleted AND NOT OLD.is_deleted THEN 'delete' ELSE 'update' END,
                                  OLD.user_id);
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.limit_memory_writes() IS
    'Trigger: each memory changed or deleted takes a token of update or delete (memory.take_token)';
REVOKE ALL ON FUNCTION memory.limit_memory_writes() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_15_rate_limit_update ON memory.memories;
CREATE TRIGGER memories_15_rate_limit_update
    BEFORE UPDATE ON memory.memories
    FOR EACH ROW
    WHEN (OLD.version IS DISTINCT FROM NEW.version OR OLD.memory IS DISTINCT FROM NEW.memory OR
          OLD.metadata IS DISTINCT FROM NEW.metadata OR
          OLD.categories IS DISTINCT FROM NEW.categories OR
          OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.agent_id IS DISTINCT FROM NEW.agent_id OR
          OLD.run_id IS DISTINCT FROM NEW.run_id OR
          OLD.memory_type IS DISTINCT FROM NEW.memory_type OR
          OLD.source IS DISTINCT FROM NEW.source OR
          OLD.expires_at IS DISTINCT FROM NEW.expires_at OR
          OLD.is_deleted IS DISTINCT FROM NEW.is_deleted)
    EXECUTE FUNCTION memory.limit_memory_writes();
DROP TRIGGER IF EXISTS memories_15_rate_limit_delete ON memory.memories;
CREATE TRIGGER memories_15_rate_limit_delete
    BEFORE DELETE ON memory.memories
    FOR EACH ROW WHEN (NOT OLD.is_deleted)
    EXECUTE FUNCTION memory.limit_memory_writes();
