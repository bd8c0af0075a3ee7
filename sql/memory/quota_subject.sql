-- memory.quota_subject(): whom an operation is charged to, or NULL when it is not limited. The
-- quotas (rate_limits.sql, quota_usage.sql) ask it first. It reads the role the request runs as
-- from the `role` setting (SET ROLE / set_config('role', ...), as PostgREST and Supabase do), which
-- a SECURITY DEFINER function does not change, else the login role:
--   authenticated (and anon): the request's own identity, app.current_user_id(), never an
--     argument, so one user cannot spend another user's tokens; NULL (no identity) is not charged:
--     row-level security already gives such a request no rows and refuses its writes;
--   service_role: not limited, unless memory.quota_settings.limit_service_role, then charged to
--     the user it acts for (the user_id argument, or the row's owner), on that user's plan;
--   a superuser or another BYPASSRLS role (the owner, migrations, restores): never limited;
--   any other role: like authenticated (fail closed).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.quota_subject(user_id text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_role text := memory.request_role();  -- request_role.sql
BEGIN
    IF v_role = 'authenticated' THEN
        RETURN app.current_user_id();
    END IF;
    IF v_role = 'service_role' THEN
        RETURN CASE WHEN (SELECT s.limit_service_role FROM memory.quota_settings AS s) THEN quota_subject.user_id END;
    END IF;
    IF memory.request_bypasses_rls() THEN
        RETURN NULL;
    END IF;
    RETURN app.current_user_id();
END
$$;

COMMENT ON FUNCTION memory.quota_subject(text) IS
    'The user an operation is charged to (the caller''s identity; for service_role the given user when limit_service_role), NULL when not limited';

-- memory.quota_plan(): the plan of a user: their row in memory.user_quota_plans, else the default.
CREATE OR REPLACE FUNCTION memory.quota_plan(user_id text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce((SELECT p.plan FROM memory.user_quota_plans AS p WHERE p.user_id = quota_plan.user_id),
                    (SELECT s.default_plan FROM memory.quota_settings AS s))
$$;

COMMENT ON FUNCTION memory.quota_plan(text) IS 'The quota plan of a user: memory.user_quota_plans, else quota_settings.default_plan';

-- memory.quota_now(): the time buckets refill by: quota_settings.clock_override when set (tests,
-- drills: only service_role can set it, so no user can move their own clock), else the clock.
CREATE OR REPLACE FUNCTION memory.quota_now()
RETURNS timestamptz
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce((SELECT s.clock_override FROM memory.quota_settings AS s), clock_timestamp())
$$;

COMMENT ON FUNCTION memory.quota_now() IS 'Time of the rate limits: quota_settings.clock_override, else clock_timestamp()';

-- memory.bucket_level(): the tokens a bucket holds at `at`: what it held when last refreshed,
-- plus refill_per_second for each second since (never for time going backwards), at most its
-- capacity. The one definition of the refill, for take_token(), the ops view and quota_status().
-- No SET clause, so the planner inlines it: its body uses built-ins only.
CREATE OR REPLACE FUNCTION memory.bucket_level(tokens double precision, refreshed_at timestamptz, capacity integer,
                                               refill_per_second double precision, at timestamptz)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT least(bucket_level.capacity::double precision,
                 bucket_level.tokens + bucket_level.refill_per_second
                     * greatest(0, extract(epoch FROM bucket_level.at - bucket_level.refreshed_at)::double precision))
$$;

COMMENT ON FUNCTION memory.bucket_level(double precision, timestamptz, integer, double precision, timestamptz) IS
    'Tokens of a bucket at a time: tokens + refill per second elapsed, at most capacity';

REVOKE ALL ON FUNCTION memory.quota_subject(text), memory.quota_plan(text), memory.quota_now(),
    memory.bucket_level(double precision, timestamptz, integer, double precision, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.quota_subject(text), memory.quota_plan(text), memory.quota_now(),
    memory.bucket_level(double precision, timestamptz, integer, double precision, timestamptz)
    TO authenticated, service_role;
