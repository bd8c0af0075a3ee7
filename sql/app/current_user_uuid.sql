-- app.current_user_uuid(): app.current_user_id() as a uuid, for the tables keyed by app.users(id).
-- An identity that is not a uuid (memory.user_id accepts any external id) matches no app row:
-- NULL, not an error, so policies fail closed.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION app.current_user_uuid()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE WHEN app.current_user_id() ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN app.current_user_id()::uuid END
$$;

COMMENT ON FUNCTION app.current_user_uuid() IS
    'app.current_user_id() as uuid; NULL when unset or not a uuid (no rows)';
REVOKE ALL ON FUNCTION app.current_user_uuid() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.current_user_uuid() TO anon, authenticated, service_role;
