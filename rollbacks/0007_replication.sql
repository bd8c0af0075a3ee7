-- 0007_replication rollback: ops.replica_lag() and the database_health view of 0004 come back,
-- the new functions and thresholds go.
CREATE OR REPLACE FUNCTION ops.replica_lag()
RETURNS TABLE (replicas bigint, max_lag_bytes numeric)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*), max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn))
    FROM pg_catalog.pg_stat_replication AS r
$$;

COMMENT ON FUNCTION ops.replica_lag() IS 'Connected replicas and the WAL bytes the slowest has not replayed';
REVOKE ALL ON FUNCTION ops.replica_lag() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.replica_lag() TO service_role;

CREATE OR REPLACE VIEW ops.database_health AS
WITH metrics AS (  -- every arm names its columns, so a dump and restore deparses it the same
    SELECT 'connections_used_ratio' AS metric,
           round((SELECT count(*) + 1 FROM ops.session_states())::numeric
                 / current_setting('max_connections')::numeric, 4) AS value,
           (SELECT string_agg(state || ': ' || n, ', ' ORDER BY state)
            FROM (SELECT coalesce(a.state, 'background') AS state, count(*) AS n
                  FROM ops.session_states() AS a GROUP BY 1) AS s)
             || ' of max_connections ' || current_setting('max_connections') AS detail
    UNION ALL
    SELECT 'cache_hit_ratio' AS metric,
           CASE WHEN d.blks_hit + d.blks_read >= 10000
                THEN round(d.blks_hit::numeric / (d.blks_hit + d.blks_read), 4) END AS value,
           d.blks_hit || ' buffer hits, ' || d.blks_read || ' reads since ' || coalesce(d.stats_reset::text, 'server start') AS detail
    FROM pg_catalog.pg_stat_database AS d WHERE d.datname = current_database()
    UNION ALL
    SELECT 'oldest_xid_age' AS metric, age(d.datfrozenxid)::numeric AS value,
           'transactions since datfrozenxid (wraparound at 2^31)' AS detail
    FROM pg_catalog.pg_database AS d WHERE d.datname = current_database()
    UNION ALL
    SELECT 'long_running_queries' AS metric, count(*)::numeric AS value,
           'active for more than ' || (SELECT s.value FROM ops.settings AS s WHERE s.key = 'long_running_seconds') || ' s' AS detail
    FROM ops.session_states() AS a
    WHERE a.state = 'active' AND a.backend_type = 'client backend'
      AND a.query_start < now() - make_interval(secs => (SELECT s.value FROM ops.settings AS s WHERE s.key = 'long_running_seconds'))
    UNION ALL
    SELECT 'idle_in_transaction_sessions' AS metric, count(*)::numeric AS value,
           'idle in transaction for more than ' || (SELECT s.value FROM ops.settings AS s WHERE s.key = 'idle_in_transaction_seconds') || ' s' AS detail
    FROM ops.session_states() AS a
    WHERE a.state LIKE 'idle in transaction%'
      AND a.state_change < now() - make_interval(secs => (SELECT s.value FROM ops.settings AS s WHERE s.key = 'idle_in_transaction_seconds'))
    UNION ALL
    SELECT 'replication_lag_bytes' AS metric, r.max_lag_bytes AS value, r.replicas || ' replica(s)' AS detail
    FROM ops.replica_lag() AS r
    WHERE r.replicas > 0
)
SELECT m.metric, m.value, t.warning, t.critical,
       CASE WHEN t.higher_is_worse AND m.value >= t.critical THEN 'critical'
            WHEN t.higher_is_worse AND m.value >= t.warning THEN 'warning'
            WHEN NOT t.higher_is_worse AND m.value <= t.critical THEN 'critical'
            WHEN NOT t.higher_is_worse AND m.value <= t.warning THEN 'warning'
            ELSE 'ok' END AS status,
       m.detail, t.description
FROM metrics AS m JOIN ops.thresholds AS t USING (metric);

DROP FUNCTION ops.wal_archiving();
DROP FUNCTION ops.replication_slots();
DROP FUNCTION ops.replication_lag();
DELETE FROM ops.thresholds
WHERE metric IN ('replication_lag_seconds', 'wal_receiver_streaming', 'replication_slot_retained_bytes',
                 'wal_archive_pending_segments');
UPDATE ops.thresholds SET description = 'WAL bytes the slowest replica has not replayed'
WHERE metric = 'replication_lag_bytes';
