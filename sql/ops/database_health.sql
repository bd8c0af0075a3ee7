-- ops.database_health: one row per health metric of the current database, with its value, the
-- thresholds from ops.thresholds, and a status ok / warning / critical. Replication lag (bytes and
-- seconds, from ops.replication_lag()) appears on a primary with connected replicas and on a
-- standby, which also says whether WAL is streaming in; the WAL held by replication slots when
-- slots exist; the WAL waiting to be archived when archiving is on; the cache hit ratio once
-- 10,000 blocks were read (NULL and ok before: a young database has read little). Session states
-- come from ops.session_states(); the view shows counts and ages only, never query text or user
-- data, and only service_role may read it.
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
    SELECT v.metric AS metric, v.value AS value,
           CASE WHEN r.server_role = 'standby' THEN 'this server is a standby'
                ELSE r.replicas || ' replica(s)' END AS detail
    FROM ops.replication_lag() AS r
    CROSS JOIN LATERAL (VALUES ('replication_lag_bytes', r.lag_bytes),
                               ('replication_lag_seconds', r.lag_seconds)) AS v(metric, value)
    WHERE r.server_role = 'standby' OR r.replicas > 0
    UNION ALL
    SELECT 'wal_receiver_streaming' AS metric, CASE WHEN r.streaming THEN 1 ELSE 0 END::numeric AS value,
           CASE WHEN r.streaming THEN 'WAL is streaming from the primary'
                ELSE 'no WAL is arriving: the primary is unreachable or replication stopped' END AS detail
    FROM ops.replication_lag() AS r
    WHERE r.server_role = 'standby'
    UNION ALL
    SELECT 'replication_slot_retained_bytes' AS metric, s.max_retained_bytes AS value,
           s.slots || ' slot(s), ' || s.inactive || ' inactive' AS detail
    FROM ops.replication_slots() AS s
    WHERE s.slots > 0
    UNION ALL
    SELECT 'wal_archive_pending_segments' AS metric, w.pending_segments::numeric AS value,
           w.archived_count || ' archived, ' || w.failed_count || ' failed'
             || coalesce(', last failure ' || w.last_failed_wal || ' at ' || w.last_failed_at, '') AS detail
    FROM ops.wal_archiving() AS w
    WHERE w.archive_mode <> 'off'
)
SELECT m.metric, m.value, t.warning, t.critical,
       CASE WHEN t.higher_is_worse AND m.value >= t.critical THEN 'critical'
            WHEN t.higher_is_worse AND m.value >= t.warning THEN 'warning'
            WHEN NOT t.higher_is_worse AND m.value <= t.critical THEN 'critical'
            WHEN NOT t.higher_is_worse AND m.value <= t.warning THEN 'warning'
            ELSE 'ok' END AS status,
       m.detail, t.description
FROM metrics AS m JOIN ops.thresholds AS t USING (metric);

COMMENT ON VIEW ops.database_health IS 'Health metrics of this database with status ok / warning / critical (thresholds in ops.thresholds)';
