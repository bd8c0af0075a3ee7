-- Rollback of 0012_entities: drops the entity tables, views and functions, restores add_memory
-- and hybrid_search_memories as 0011 left them, and drops btree_gist and btree_gin where 0012
-- created them.
SET LOCAL search_path = pg_catalog, extensions, public;

DROP FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb);
DROP FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision);
DROP TRIGGER entities_30_history ON memory.entities;
DROP TRIGGER memory_entities_10_check ON memory.memory_entities;
DROP TRIGGER entity_relations_10_prepare ON memory.entity_relations;
DROP TRIGGER relation_kinds_10_guard ON memory.relation_kinds;
DROP TRIGGER interactions_20_counters ON memory.interactions;
DROP VIEW memory.current_facts;
DROP FUNCTION memory.lookup_scope(text);
DROP FUNCTION memory.entities_named(text, text[], text);
DROP FUNCTION memory.entities_like(text, text, text, integer, real);
DROP FUNCTION memory.entities_matching(text, tsquery, text, integer);
DROP FUNCTION memory.entity_lock_key(text, text);
DROP FUNCTION memory.check_entity_name(text, text);
DROP FUNCTION memory.check_entity_type(text, text);
DROP FUNCTION memory.check_entity_fields(text[], jsonb, jsonb, double precision, vector, text, text);
DROP FUNCTION memory.resolve_entity(text, text, text, text[], vector);
DROP FUNCTION memory.merge_aliases(text[], text, text[], integer, text);
DROP FUNCTION memory.insert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text);
DROP FUNCTION memory.upsert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text);
DROP FUNCTION memory.entity_snapshot(memory.entities);
DROP FUNCTION memory.record_entity_history();
DROP FUNCTION memory.entity_history_of(uuid);
DROP FUNCTION memory.live_entity_id(uuid);
DROP FUNCTION memory.get_entity(uuid);
DROP FUNCTION memory.list_entities(text, text, text, uuid, integer);
DROP FUNCTION memory.delete_entity(uuid);
DROP FUNCTION memory.restore_entity(uuid);
DROP FUNCTION memory.memories_of_entity(uuid, text, timestamptz, uuid, integer);
DROP FUNCTION memory.check_memory_entity_link();
DROP FUNCTION memory.entity_references(jsonb, text);
DROP FUNCTION memory.link_entities(uuid, jsonb);
DROP FUNCTION memory.unlink_entity(uuid, uuid, text);
DROP FUNCTION memory.fact_key(text, uuid, text);
DROP FUNCTION memory.prepare_entity_relation();
DROP FUNCTION memory.guard_relation_kind();
DROP FUNCTION memory.assert_fact(uuid, text, uuid, text, text, timestamptz, timestamptz, uuid, vector);
DROP FUNCTION memory.retract_fact(uuid);
DROP FUNCTION memory.entity_facts(uuid, timestamptz, boolean);
DROP FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]);
DROP FUNCTION memory.refresh_interaction_counters(uuid, integer);
DROP FUNCTION memory.count_interactions();
DROP FUNCTION memory.record_interaction(uuid, text, timestamptz, text, jsonb, uuid[]);
DROP FUNCTION memory.list_interactions(text, uuid, timestamptz, uuid, integer);
DROP FUNCTION memory.merge_entities(uuid, uuid);
DROP FUNCTION memory.unmerge_entity(uuid);
DROP FUNCTION memory.rrf_share(double precision, integer, bigint);
DROP FUNCTION memory.entity_boost_weight(bigint);
DROP FUNCTION memory.extract_entity_names(text);
DROP FUNCTION memory.query_entities(text, text);
DROP FUNCTION memory.search_entities(text, vector, text, text, integer);
DROP TABLE memory.interaction_memories;
DROP TABLE memory.interactions;
DROP TABLE memory.entity_relations;
DROP TABLE memory.memory_entities;
DROP TABLE memory.entity_history;
DROP TABLE memory.entities;
DROP TABLE memory.entity_resolution_settings;
DROP TABLE memory.relation_kinds;
DROP TABLE memory.entity_types;
DROP FUNCTION memory.normalize_entity_name(text);
DROP FUNCTION memory.entity_name_keys(text, text, text[]);
DROP FUNCTION memory.entity_name_key(text, text);
DROP FUNCTION memory.entity_names_text(text, text[]);

DO $$
DECLARE
    v_extension text;
BEGIN
    FOR v_extension IN SELECT c.name FROM mempg.extensions_created AS c WHERE c.created_by = '0012_entities' LOOP
        EXECUTE format('DROP EXTENSION %I', v_extension);
    END LOOP;
END
$$;
DROP TABLE mempg.extensions_created;

