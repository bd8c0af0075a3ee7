-- memory.memory_history(id): what happened to one memory, oldest first (the table of the same name
-- holds the rows). P0002 when the memory does not exist or belongs to another user.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.memory_history(memory_id uuid)
RETURNS SETOF memory.memory_history
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF memory_history.memory_id IS NULL THEN
        RAISE EXCEPTION 'memory_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = memory_history.memory_id) THEN
        RAISE EXCEPTION 'memory % not found', memory_history.memory_id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY
    SELECT h.* FROM memory.memory_history AS h
    WHERE h.memory_id = memory_history.memory_id
    ORDER BY h.created_at, h.id;
END
$$;

COMMENT ON FUNCTION memory.memory_history(uuid) IS 'History of one memory (ADD, UPDATE, MERGE, DELETE, RESTORE), oldest first';
REVOKE ALL ON FUNCTION memory.memory_history(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.memory_history(uuid) TO authenticated, service_role;
