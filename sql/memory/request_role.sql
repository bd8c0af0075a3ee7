-- The role a request runs as, and whether row-level security lets it see every user's rows: the
-- one definition that memory.quota_subject() (whom to charge), memory.lookup_scope() (whose rows
-- an index lookup may read) and memory.import_restoring() (who may restore an export) share (0016).
-- The role is the `role` setting (SET ROLE / set_config('role', ...), as PostgREST and Supabase
-- set it), which a SECURITY DEFINER function does not change, else the login role. service_role,
-- superusers and BYPASSRLS roles see every row.
-- search_path is pinned (pg_catalog, extensions, pg_temp), so a caller's own search_path never
-- changes what a name means.
CREATE OR REPLACE FUNCTION memory.request_role()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE current_setting('role') WHEN 'none' THEN session_user::text ELSE current_setting('role') END
$$;

COMMENT ON FUNCTION memory.request_role() IS 'The role the request runs as: the role setting, else the login role';

CREATE OR REPLACE FUNCTION memory.request_bypasses_rls()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                   WHERE r.rolname = memory.request_role()
                     AND (r.rolname = 'service_role' OR r.rolsuper OR r.rolbypassrls))
$$;

COMMENT ON FUNCTION memory.request_bypasses_rls() IS
    'True when the request runs as service_role, a superuser or a BYPASSRLS role';

REVOKE ALL ON FUNCTION memory.request_role(), memory.request_bypasses_rls() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.request_role(), memory.request_bypasses_rls() TO authenticated, service_role;