-- sql/memory/add_memory.sql as 0011 left it
-- memory.add_memory(): Mem0's add, in SQL. Inserts through the deduplication trigger and returns
-- what happened: ADD (a new memory), or NOOP, UPDATE or MERGE of the existing memory it matched.
-- Every argument is checked by the row trigger (memories_10_normalize) before deduplication
-- decides anything, whatever the outcome; the embedding's dimension is checked before the INSERT,
-- and expires_at must lie in the future.
-- Under REPEATABLE READ and SERIALIZABLE, two transactions adding the same new memory at once
-- cannot see each other's row: the second one's insert meets the first one's committed row in the
-- unique index. It gets 40001 (serialization failure: retry the transaction, which then finds the
-- memory: NOOP), not 23505; the subtransaction this takes exists only at those levels.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.add_memory(
    user_id text,
    memory text,
    embedding vector,
    metadata jsonb DEFAULT '{}',
    categories text[] DEFAULT '{}',
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    memory_type text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_constraint text;
BEGIN
    -- checked here too: the INSERT casts to the column's vector(D) before any trigger could
    PERFORM memory.check_embedding(add_memory.embedding, 'embedding');
    IF add_memory.expires_at IS NOT NULL AND add_memory.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', add_memory.expires_at USING ERRCODE = '22023';
    END IF;

    PERFORM memory.set_dedup_outcome(NULL, NULL);
    IF current_setting('transaction_isolation') = 'read committed' THEN
        PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                     add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                     add_memory.run_id, add_memory.memory_type, add_memory.expires_at);
    ELSE
        BEGIN
            PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                         add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                         add_memory.run_id, add_memory.memory_type, add_memory.expires_at);
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            IF v_constraint <> 'memories_live_text_unique' THEN
                RAISE;
            END IF;
            RAISE EXCEPTION 'a concurrent transaction added the same memory after this transaction''s snapshot was taken'
                USING ERRCODE = '40001', HINT = 'retry the transaction: the memory is then found (NOOP)';
        END;
    END IF;

    RETURN QUERY SELECT * FROM memory.dedup_outcome();
END
$$;

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';

-- memory.insert_memory(): the one INSERT behind add_memory; NULL when deduplication cancelled it.
CREATE OR REPLACE FUNCTION memory.insert_memory(
    user_id text, memory text, embedding vector, metadata jsonb, categories text[], agent_id text,
    run_id text, memory_type text, expires_at timestamptz)
RETURNS uuid
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    INSERT INTO memory.memories AS m (user_id, memory, embedding, metadata, categories, agent_id, run_id,
                                      memory_type, expires_at)
    VALUES (insert_memory.user_id, insert_memory.memory, insert_memory.embedding,
            coalesce(insert_memory.metadata, '{}'), coalesce(insert_memory.categories, '{}'),
            insert_memory.agent_id, insert_memory.run_id, insert_memory.memory_type, insert_memory.expires_at)
    RETURNING m.id
$$;

COMMENT ON FUNCTION memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) IS
    'INSERT of one memory through the triggers; its id, or NULL when deduplication cancelled it';
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz)
    TO authenticated, service_role;

-- sql/memory/hybrid_search_memories.sql as 0011 left it
-- memory.hybrid_search_memories(): the vector ranking of memory.vector_candidates() (what
-- search_memories returns) and the any-term full-text ranking of memory.full_text_candidates(),
-- fused in one statement; the arguments and the scope are checked once, here.
-- Each side contributes its best candidate_depth memories (default 20, at least match_count).
-- fusion 'rrf' (reciprocal rank fusion): weight / (rrf_k + rank) per side, summed; a memory found
-- by one side only gets that side's share. fusion 'weighted': each side's scores are min-max
-- normalised over its candidates (the best is 1, the last 0; a lone candidate 1), then averaged
-- with the two weights. The defaults (rrf, rrf_k 10, equal weights, depth 20) are the best of
-- the measured grid on the development conversations (docs/memory.md, "Retrieval quality").
-- Both ranks and the fused score are returned, with the cosine similarity of every row.
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked
-- (PGRST, HTTP 429, when empty); its vector side is not charged again as a search.
-- Each side returns the columns of its rows itself, so the fusion joins the two candidate lists
-- only, never the whole table. Its plan does not depend on the values: a generic one
-- (plan_cache_mode), not planned anew on every call.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.hybrid_search_memories(
    query_text text,
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 10,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    full_text_weight double precision DEFAULT 1,
    semantic_weight double precision DEFAULT 1,
    rrf_k integer DEFAULT 10,
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    filters jsonb DEFAULT NULL,
    created_within tstzrange DEFAULT NULL,
    updated_within tstzrange DEFAULT NULL,
    fusion text DEFAULT 'rrf',
    candidate_depth integer DEFAULT 20)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_depth integer;
    v_scope memory.search_scope;
