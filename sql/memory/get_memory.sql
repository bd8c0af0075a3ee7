-- memory.get_memory(): one live memory by id (P0002 when it does not exist, is deleted or expired,
-- or belongs to another user: row-level security makes those look the same). relevance_score is
-- the relevance now, decayed since the last access (memory.decayed_relevance()).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.get_memory(id uuid)
RETURNS SETOF memory.memory_record
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF get_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
    SELECT m.id, m.user_id, m.agent_id, m.run_id, m.memory, m.metadata, m.categories, m.memory_type, m.source,
           m.hash, memory.decayed_relevance(m.relevance_score, m.last_accessed_at, m.decayed_at, s.relevance_half_life),
           m.access_count, m.last_accessed_at, m.version, m.expires_at,
           m.created_at, m.updated_at
    FROM memory.memories AS m CROSS JOIN memory.settings AS s
    WHERE m.id = get_memory.id AND memory.is_live(m.is_deleted, m.expires_at);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory % not found', get_memory.id USING ERRCODE = 'P0002';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.get_memory(uuid) IS 'One live memory by id, without its embedding; P0002 when not found';
REVOKE ALL ON FUNCTION memory.get_memory(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.get_memory(uuid) TO authenticated, service_role;
