-- ops.slow_queries(): the statements with the highest mean time from pg_stat_statements (when it
-- is installed; otherwise no rows and a NOTICE saying how to get it). SECURITY DEFINER so that
-- service_role sees every statement's text, which pg_stat_statements shows only to privileged
-- roles; executable by service_role only, with a pinned search_path.
CREATE OR REPLACE FUNCTION ops.slow_queries(min_mean_ms double precision DEFAULT 100, max_rows integer DEFAULT 20)
RETURNS TABLE (query text, calls bigint, mean_ms double precision, max_ms double precision,
               total_ms double precision, rows_per_call double precision, cache_hit_ratio double precision)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema text;
BEGIN
    IF slow_queries.min_mean_ms IS NULL OR slow_queries.min_mean_ms < 0 OR slow_queries.min_mean_ms = 'NaN' THEN
        RAISE EXCEPTION 'min_mean_ms must be >= 0, got %', coalesce(slow_queries.min_mean_ms::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF slow_queries.max_rows IS NULL OR slow_queries.max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, got %', coalesce(slow_queries.max_rows::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT e.extnamespace::regnamespace::text INTO v_schema FROM pg_extension AS e WHERE e.extname = 'pg_stat_statements';
    IF v_schema IS NULL THEN
        RAISE NOTICE 'pg_stat_statements is not installed: add it to shared_preload_libraries and CREATE EXTENSION pg_stat_statements';
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT s.query, s.calls, s.mean_exec_time, s.max_exec_time, s.total_exec_time,
                s.rows::double precision / nullif(s.calls, 0),
                s.shared_blks_hit::double precision / nullif(s.shared_blks_hit + s.shared_blks_read, 0)
         FROM %I.pg_stat_statements AS s
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND s.mean_exec_time >= $1
         ORDER BY s.mean_exec_time DESC
         LIMIT $2', v_schema)
    USING slow_queries.min_mean_ms, slow_queries.max_rows;
END
$$;

COMMENT ON FUNCTION ops.slow_queries(double precision, integer) IS
    'Slowest statements by mean time from pg_stat_statements; no rows and a NOTICE without it';
REVOKE ALL ON FUNCTION ops.slow_queries(double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.slow_queries(double precision, integer) TO service_role;
