-- memory.cleanup_old_memories(): forgetting, in two steps and in batches (SKIP LOCKED, so it never
-- waits for the application and can run from cron while users write):
--   1. soft-delete live memories created and last accessed more than `retention` ago whose
--      relevance, decayed to now (memory.decayed_relevance()), fell below min_relevance (history
--      records a DELETE);
--   2. purge (hard-delete, with their history) memories soft-deleted more than purge_after ago.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.cleanup_old_memories(
    retention interval DEFAULT '365 days',
    min_relevance double precision DEFAULT 0.1,
    purge_after interval DEFAULT '30 days',
    batch_size integer DEFAULT 10000)
RETURNS TABLE (soft_deleted integer, purged integer)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_soft integer;
    v_purged integer;
BEGIN
    IF cleanup_old_memories.retention IS NULL OR cleanup_old_memories.retention <= interval '0' THEN
        RAISE EXCEPTION 'retention must be a positive interval' USING ERRCODE = '22023';
    END IF;
    IF cleanup_old_memories.purge_after IS NULL OR cleanup_old_memories.purge_after < interval '0' THEN
        RAISE EXCEPTION 'purge_after must be an interval >= 0' USING ERRCODE = '22023';
    END IF;
    IF cleanup_old_memories.min_relevance IS NULL OR NOT cleanup_old_memories.min_relevance BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'min_relevance must be between 0 and 1, got %',
            coalesce(cleanup_old_memories.min_relevance::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(cleanup_old_memories.batch_size, 'batch_size', 1000000);

    WITH victims AS (
        SELECT m.id FROM memory.memories AS m CROSS JOIN memory.settings AS s
        WHERE NOT m.is_deleted
          AND m.created_at < now() - cleanup_old_memories.retention
          AND m.last_accessed_at < now() - cleanup_old_memories.retention
          AND memory.decayed_relevance(m.relevance_score, m.last_accessed_at, m.decayed_at, s.relevance_half_life)
              < cleanup_old_memories.min_relevance
        ORDER BY m.last_accessed_at
        LIMIT cleanup_old_memories.batch_size
        FOR UPDATE OF m SKIP LOCKED
    )
    UPDATE memory.memories AS m SET is_deleted = true, deleted_at = now()
    FROM victims AS v WHERE m.id = v.id;
    GET DIAGNOSTICS v_soft = ROW_COUNT;

    WITH doomed AS (
        SELECT m.id FROM memory.memories AS m
        WHERE m.is_deleted AND m.deleted_at < now() - cleanup_old_memories.purge_after
        ORDER BY m.deleted_at
        LIMIT cleanup_old_memories.batch_size
        FOR UPDATE SKIP LOCKED
    )
    DELETE FROM memory.memories AS m USING doomed AS d WHERE m.id = d.id;
    GET DIAGNOSTICS v_purged = ROW_COUNT;

    RETURN QUERY SELECT v_soft, v_purged;
END
$$;

COMMENT ON FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer) IS
    'Soft-deletes old, low-relevance, unused memories; purges long-deleted ones; returns both counts';
REVOKE ALL ON FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer) TO service_role;
