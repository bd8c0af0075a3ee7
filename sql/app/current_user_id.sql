-- app.current_user_id(): the id of the user the current request acts for, as text.
-- The transaction-local setting app.user_id (set_config('app.user_id', id, true)) wins; else the
-- `sub` claim of request.jwt.claims, which PostgREST and Supabase set per request. Unset or empty
-- gives NULL, and a policy comparing a column with NULL matches no row: fail closed.
-- Policies call it as (select app.current_user_id()) so that it runs once per query.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION app.current_user_id()
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce(
        nullif(current_setting('app.user_id', true), ''),
        nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '')
    )
$$;

COMMENT ON FUNCTION app.current_user_id() IS
    'User id of this request: app.user_id, else the sub of request.jwt.claims; NULL (no rows) when unset';
REVOKE ALL ON FUNCTION app.current_user_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.current_user_id() TO anon, authenticated, service_role;
