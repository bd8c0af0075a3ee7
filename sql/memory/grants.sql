-- Table privileges of the memory schema. authenticated works through row-level security;
-- service_role (BYPASSRLS) runs jobs; anon gets nothing. History is append-only for everyone,
-- and settings change only by service_role.
REVOKE ALL ON memory.memories, memory.memory_history, memory.session_memories, memory.settings FROM PUBLIC, anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.memories, memory.session_memories TO authenticated, service_role;
GRANT SELECT, INSERT ON memory.memory_history TO authenticated, service_role;
GRANT DELETE ON memory.memory_history TO service_role;
GRANT SELECT ON memory.settings TO authenticated, service_role;
GRANT UPDATE ON memory.settings TO service_role;
GRANT USAGE ON SEQUENCE memory.memory_history_id_seq TO authenticated, service_role;
-- Quotas and rate limits (quota_usage.sql, rate_limits.sql): plans, limits, assignments and the
-- switch change by service_role only; buckets and totals are written by the quota functions as
-- their owner, and authenticated reads its own rows (memory.quota_status()). service_role may
-- reset a bucket or a total by hand, and reads the refusal counters (ops.quota_refusals).
REVOKE ALL ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans, memory.quota_settings,
    memory.rate_buckets, memory.quota_usage FROM PUBLIC, anon;
GRANT SELECT ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans, memory.quota_settings,
    memory.rate_buckets, memory.quota_usage TO authenticated, service_role;
GRANT INSERT, UPDATE, DELETE ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans,
    memory.rate_buckets, memory.quota_usage TO service_role;
GRANT UPDATE ON memory.quota_settings TO service_role;
GRANT SELECT ON SEQUENCE memory.quota_refusals_rate_add, memory.quota_refusals_rate_update,
    memory.quota_refusals_rate_delete, memory.quota_refusals_rate_search, memory.quota_refusals_rate_hybrid_search,
    memory.quota_refusals_cap_add, memory.quota_refusals_cap_update TO service_role;
-- Entities (0012): the kinds and resolution settings change by service_role only; history is
-- append-only, as memory_history is.
REVOKE ALL ON memory.entity_types, memory.relation_kinds, memory.entity_resolution_settings, memory.entities,
    memory.entity_history, memory.memory_entities, memory.entity_relations, memory.interactions,
    memory.interaction_memories, memory.current_facts FROM PUBLIC, anon;
GRANT SELECT ON memory.entity_types, memory.relation_kinds, memory.entity_resolution_settings
    TO authenticated, service_role;
GRANT INSERT, UPDATE, DELETE ON memory.entity_types, memory.relation_kinds TO service_role;
GRANT UPDATE ON memory.entity_resolution_settings TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.entities, memory.memory_entities, memory.entity_relations,
    memory.interactions, memory.interaction_memories TO authenticated, service_role;
GRANT SELECT, INSERT ON memory.entity_history TO authenticated, service_role;
GRANT DELETE ON memory.entity_history TO service_role;
GRANT SELECT ON memory.current_facts TO authenticated, service_role;
-- Imports (0016): the runner's bookkeeping is service_role's; users see and remove their own
-- pending memories and embed them with memory.embed_pending_memory().
REVOKE ALL ON memory.import_runs, memory.import_sources, memory.pending_memories FROM PUBLIC, anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.import_runs, memory.import_sources, memory.pending_memories
    TO service_role;
GRANT SELECT, DELETE ON memory.pending_memories TO authenticated;
GRANT USAGE ON SEQUENCE memory.import_runs_id_seq TO service_role;
