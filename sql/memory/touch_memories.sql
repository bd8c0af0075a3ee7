-- memory.touch_memories(): record that memories were used (for example the search results an
-- agent put into its prompt): relevance back to 1, access count + 1, last access now. Decay
-- measures time from here. Search itself has no side effects, so this is the application's call.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.touch_memories(ids uuid[])
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_touched integer;
BEGIN
    IF touch_memories.ids IS NULL THEN
        RAISE EXCEPTION 'ids must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF cardinality(touch_memories.ids) > 1000 THEN
        RAISE EXCEPTION 'ids holds % ids; at most 1000 at a time', cardinality(touch_memories.ids) USING ERRCODE = '22023';
    END IF;
    UPDATE memory.memories AS m
    SET relevance_score = 1, access_count = m.access_count + 1, last_accessed_at = now()
    WHERE m.id = ANY (touch_memories.ids) AND NOT m.is_deleted;
    GET DIAGNOSTICS v_touched = ROW_COUNT;
    RETURN v_touched;
END
$$;

COMMENT ON FUNCTION memory.touch_memories(uuid[]) IS
    'Marks memories as used: relevance 1, access count + 1, last access now; returns how many';
REVOKE ALL ON FUNCTION memory.touch_memories(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.touch_memories(uuid[]) TO authenticated, service_role;
