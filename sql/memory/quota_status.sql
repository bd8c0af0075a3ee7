-- memory.quota_status(): where a user stands: their plan, each operation's tokens now and its
-- limit, and their totals against the caps. An authenticated caller sees their own (the
-- user_id argument is ignored, as memory.quota_subject() does); service_role any user's. Nothing
-- is taken or written, so a client can show "n adds left" or wait before it is refused.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.quota_status(user_id text DEFAULT NULL)
RETURNS TABLE (plan text, operation text, tokens double precision, capacity integer,
               refill_per_second double precision, memories bigint, max_memories bigint, bytes bigint,
               max_bytes bigint, limited boolean)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH who AS (
        SELECT CASE WHEN current_setting('role') = 'authenticated' THEN app.current_user_id()
                    ELSE coalesce(quota_status.user_id, app.current_user_id()) END AS user_id
    ), plan AS (
        SELECT w.user_id, p.*, memory.quota_now() AS at,
               (SELECT s.enabled FROM memory.quota_settings AS s) AND memory.quota_subject(w.user_id) IS NOT NULL AS limited
        FROM who AS w JOIN memory.quota_plans AS p ON p.plan = memory.quota_plan(w.user_id)
        WHERE w.user_id IS NOT NULL
    )
    SELECT p.plan, l.operation::text,
           coalesce(memory.bucket_level(b.tokens, b.refreshed_at, l.capacity, l.refill_per_second, p.at), l.capacity),
           l.capacity, l.refill_per_second, coalesce(u.memories, 0), p.max_memories, coalesce(u.bytes, 0),
           p.max_bytes, p.limited
    FROM plan AS p
    LEFT JOIN memory.rate_limits AS l ON l.plan = p.plan
    LEFT JOIN memory.rate_buckets AS b ON b.user_id = p.user_id AND b.operation = l.operation
    LEFT JOIN memory.quota_usage AS u ON u.user_id = p.user_id
    ORDER BY l.operation
$$;

COMMENT ON FUNCTION memory.quota_status(text) IS
    'A user''s plan, tokens per operation and totals against the caps (one''s own for authenticated)';
REVOKE ALL ON FUNCTION memory.quota_status(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.quota_status(text) TO authenticated, service_role;
