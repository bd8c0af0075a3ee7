-- The advisory lock key of one deduplication scope (user, agent). Two scopes may share a key by
-- hash collision; that only makes them wait for each other, never merge.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.scope_lock_key(user_id text, agent_id text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT hashtextextended('memory.scope' || chr(31) || scope_lock_key.user_id || chr(31)
                            || coalesce(scope_lock_key.agent_id, ''), 0)
$$;

COMMENT ON FUNCTION memory.scope_lock_key(text, text) IS
    'Advisory lock key that serialises deduplicating writers of one user and agent';
REVOKE ALL ON FUNCTION memory.scope_lock_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_lock_key(text, text) TO authenticated, service_role;
