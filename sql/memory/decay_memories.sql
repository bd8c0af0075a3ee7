-- Decay: a memory's relevance halves every memory.settings.relevance_half_life since it was last
-- used (touch_memories, a duplicate add), computed when it is read (0023).
--
-- relevance_score holds the relevance as of the later of last_accessed_at and decayed_at;
-- memory.decayed_relevance() decays it from there to now. Readers (get_memory, list_memories,
-- cleanup) ask for that. Until 0023 `mempg maintain` stored the decayed value every run, which
-- after a day rewrote every memory, and with it every memory's HNSW and text index entries (at
-- 1,000,000 memories: 118,844 rows in ten minutes, then the rest). Reading the decay rewrites
-- nothing; the curve is the same: relevance at last access * 0.5 ^ (time since / half life).

-- memory.decayed_relevance(): the one definition of the curve. No SET clause, so it inlines into
-- the readers' queries: built-ins only.
CREATE OR REPLACE FUNCTION memory.decayed_relevance(relevance_score double precision,
                                                    last_accessed_at timestamptz,
                                                    decayed_at timestamptz,
                                                    half_life interval)
RETURNS double precision
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT decayed_relevance.relevance_score
           * power(0.5, greatest(0, extract(epoch FROM now() - greatest(decayed_relevance.last_accessed_at,
                                                                         decayed_relevance.decayed_at)))
                        / extract(epoch FROM decayed_relevance.half_life))::double precision
$$;

COMMENT ON FUNCTION memory.decayed_relevance(double precision, timestamptz, timestamptz, interval) IS
    'Relevance now: relevance_score (as of the later of last access and decayed_at) halved every half_life since';
REVOKE ALL ON FUNCTION memory.decayed_relevance(double precision, timestamptz, timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.decayed_relevance(double precision, timestamptz, timestamptz, interval)
    TO authenticated, service_role;

-- memory.decay_memories(): stores the decayed relevance in relevance_score and stamps decayed_at,
-- for a caller that reads the column itself. Not needed by mempg (nothing calls it since 0023)
-- and not free: it rewrites every row it changes. half_life defaults to the setting; another
-- value applies that decay up to now, after which reads decay by the setting again. Rows whose
-- relevance would move by less than 0.0005 are left alone. Returns the rows changed.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.decay_memories(half_life interval DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_half_life interval;
    v_changed integer;
BEGIN
    SELECT coalesce(decay_memories.half_life, s.relevance_half_life) INTO v_half_life FROM memory.settings AS s;
    IF v_half_life <= interval '0' THEN
        RAISE EXCEPTION 'half_life must be a positive interval, got %', v_half_life USING ERRCODE = '22023';
    END IF;
    WITH decayed AS (
        SELECT m.id, memory.decayed_relevance(m.relevance_score, m.last_accessed_at, m.decayed_at, v_half_life) AS relevance
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
    'Stores the decayed relevance in relevance_score (reads decay without it); returns the rows changed';
REVOKE ALL ON FUNCTION memory.decay_memories(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.decay_memories(interval) TO service_role;
