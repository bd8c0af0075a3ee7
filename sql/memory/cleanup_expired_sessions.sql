-- memory.cleanup_expired_sessions(): deletes session memories past expires_at, and soft-deletes
-- long-term memories past theirs (they are purged later with the other deleted memories).
-- Returns how many rows of both kinds it removed.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.cleanup_expired_sessions()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_sessions integer;
    v_memories integer;
BEGIN
    DELETE FROM memory.session_memories AS s WHERE s.expires_at <= now();
    GET DIAGNOSTICS v_sessions = ROW_COUNT;
    UPDATE memory.memories AS m SET is_deleted = true, deleted_at = now()
    WHERE NOT m.is_deleted AND m.expires_at <= now();
    GET DIAGNOSTICS v_memories = ROW_COUNT;
    RETURN v_sessions + v_memories;
END
$$;

COMMENT ON FUNCTION memory.cleanup_expired_sessions() IS
    'Deletes expired session memories and soft-deletes expired memories; returns the count';
REVOKE ALL ON FUNCTION memory.cleanup_expired_sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.cleanup_expired_sessions() TO service_role;
