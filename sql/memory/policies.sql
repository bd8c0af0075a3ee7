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

-- Entities (0012): the kinds and the resolution settings are readable by everyone with access
-- and changed by service_role; entities, their history, links, facts and interactions belong
-- to one user each, as memories do.
ALTER TABLE memory.entity_types ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_types FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.relation_kinds ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.relation_kinds FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_resolution_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_resolution_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entities FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_history FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_entities FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_relations ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_relations FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.interactions FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.interaction_memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.interaction_memories FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Everyone with access may read the entity types" ON memory.entity_types;
CREATE POLICY "Everyone with access may read the entity types" ON memory.entity_types
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the relation kinds" ON memory.relation_kinds;
CREATE POLICY "Everyone with access may read the relation kinds" ON memory.relation_kinds
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the entity resolution settings" ON memory.entity_resolution_settings;
CREATE POLICY "Everyone with access may read the entity resolution settings" ON memory.entity_resolution_settings
    FOR SELECT TO authenticated, service_role USING (true);

DROP POLICY IF EXISTS "Users keep their own entities" ON memory.entities;
CREATE POLICY "Users keep their own entities" ON memory.entities
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see the history of their own entities" ON memory.entity_history;
CREATE POLICY "Users see the history of their own entities" ON memory.entity_history
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Changes to a user's entities are recorded as theirs" ON memory.entity_history;
CREATE POLICY "Changes to a user's entities are recorded as theirs" ON memory.entity_history
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the entity links of their own memories" ON memory.memory_entities;
CREATE POLICY "Users keep the entity links of their own memories" ON memory.memory_entities
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the facts about their own entities" ON memory.entity_relations;
CREATE POLICY "Users keep the facts about their own entities" ON memory.entity_relations
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep their own interactions" ON memory.interactions;
CREATE POLICY "Users keep their own interactions" ON memory.interactions
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the memories of their own interactions" ON memory.interaction_memories;
CREATE POLICY "Users keep the memories of their own interactions" ON memory.interaction_memories
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

-- Imports (0016): runs and their source map are the runner's bookkeeping, for service_role only
-- (no policy for authenticated: no rows); a user keeps their own pending (not yet embedded)
-- memories, and may read and remove them.
ALTER TABLE memory.import_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.import_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.import_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.import_sources FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.pending_memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.pending_memories FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "Imports are kept by service_role" ON memory.import_runs;
CREATE POLICY "Imports are kept by service_role" ON memory.import_runs
    FOR ALL TO service_role USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS "Imported records are kept by service_role" ON memory.import_sources;
CREATE POLICY "Imported records are kept by service_role" ON memory.import_sources
    FOR ALL TO service_role USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS "Users keep their own pending memories" ON memory.pending_memories;
CREATE POLICY "Users keep their own pending memories" ON memory.pending_memories
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
