-- memory.delete_memory() and memory.restore_memory(): soft delete and its undo. A deleted memory is
-- invisible to search, list and get, and is purged for good by cleanup_old_memories() after
-- purge_after. Restoring fails with 23505 when a live memory with the same text exists by then.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.delete_memory(id uuid)
RETURNS TABLE (memory_id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF delete_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    UPDATE memory.memories AS m SET is_deleted = true, deleted_at = now()
    WHERE m.id = delete_memory.id AND NOT m.is_deleted;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory % not found', delete_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY SELECT delete_memory.id, 'DELETE'::text;
END
$$;

COMMENT ON FUNCTION memory.delete_memory(uuid) IS 'Soft-deletes a live memory; P0002 when not found';

CREATE OR REPLACE FUNCTION memory.restore_memory(id uuid)
RETURNS TABLE (memory_id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF restore_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    BEGIN
        UPDATE memory.memories AS m SET is_deleted = false, deleted_at = NULL
        WHERE m.id = restore_memory.id AND m.is_deleted;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'memory % cannot be restored: a live memory with the same text exists', restore_memory.id
            USING ERRCODE = '23505';
    END;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'deleted memory % not found', restore_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY SELECT restore_memory.id, 'RESTORE'::text;
END
$$;

COMMENT ON FUNCTION memory.restore_memory(uuid) IS 'Restores a soft-deleted memory; P0002 when not found, 23505 when a duplicate is live';
REVOKE ALL ON FUNCTION memory.delete_memory(uuid), memory.restore_memory(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.delete_memory(uuid), memory.restore_memory(uuid) TO authenticated, service_role;
