-- memory.maintain_memory_performance(): the periodic job, in one call: expiry, cleanup, then
-- ANALYZE of the memory tables so the planner's row estimates follow the deletions. Decay is
-- computed when relevance is read (0023), so the job no longer rewrites every memory.
-- VACUUM cannot run inside a function; `mempg maintain` runs VACUUM (ANALYZE) after this.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.maintain_memory_performance()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_expired integer;
    v_cleanup record;
    v_analyzed text[];
BEGIN
    v_expired := memory.cleanup_expired_sessions();
    SELECT * INTO v_cleanup FROM memory.cleanup_old_memories();
    v_analyzed := memory.analyze_memory_tables();
    RETURN jsonb_build_object(
        'expired', v_expired,
        'soft_deleted', v_cleanup.soft_deleted,
        'purged', v_cleanup.purged,
        'analyzed', to_jsonb(v_analyzed),
        'duration_ms', round(extract(epoch FROM clock_timestamp() - v_started) * 1000));
END
$$;

COMMENT ON FUNCTION memory.maintain_memory_performance() IS
    'Expiry, cleanup and ANALYZE of the memory tables; returns a jsonb report';
REVOKE ALL ON FUNCTION memory.maintain_memory_performance() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.maintain_memory_performance() TO service_role;
