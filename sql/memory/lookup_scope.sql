-- memory.lookup_scope(user_id): the user whose rows a SECURITY DEFINER index lookup may read for
-- this caller, as row-level security would decide it: for authenticated (and any role other than
-- the ones below) the given user only when it is the caller's own identity
-- (app.current_user_id()), else NULL; for service_role, superusers and BYPASSRLS roles the given
-- user. The role is memory.request_role()'s (request_role.sql): the `role` setting, which a
-- SECURITY DEFINER function does not change. The lookups that need it:
-- entity_lookup.sql, and memory.full_text_candidates() (0015): under row-level security
-- PostgreSQL evaluates a query's own conditions after the policy's unless their operators are
-- LEAKPROOF, so the operators of those indexes (&& and @> on text[], pg_trgm's %, @@) cannot be
-- index conditions for the application's role.
-- search_path is pinned (pg_catalog, extensions, pg_temp), so a caller's own search_path never
-- changes what a name means.
CREATE OR REPLACE FUNCTION memory.lookup_scope(user_id text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF memory.request_bypasses_rls() THEN  -- request_role.sql
        RETURN lookup_scope.user_id;
    END IF;
    RETURN CASE WHEN lookup_scope.user_id = app.current_user_id() THEN lookup_scope.user_id END;
END
$$;

COMMENT ON FUNCTION memory.lookup_scope(text) IS
    'The user whose rows the caller may look up: its own identity (authenticated), any user (service_role); else NULL';

REVOKE ALL ON FUNCTION memory.lookup_scope(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.lookup_scope(text) TO authenticated, service_role;
