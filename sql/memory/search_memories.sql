-- memory.search_memories(): a user's live memories (not deleted, not expired) nearest to the query
-- embedding, whose metadata contains metadata_filter and whose categories overlap category_filter
-- (an empty filter matches all), with cosine similarity >= similarity_threshold, best first.
-- Mem0's scoping narrows it further: agent_id, run_id, a filter in Mem0's language (filters, see
-- search_scope.sql) and windows on created_at / updated_at (created_within, updated_within).
-- memory.vector_candidates() (search_paths.sql) routes it to the exact or the HNSW path by the
-- size of the user's filtered slice, so light users get recall 1 and heavy users do not pay a
-- linear scan.
-- It changes no memory (call memory.touch_memories() for the results you use); it takes a token
-- of the caller's 'search' bucket after the arguments are checked (PGRST, HTTP 429, when empty).
-- plan_cache_mode force_generic_plan: left to choose, the plan cache re-planned the exact path on
-- every call, which cost more than the search itself (docs/memory.md, "Measurements"). The
-- generic plans are the intended ones; the HNSW path forces custom plans for itself.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.search_memories(
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 5,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    similarity_threshold double precision DEFAULT 0.3,
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    filters jsonb DEFAULT NULL,
    created_within tstzrange DEFAULT NULL,
    updated_within tstzrange DEFAULT NULL)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_max_id_chars integer;
    v_scope memory.search_scope;
BEGIN
    PERFORM memory.check_embedding(search_memories.query_embedding, 'query_embedding');
    SELECT s.max_id_chars INTO v_max_id_chars FROM memory.settings AS s;
    PERFORM memory.check_label(search_memories.query_user_id, 'query_user_id', v_max_id_chars, true);
    PERFORM memory.check_count(search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(search_memories.metadata_filter, search_memories.category_filter);
    IF search_memories.similarity_threshold IS NULL OR NOT search_memories.similarity_threshold BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'similarity_threshold must be between 0 and 1, got %',
            coalesce(search_memories.similarity_threshold::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    v_scope := memory.search_scope(search_memories.agent_id, search_memories.run_id, search_memories.filters,
                                   search_memories.created_within, search_memories.updated_within);
    PERFORM memory.take_token('search', search_memories.query_user_id);  -- rate limit: rate_limits.sql
    v_categories := memory.normalize_categories(search_memories.category_filter);
    RETURN QUERY SELECT * FROM memory.vector_candidates(
        search_memories.query_embedding, search_memories.query_user_id, search_memories.match_count,
        search_memories.metadata_filter, v_categories, search_memories.similarity_threshold, v_scope);
END
$$;

COMMENT ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision, text, text, jsonb, tstzrange, tstzrange) IS
    'Nearest live memories of a user, filtered by metadata and categories, best first';
REVOKE ALL ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision, text, text, jsonb, tstzrange, tstzrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision, text, text, jsonb, tstzrange, tstzrange)
    TO authenticated, service_role;
