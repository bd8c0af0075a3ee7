-- ops.session_states(): the part of pg_stat_activity that health checks need. PostgreSQL shows
-- other sessions' state only to privileged roles, so this is SECURITY DEFINER; it returns no
-- query text, user or client address, only states and times, to service_role only. (Replication
-- is measured by ops.replication_lag(), in replication_lag.sql.)
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

REVOKE ALL ON FUNCTION ops.session_states() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.session_states() TO service_role;
