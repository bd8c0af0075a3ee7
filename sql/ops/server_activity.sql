-- ops.session_states() and ops.replica_lag(): the parts of pg_stat_activity and
-- pg_stat_replication that health checks need. PostgreSQL shows other sessions' state and the
-- replicas' positions only to privileged roles, so these are SECURITY DEFINER; they return no
-- query text, user or client address, only states and times, to service_role only.
CREATE OR REPLACE FUNCTION ops.session_states()
RETURNS TABLE (backend_type text, state text, query_start timestamptz, state_change timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.backend_type, a.state, a.query_start, a.state_change
    FROM pg_catalog.pg_stat_activity AS a
    WHERE a.pid <> pg_catalog.pg_backend_pid()
$$;

COMMENT ON FUNCTION ops.session_states() IS 'Every other session''s type, state and times (no query text), for health checks';

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
REVOKE ALL ON FUNCTION ops.session_states(), ops.replica_lag() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.session_states(), ops.replica_lag() TO service_role;
