-- memory.hybrid_search_memories(): the vector ranking of memory.vector_candidates() (what
-- search_memories returns) and the any-term full-text ranking of memory.full_text_candidates(),
-- fused in one statement; the arguments and the scope are checked once, here.
-- The full-text side contributes its best candidate_depth memories (default 20), the vector side
-- its best semantic_depth (default 10), each at least match_count. The vector side costs more
-- per candidate (an iterative HNSW scan walks about depth / the user's share of the table rows),
-- so at 10 the hybrid's vector side is exactly search_memories' own work; at 20 it cost 0.01 of
-- recall@10 less and a second HNSW pass for a heavy user (docs/memory.md, "Fusion").
-- fusion 'rrf' (reciprocal rank fusion): weight / (rrf_k + rank) per side, summed; a memory found
-- by one side only gets that side's share. fusion 'weighted': each side's scores are min-max
-- normalised over its candidates (the best is 1, the last 0; a lone candidate 1), then averaged
-- with the two weights. The formulas are defined once, in fusion.sql (agent.unified_search
-- fuses the same way). The defaults (rrf, rrf_k 10, equal weights, depths 20 and 10) were
-- measured on the development conversations (docs/memory.md, "Fusion").
-- Both ranks and the fused score are returned, with the cosine similarity of every row.
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked
-- (PGRST, HTTP 429, when empty); its vector side is not charged again as a search.
-- entity_weight (from 0012; default 0, off) boosts the candidates linked to entities the query
-- names (memory.query_entities: exact names or aliases among its word n-grams, at most 8, the
-- most selective first). A candidate's boost is the sum, over those entities, of
-- memory.entity_boost_weight(links) (Mem0's damping: an entity on every memory adds nothing);
-- 'rrf' adds entity_weight x boost / (rrf_k + 1), what a first rank in a third ranking would add,
-- 'weighted' averages entity_weight x min(boost, 1) with the two sides. entity_boost returns it.
-- Each side returns the columns of its rows itself, so the fusion joins the two candidate lists
-- only, never the whole table. Its plan does not depend on the values: a generic one
-- (plan_cache_mode), not planned anew on every call.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
-- The signature changes (a new argument): the old one is dropped, not left as an overload.
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision);
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
    candidate_depth integer DEFAULT 20,
    entity_weight double precision DEFAULT 0,
    semantic_depth integer DEFAULT 10)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz, entity_boost double precision)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_depth integer;
    v_semantic_depth integer;
    v_scope memory.search_scope;
    v_entities uuid[] := '{}';
    v_entity_weights double precision[] := '{}';
