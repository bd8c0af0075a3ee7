-- Row-level security of the memory tables: each user sees and changes only their own rows, through
-- every path (table, function, trigger). The identity is (select app.current_user_id()), which
-- runs once per query; NULL (no identity) matches no row. service_role bypasses RLS; anon has no
-- access. History is written by the history trigger as the acting user and is never changed.
ALTER TABLE memory.memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_history FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.session_memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.session_memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.settings FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users see their own memories" ON memory.memories;
CREATE POLICY "Users see their own memories" ON memory.memories
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users add their own memories" ON memory.memories;
CREATE POLICY "Users add their own memories" ON memory.memories
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users change their own memories" ON memory.memories;
CREATE POLICY "Users change their own memories" ON memory.memories
    FOR UPDATE TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users erase their own memories" ON memory.memories;
CREATE POLICY "Users erase their own memories" ON memory.memories
    FOR DELETE TO authenticated USING (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users see the history of their own memories" ON memory.memory_history;
CREATE POLICY "Users see the history of their own memories" ON memory.memory_history
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Changes to a user's memories are recorded as theirs" ON memory.memory_history;
CREATE POLICY "Changes to a user's memories are recorded as theirs" ON memory.memory_history
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users keep their own session memories" ON memory.session_memories;
CREATE POLICY "Users keep their own session memories" ON memory.session_memories
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Everyone with access may read the memory settings" ON memory.settings;
CREATE POLICY "Everyone with access may read the memory settings" ON memory.settings
    FOR SELECT TO authenticated, service_role USING (true);

-- Quotas: the plans, their limits and the switch are readable by everyone with access (a client
-- may show its limits); a user's plan, buckets and totals by that user (service_role bypasses).
ALTER TABLE memory.quota_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_plans FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_limits FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.user_quota_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.user_quota_plans FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_buckets FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_usage FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Everyone with access may read the quota plans" ON memory.quota_plans;
CREATE POLICY "Everyone with access may read the quota plans" ON memory.quota_plans
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the rate limits" ON memory.rate_limits;
CREATE POLICY "Everyone with access may read the rate limits" ON memory.rate_limits
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the quota settings" ON memory.quota_settings;
CREATE POLICY "Everyone with access may read the quota settings" ON memory.quota_settings
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Users see their own quota plan" ON memory.user_quota_plans;
CREATE POLICY "Users see their own quota plan" ON memory.user_quota_plans
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see their own rate buckets" ON memory.rate_buckets;
CREATE POLICY "Users see their own rate buckets" ON memory.rate_buckets
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see their own quota usage" ON memory.quota_usage;
CREATE POLICY "Users see their own quota usage" ON memory.quota_usage
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
