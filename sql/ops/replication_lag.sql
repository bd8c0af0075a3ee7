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