BEGIN
    PERFORM memory.check_query_text(hybrid_search_memories.query_text);
    PERFORM memory.check_embedding(hybrid_search_memories.query_embedding, 'query_embedding');
    PERFORM memory.check_label(hybrid_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
    PERFORM memory.check_count(hybrid_search_memories.candidate_depth, 'candidate_depth');
    PERFORM memory.check_count(hybrid_search_memories.semantic_depth, 'semantic_depth');
    PERFORM memory.check_filters(hybrid_search_memories.metadata_filter, hybrid_search_memories.category_filter);
    PERFORM memory.check_fusion(hybrid_search_memories.fusion, hybrid_search_memories.full_text_weight,
                                hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k);
    IF hybrid_search_memories.entity_weight IS NULL OR NOT hybrid_search_memories.entity_weight BETWEEN 0 AND 1000000 THEN
        RAISE EXCEPTION 'entity_weight must be between 0 and 1000000, got %',
            coalesce(hybrid_search_memories.entity_weight::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    v_scope := memory.search_scope(hybrid_search_memories.agent_id, hybrid_search_memories.run_id,
                                   hybrid_search_memories.filters, hybrid_search_memories.created_within,
                                   hybrid_search_memories.updated_within);
    PERFORM memory.take_token('hybrid_search', hybrid_search_memories.query_user_id);  -- rate limit: rate_limits.sql
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_depth := greatest(hybrid_search_memories.candidate_depth, hybrid_search_memories.match_count);
    v_semantic_depth := greatest(hybrid_search_memories.semantic_depth, hybrid_search_memories.match_count);
    IF hybrid_search_memories.entity_weight > 0 THEN
        SELECT coalesce(array_agg(q.entity_id), '{}'), coalesce(array_agg(memory.entity_boost_weight(q.links)), '{}')
        INTO v_entities, v_entity_weights
        FROM memory.query_entities(hybrid_search_memories.query_text, hybrid_search_memories.query_user_id) AS q;
    END IF;

    RETURN QUERY
    WITH semantic AS (
        SELECT s.id, s.memory, s.metadata, s.categories, s.similarity, s.created_at, s.updated_at,
               row_number() OVER (ORDER BY s.similarity DESC, s.id) AS rank,
               s.similarity AS raw_score
        FROM memory.vector_candidates(hybrid_search_memories.query_embedding, hybrid_search_memories.query_user_id,
                                      v_semantic_depth, hybrid_search_memories.metadata_filter, v_categories, 0,
                                      v_scope) AS s
    ), full_text AS (
        SELECT f.id, f.memory, f.metadata, f.categories, f.similarity, f.created_at, f.updated_at,
               row_number() OVER (ORDER BY f.text_score DESC, f.updated_at DESC, f.id) AS rank,
               f.text_score AS raw_score
        FROM memory.full_text_candidates(hybrid_search_memories.query_text, hybrid_search_memories.query_embedding,
                                         hybrid_search_memories.query_user_id, v_depth,
                                         hybrid_search_memories.metadata_filter, v_categories, v_scope) AS f
    ), boosted AS (
        SELECT me.memory_id AS id, sum(q.weight) AS boost
        FROM unnest(v_entities, v_entity_weights) AS q(entity_id, weight)
        JOIN memory.memory_entities AS me ON me.entity_id = q.entity_id
        WHERE me.memory_id IN (SELECT c.id FROM semantic AS c UNION SELECT c.id FROM full_text AS c)
        GROUP BY me.memory_id
    ), normalised AS (
        SELECT se.*, memory.normalised_score(se.raw_score, min(se.raw_score) OVER (), max(se.raw_score) OVER ()) AS norm
        FROM semantic AS se
    ), normalised_text AS (
        SELECT ft.*, memory.normalised_score(ft.raw_score, min(ft.raw_score) OVER (), max(ft.raw_score) OVER ()) AS norm
        FROM full_text AS ft
    )
    SELECT coalesce(se.id, ft.id), coalesce(se.memory, ft.memory), coalesce(se.metadata, ft.metadata),
           coalesce(se.categories, ft.categories), coalesce(se.similarity, ft.similarity),
           ft.rank, se.rank,
           CASE hybrid_search_memories.fusion
               WHEN 'rrf' THEN
                   memory.fused_score('rrf', hybrid_search_memories.full_text_weight,
                                      hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k,
                                      ft.rank, se.rank, ft.norm, se.norm)
                   + hybrid_search_memories.entity_weight * coalesce(b.boost, 0) / (hybrid_search_memories.rrf_k + 1)
               ELSE (memory.fused_score('weighted', hybrid_search_memories.full_text_weight,
                                        hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k,
                                        ft.rank, se.rank, ft.norm, se.norm)
                     * (hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight)
                     + hybrid_search_memories.entity_weight * least(coalesce(b.boost, 0), 1))
                    / (hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight
                       + hybrid_search_memories.entity_weight)
           END AS fused,
           coalesce(se.created_at, ft.created_at), coalesce(se.updated_at, ft.updated_at), coalesce(b.boost, 0)
    FROM normalised AS se
    FULL JOIN normalised_text AS ft ON ft.id = se.id
    LEFT JOIN boosted AS b ON b.id = coalesce(se.id, ft.id)
    ORDER BY fused DESC, coalesce(se.id, ft.id)
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision, integer) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank or weighted scores, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision, integer)
    TO authenticated, service_role;
