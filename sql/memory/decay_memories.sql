-- memory.decay_memories(): relevance halves every half_life since a memory was last accessed.
-- Each run multiplies by 0.5 ^ (time since the later of the last access and the last decay /
-- half_life) and stamps decayed_at, so running it hourly or daily gives the same curve:
-- relevance = relevance at last access * 0.5 ^ (time since last access / half_life).
-- Rows whose relevance would move by less than 0.0005 are left alone (no rewrite, no bloat).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.decay_memories(half_life interval DEFAULT '30 days')
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_changed integer;
BEGIN
    IF decay_memories.half_life IS NULL OR decay_memories.half_life <= interval '0' THEN
        RAISE EXCEPTION 'half_life must be a positive interval, got %', coalesce(decay_memories.half_life::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    WITH decayed AS (
        SELECT m.id,
               m.relevance_score * power(0.5, extract(epoch FROM now() - greatest(m.last_accessed_at, coalesce(m.decayed_at, m.last_accessed_at)))
                                              / extract(epoch FROM decay_memories.half_life)) AS relevance
        FROM memory.memories AS m
        WHERE NOT m.is_deleted AND m.relevance_score > 0
    )
    UPDATE memory.memories AS m
    SET relevance_score = d.relevance, decayed_at = now()
    FROM decayed AS d
    WHERE m.id = d.id AND m.relevance_score - d.relevance >= 0.0005;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    RETURN v_changed;
END
$$;

COMMENT ON FUNCTION memory.decay_memories(interval) IS
    'Exponential decay of relevance since last access (half_life); returns the rows changed';
REVOKE ALL ON FUNCTION memory.decay_memories(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.decay_memories(interval) TO service_role;
