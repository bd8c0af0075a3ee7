-- 0007_replication: replication lag in bytes and seconds, from the primary and from a standby,
-- and the two other things that decide how much data a failure can lose: WAL held back by
-- replication slots, and WAL waiting to be archived. ops.replica_lag() (0004: bytes only, primary
-- only) is replaced by ops.replication_lag(); ops.database_health reports the new metrics, with
-- thresholds here. The functions and the view are also in sql/ops/, with the same text.

INSERT INTO ops.thresholds (metric, warning, critical, higher_is_worse, description) VALUES
    ('replication_lag_seconds', 30, 300, true, 'seconds the slowest replica (or this standby) is behind in replay'),
    ('wal_receiver_streaming', 0, 0, false, 'on a standby: 1 while WAL streams from the primary, 0 when it does not'),
    ('replication_slot_retained_bytes', 1073741824, 10737418240, true, 'WAL bytes the most demanding replication slot keeps on disk'),
    ('wal_archive_pending_segments', 5, 50, true, 'WAL files waiting to be archived (not yet recoverable from the archive)');
UPDATE ops.thresholds SET description = 'WAL bytes the slowest replica (or this standby) has not replayed'
WHERE metric = 'replication_lag_bytes';

-- ops.replication_lag(): how far replication is behind, in WAL bytes and in seconds, seen from the
-- side it runs on (one row).
--   On a primary: the slowest connected standby. Bytes from the current WAL position to its replay
--   position; seconds from its measured replay_lag (pg_stat_replication), 0 once it has replayed
--   everything (PostgreSQL shows NULL for an idle, caught-up standby).
--   On a standby: the WAL the primary has announced (pg_stat_wal_receiver.latest_end_lsn) that is
--   not replayed yet, and the time since the last replayed commit while received WAL waits to be
--   replayed (0 when everything received is replayed); streaming says whether WAL is arriving.
-- SECURITY DEFINER: PostgreSQL shows replication positions to privileged roles only. It returns
-- positions and times, no host, user or query.
CREATE OR REPLACE FUNCTION ops.replication_lag()
RETURNS TABLE (server_role text, replicas bigint, streaming boolean, lag_bytes numeric, lag_seconds numeric)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RETURN QUERY
        SELECT 'standby'::text,
               (SELECT count(*) FROM pg_catalog.pg_stat_replication),
               coalesce(w.status = 'streaming', false),
               greatest(pg_catalog.pg_wal_lsn_diff(
                            coalesce(w.latest_end_lsn, pg_catalog.pg_last_wal_receive_lsn()),
                            pg_catalog.pg_last_wal_replay_lsn()), 0),
               CASE WHEN pg_catalog.pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_catalog.pg_last_wal_replay_lsn()
                    THEN 0::numeric
                    ELSE round(extract(epoch FROM pg_catalog.now() - pg_catalog.pg_last_xact_replay_timestamp()), 3)
               END
        FROM (SELECT 1) AS one
        LEFT JOIN pg_catalog.pg_stat_wal_receiver AS w ON true;
    ELSE
        RETURN QUERY
        SELECT 'primary'::text,
               count(*),
               coalesce(bool_and(r.state = 'streaming'), false),
               max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn)),
               max(CASE WHEN r.replay_lsn >= pg_catalog.pg_current_wal_lsn() THEN 0::numeric
                        ELSE round(extract(epoch FROM r.replay_lag), 3) END)
        FROM pg_catalog.pg_stat_replication AS r;
    END IF;
END
$$;

COMMENT ON FUNCTION ops.replication_lag() IS
    'Replication lag in WAL bytes and seconds: the slowest standby on a primary, this server on a standby';
REVOKE ALL ON FUNCTION ops.replication_lag() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.replication_lag() TO service_role;

-- ops.replication_slots(): the WAL that replication slots hold back. A slot keeps every WAL file
-- its consumer has not confirmed, so a standby that is gone but whose slot remains fills the disk
-- of the primary; this is the number to watch (the largest retention, and how many slots are
-- inactive).
CREATE OR REPLACE FUNCTION ops.replication_slots()
RETURNS TABLE (slots bigint, inactive bigint, max_retained_bytes numeric)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*),
           count(*) FILTER (WHERE NOT s.active),
           max(pg_catalog.pg_wal_lsn_diff(
                   CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
                        ELSE pg_catalog.pg_current_wal_lsn() END,
                   s.restart_lsn))
    FROM pg_catalog.pg_replication_slots AS s
$$;

COMMENT ON FUNCTION ops.replication_slots() IS
    'Replication slots, how many are inactive, and the most WAL one of them retains (bytes)';
REVOKE ALL ON FUNCTION ops.replication_slots() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.replication_slots() TO service_role;

-- ops.wal_archiving(): continuous archiving, for point-in-time recovery. pending_segments counts
-- the WAL files waiting for archive_command / archive_library (their .ready files): while the
-- archiver fails, it grows, and everything in those files is missing from the archive. The counts
-- and the last failure come from pg_stat_archiver. SECURITY DEFINER: listing pg_wal/archive_status
-- is for privileged roles; only file names and counts are returned.
CREATE OR REPLACE FUNCTION ops.wal_archiving()
RETURNS TABLE (archive_mode text, pending_segments bigint, archived_count bigint, failed_count bigint,
               last_archived_wal text, last_archived_at timestamptz, last_failed_wal text, last_failed_at timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.current_setting('archive_mode'),
           (SELECT count(*) FROM pg_catalog.pg_ls_archive_statusdir() AS f WHERE f.name LIKE '%.ready'),
           a.archived_count, a.failed_count, a.last_archived_wal, a.last_archived_time,
           a.last_failed_wal, a.last_failed_time
    FROM pg_catalog.pg_stat_archiver AS a
$$;

COMMENT ON FUNCTION ops.wal_archiving() IS
    'WAL archiving: mode, segments waiting to be archived, archived and failed counts, last success and failure';
REVOKE ALL ON FUNCTION ops.wal_archiving() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.wal_archiving() TO service_role;

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

-- ops.replica_lag() was only ever read by ops.database_health (service_role's, replaced above by
-- ops.replication_lag(), which adds seconds and the standby's side); no application role could
-- call it.
-- squawk-ignore ban-drop-function
DROP FUNCTION ops.replica_lag();