BEGIN
    PERFORM memory.check_query_text(hybrid_search_memories.query_text);
    PERFORM memory.check_embedding(hybrid_search_memories.query_embedding, 'query_embedding');
    PERFORM memory.check_label(hybrid_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
    PERFORM memory.check_count(hybrid_search_memories.candidate_depth, 'candidate_depth');
    PERFORM memory.check_filters(hybrid_search_memories.metadata_filter, hybrid_search_memories.category_filter);
    IF NOT coalesce(hybrid_search_memories.full_text_weight BETWEEN 0 AND 1000000
                    AND hybrid_search_memories.semantic_weight BETWEEN 0 AND 1000000
                    AND hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight > 0, false) THEN
        RAISE EXCEPTION 'full_text_weight and semantic_weight must be between 0 and 1000000 and not both 0, got % and %',
            coalesce(hybrid_search_memories.full_text_weight::text, 'NULL'),
            coalesce(hybrid_search_memories.semantic_weight::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF hybrid_search_memories.rrf_k IS NULL OR hybrid_search_memories.rrf_k < 1 THEN
        RAISE EXCEPTION 'rrf_k must be at least 1, got %', coalesce(hybrid_search_memories.rrf_k::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF hybrid_search_memories.fusion IS NULL OR hybrid_search_memories.fusion NOT IN ('rrf', 'weighted') THEN
        RAISE EXCEPTION 'fusion must be ''rrf'' or ''weighted'', got %', coalesce(hybrid_search_memories.fusion, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    v_scope := memory.search_scope(hybrid_search_memories.agent_id, hybrid_search_memories.run_id,
                                   hybrid_search_memories.filters, hybrid_search_memories.created_within,
                                   hybrid_search_memories.updated_within);
    PERFORM memory.take_token('hybrid_search', hybrid_search_memories.query_user_id);  -- rate limit: rate_limits.sql
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_depth := greatest(hybrid_search_memories.candidate_depth, hybrid_search_memories.match_count);

    RETURN QUERY
    WITH semantic AS (
        SELECT s.id, s.memory, s.metadata, s.categories, s.similarity, s.created_at, s.updated_at,
               row_number() OVER (ORDER BY s.similarity DESC, s.id) AS rank,
               s.similarity AS raw_score
        FROM memory.vector_candidates(hybrid_search_memories.query_embedding, hybrid_search_memories.query_user_id,
                                      v_depth, hybrid_search_memories.metadata_filter, v_categories, 0,
                                      v_scope) AS s
    ), full_text AS (
        SELECT f.id, f.memory, f.metadata, f.categories, f.similarity, f.created_at, f.updated_at,
               row_number() OVER (ORDER BY f.text_score DESC, f.updated_at DESC, f.id) AS rank,
               f.text_score AS raw_score
        FROM memory.full_text_candidates(hybrid_search_memories.query_text, hybrid_search_memories.query_embedding,
                                         hybrid_search_memories.query_user_id, v_depth,
                                         hybrid_search_memories.metadata_filter, v_categories, v_scope) AS f
    ), normalised AS (
        SELECT se.*, coalesce((se.raw_score - min(se.raw_score) OVER ())
                              / nullif(max(se.raw_score) OVER () - min(se.raw_score) OVER (), 0), 1) AS norm
        FROM semantic AS se
    ), normalised_text AS (
        SELECT ft.*, coalesce((ft.raw_score - min(ft.raw_score) OVER ())
                              / nullif(max(ft.raw_score) OVER () - min(ft.raw_score) OVER (), 0), 1) AS norm
        FROM full_text AS ft
    )
    SELECT coalesce(se.id, ft.id), coalesce(se.memory, ft.memory), coalesce(se.metadata, ft.metadata),
           coalesce(se.categories, ft.categories), coalesce(se.similarity, ft.similarity),
           ft.rank, se.rank,
           CASE hybrid_search_memories.fusion
               WHEN 'rrf' THEN
                   coalesce(hybrid_search_memories.full_text_weight / (hybrid_search_memories.rrf_k + ft.rank), 0)
                   + coalesce(hybrid_search_memories.semantic_weight / (hybrid_search_memories.rrf_k + se.rank), 0)
               ELSE (hybrid_search_memories.full_text_weight * coalesce(ft.norm, 0)
                     + hybrid_search_memories.semantic_weight * coalesce(se.norm, 0))
                    / (hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight)
           END AS fused,
           coalesce(se.created_at, ft.created_at), coalesce(se.updated_at, ft.updated_at)
    FROM normalised AS se
    FULL JOIN normalised_text AS ft ON ft.id = se.id
    ORDER BY fused DESC, coalesce(se.id, ft.id)
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank or weighted scores, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer)
    TO authenticated, service_role;
