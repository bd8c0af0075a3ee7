-- memory.default_session_expiry(): the default expires_at of a session memory, now() plus the
-- session_ttl in memory.settings (change the setting, not the table).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.default_session_expiry()
RETURNS timestamptz
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT now() + s.session_ttl FROM memory.settings AS s
$$;

COMMENT ON FUNCTION memory.default_session_expiry() IS 'now() + memory.settings.session_ttl';
REVOKE ALL ON FUNCTION memory.default_session_expiry() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.default_session_expiry() TO authenticated, service_role;
