-- The two ways to find a user's nearest memories, and the choice between them.
--
-- A user's memories are a small slice of a shared table. An HNSW scan filtered by user_id returns
-- too few rows (the graph walk ends before enough of the user's rows pass the filter), so:
--   * exact path: the user's rows come from the btree on user_id, distances are computed for all
--     of them and sorted. A MATERIALIZED CTE keeps the planner from turning it into an HNSW scan.
--     Recall is 1 by construction; the cost is linear in the user's rows.
--   * ANN path: pgvector's iterative HNSW scan (relaxed order, re-sorted) keeps walking the graph
--     until enough rows pass the filters, up to hnsw_max_scan_tuples. enable_sort is off inside
--     the function so that the planner cannot answer with the btree plus a sort instead.
--     The re-sort orders by `distance + 0` (0018): PostgreSQL 17+ knows that the CTE's rows come
--     ordered by distance (its ORDER BY), so `ORDER BY distance` sorted nothing and took the
--     first rows in the index's relaxed order, out of order and short of the margin taken for
--     it (pgvector's documentation gives the same + 0).
-- memory.scope_size() counts the user's matching rows with a bounded index scan (rows not deleted:
-- an upper bound that the index answers alone), and memory.takes_exact_path() takes the exact
-- path while that count is at most memory.settings.exact_search_max_rows, or while the user's
-- share of the table is below exact_search_max_share (0022).
-- A heavy user with an HNSW index of their own (user_indexes.sql, 0022) takes the HNSW path
-- without counting when the search has no metadata or category filter: the planner takes their
-- index (the path plans each call), whose first pass is memory.user_index_ef_search().
-- The function-level SET clauses restore every planner and hnsw setting when the function returns;
-- for hnsw.ef_search and hnsw.max_scan_tuples they only carry pgvector's defaults, since the body
-- sets both (set_config(..., true) inside the function is undone at its exit): from the user's
-- share of the table (memory.ann_scan_settings(), 0018) when the search has no filter, from
-- memory.settings otherwise.
-- Thresholds compare through memory.meets_threshold(): a NaN similarity is never a match.
-- An empty metadata filter is skipped explicitly: `metadata @> '{}'` matches every row, yet the
-- planner answered it with a scan of the whole GIN index. Without filters the count reads the
-- btree alone (an index-only scan), where one query serving both cases read every counted row
-- from the heap. (Figures: docs/memory.md, "Measurements".)
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.scope_size(query_user_id text, metadata_filter jsonb,
                                             category_filter text[], bound integer)
RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF scope_size.metadata_filter = '{}'::jsonb AND cardinality(scope_size.category_filter) = 0 THEN
        RETURN (SELECT count(*)::integer
                FROM (SELECT 1 FROM memory.memories AS m
                      WHERE m.user_id = scope_size.query_user_id AND NOT m.is_deleted
                      LIMIT scope_size.bound + 1) AS bounded);
    END IF;
    RETURN (SELECT count(*)::integer
            FROM (SELECT 1 FROM memory.memories AS m
                  WHERE m.user_id = scope_size.query_user_id AND NOT m.is_deleted
                    AND memory.matches_filters(m.metadata, m.categories, scope_size.metadata_filter,
                                               scope_size.category_filter)
                  LIMIT scope_size.bound + 1) AS bounded);
END
$$;

COMMENT ON FUNCTION memory.scope_size(text, jsonb, text[], integer) IS
    'Live memories of a user matching the filters, counted up to bound + 1 (routing of search)';

CREATE OR REPLACE FUNCTION memory.search_memories_exact(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true, scope memory.search_scope DEFAULT NULL)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH scoped AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               -- the query in the column's type, cast once (an InitPlan): stored_embedding.sql
               m.embedding <=> (SELECT search_memories_exact.query_embedding::memory.stored_embedding) AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_exact.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
          AND (search_memories_exact.any_agent OR memory.same_agent(m.agent_id, search_memories_exact.agent_id))
          AND memory.matches_filters(m.metadata, m.categories, search_memories_exact.metadata_filter,
                                     search_memories_exact.category_filter)
          AND memory.in_scope(search_memories_exact.scope, m.agent_id, m.run_id, m.memory_type, m.metadata,
                              m.categories, m.created_at, m.updated_at)
    )
    SELECT s.id, s.memory, s.metadata, s.categories, 1 - s.distance, s.created_at, s.updated_at
    FROM scoped AS s
    WHERE memory.meets_threshold(1 - s.distance, search_memories_exact.similarity_threshold)
    ORDER BY s.distance, s.id
    LIMIT search_memories_exact.match_count
$$;

COMMENT ON FUNCTION memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope) IS
    'Exact nearest memories of one user (btree on user_id, every distance computed); recall 1';

-- memory.user_share(): the share of memory.memories' rows (the HNSW index's entries, deleted
-- rows included) that are one user's live memories: memory.quota_usage's count (kept by
-- triggers, 0011) over pg_class.reltuples (kept by VACUUM and ANALYZE). NULL when the table has
-- never been analyzed. Row-level security decides whose count the caller reads (its own for
-- authenticated; another user's id gives 0), as it does for the memories themselves.
CREATE OR REPLACE FUNCTION memory.user_share(query_user_id text)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE WHEN c.reltuples > 0
                THEN least(1, coalesce(u.memories, 0) / c.reltuples::double precision) END
    FROM pg_catalog.pg_class AS c
    LEFT JOIN memory.quota_usage AS u ON u.user_id = user_share.query_user_id
    WHERE c.oid = 'memory.memories'::regclass
$$;

COMMENT ON FUNCTION memory.user_share(text) IS
    'Share of memory.memories'' rows that are this user''s live memories (NULL before any ANALYZE)';

-- memory.hnsw_scan_settings(): hnsw.ef_search and hnsw.max_scan_tuples for an iterative HNSW scan
-- that must yield `needed` rows of a user holding `share` of a table's (an index's) entries (the walk meets
-- the user's rows at about that rate):
--   * ef_search, the width of the first pass, holds about 6 x needed of the user's rows: 6 x
--     needed / share entries, between memory.settings.hnsw_ef_search and twice that (and at most
--     1,000, pgvector's bound). Measured on 240,000 clustered rows (docs/memory.md, "The HNSW
--     scan follows the user's share"): a user holding 42% of them got recall@10 0.965 at 1 x (ef
--     72) and 0.975 / 0.983 at the fixed 200 (two query sets), 1.000 at 6 x (431, or 400 capped);
--     users holding 4% got 1.000 at 200 and at 400, with the same p50, but a p95 of 37 ms at 1,000
--     against 20 at 200: a small share's rows come from the iterative scan's later passes, and a wide
--     first pass only costs.
--   * max_scan_tuples, how far the walk may go, is at least 4 x needed / share entries, so that a
--     user just above the exact path's bound in a large table is not cut short at
--     memory.settings.hnsw_max_scan_tuples (3,001 memories of 10 million need about 100,000), and
--     at most the table's rows.
-- An unknown share (NULL: the table never analyzed, or outside (0, 1]) keeps the settings. A
-- share overestimated from stale statistics narrows the pass, never below the settings. The
-- arithmetic is numeric: a tiny share or a huge count does not overflow.
CREATE OR REPLACE FUNCTION memory.hnsw_scan_settings(share double precision, needed integer,
                                                     table_rows double precision,
                                                     OUT ef_search integer, OUT max_scan_tuples integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE WHEN hnsw_scan_settings.share > 0 AND hnsw_scan_settings.share <= 1
                 AND hnsw_scan_settings.needed > 0
                THEN least(1000, 2 * s.hnsw_ef_search,
                           greatest(s.hnsw_ef_search,
                                    ceil(6.0 * hnsw_scan_settings.needed / hnsw_scan_settings.share::numeric)))::integer
                ELSE s.hnsw_ef_search END,
           CASE WHEN hnsw_scan_settings.share > 0 AND hnsw_scan_settings.share <= 1
                 AND hnsw_scan_settings.needed > 0
                THEN greatest(s.hnsw_max_scan_tuples,
                              least(2147483647, greatest(hnsw_scan_settings.table_rows, 1)::numeric,
                                    ceil(4.0 * hnsw_scan_settings.needed / hnsw_scan_settings.share::numeric))::integer)
                ELSE s.hnsw_max_scan_tuples END
    FROM memory.settings AS s
$$;

COMMENT ON FUNCTION memory.hnsw_scan_settings(double precision, integer, double precision) IS
    'hnsw.ef_search and hnsw.max_scan_tuples for an HNSW scan that must yield needed rows of a user holding share of a table of table_rows';

-- memory.ann_scan_settings(): memory.hnsw_scan_settings() for memory.memories (0025: the rule
-- itself moved there, so that agent.vector_candidates sizes its walks by it too).
CREATE OR REPLACE FUNCTION memory.ann_scan_settings(share double precision, needed integer,
                                                    OUT ef_search integer, OUT max_scan_tuples integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT h.ef_search, h.max_scan_tuples
    FROM pg_catalog.pg_class AS c
    CROSS JOIN LATERAL memory.hnsw_scan_settings(ann_scan_settings.share, ann_scan_settings.needed,
                                                 c.reltuples::double precision) AS h
    WHERE c.oid = 'memory.memories'::regclass
$$;

COMMENT ON FUNCTION memory.ann_scan_settings(double precision, integer) IS
    'hnsw.ef_search and hnsw.max_scan_tuples for an HNSW scan that must yield needed rows of a user holding share of the rows';

CREATE OR REPLACE FUNCTION memory.search_memories_ann(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true, scope memory.search_scope DEFAULT NULL)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = '40'
SET hnsw.max_scan_tuples = '20000'
SET enable_sort = 'off'
SET plan_cache_mode = 'force_custom_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    -- relaxed order: a margin of rows is taken, then re-sorted
    v_needed integer := search_memories_ann.match_count * 2 + 10;
    v_stored_query memory.memories.embedding%TYPE := search_memories_ann.query_embedding;  -- cast once: stored_embedding.sql
    v_share double precision;
    v_own_index boolean := false;
    v_scan record;
BEGIN
    -- With no filter narrowing the rows further, the first pass follows what the walk meets: the
    -- user's own index (user_indexes.sql, which the planner takes for this user), where every
    -- row is theirs and only the graph's size widens it (memory.user_index_ef_search()), or the
    -- user's share of the shared one. With a filter, the settings (share NULL).
    IF search_memories_ann.metadata_filter = '{}'::jsonb AND cardinality(search_memories_ann.category_filter) = 0
       AND search_memories_ann.any_agent AND search_memories_ann.scope IS NULL THEN
        v_own_index := memory.has_user_index(search_memories_ann.query_user_id);
        IF NOT v_own_index THEN
            v_share := memory.user_share(search_memories_ann.query_user_id);
        END IF;
    END IF;
    IF v_own_index THEN
        SELECT memory.user_index_ef_search(search_memories_ann.query_user_id) AS ef_search,
               s.hnsw_max_scan_tuples AS max_scan_tuples
        INTO v_scan FROM memory.settings AS s;
    ELSE
        SELECT * INTO v_scan FROM memory.ann_scan_settings(v_share, v_needed);
    END IF;
    PERFORM set_config('hnsw.ef_search', greatest(v_scan.ef_search, search_memories_ann.match_count)::text, true),
            set_config('hnsw.max_scan_tuples', v_scan.max_scan_tuples::text, true);
    RETURN QUERY
    WITH candidates AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               m.embedding <=> v_stored_query AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_ann.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
          AND (search_memories_ann.any_agent OR memory.same_agent(m.agent_id, search_memories_ann.agent_id))
          AND memory.matches_filters(m.metadata, m.categories, search_memories_ann.metadata_filter,
                                     search_memories_ann.category_filter)
          AND memory.in_scope(search_memories_ann.scope, m.agent_id, m.run_id, m.memory_type, m.metadata,
                              m.categories, m.created_at, m.updated_at)
        ORDER BY m.embedding <=> v_stored_query
        LIMIT v_needed
    )
    SELECT c.id, c.memory, c.metadata, c.categories, 1 - c.distance, c.created_at, c.updated_at
    FROM candidates AS c
    WHERE memory.meets_threshold(1 - c.distance, search_memories_ann.similarity_threshold)
    ORDER BY c.distance + 0, c.id  -- + 0: see below
    LIMIT search_memories_ann.match_count;
END
$$;

COMMENT ON FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope) IS
    'Nearest memories of one user through an iterative HNSW scan (for users with many memories)';

-- memory.vector_candidates(): the nearest memories of one user in a scope, by the routing rule
-- below; search_memories and the hybrid search call it once their arguments are checked.
CREATE OR REPLACE FUNCTION memory.vector_candidates(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, scope memory.search_scope)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF memory.takes_exact_path(vector_candidates.query_user_id, vector_candidates.metadata_filter,
                               vector_candidates.category_filter) THEN
        RETURN QUERY SELECT * FROM memory.search_memories_exact(
            vector_candidates.query_embedding, vector_candidates.query_user_id, vector_candidates.match_count,
            vector_candidates.metadata_filter, vector_candidates.category_filter,
            vector_candidates.similarity_threshold, NULL, true, vector_candidates.scope);
    ELSE
        RETURN QUERY SELECT * FROM memory.search_memories_ann(
            vector_candidates.query_embedding, vector_candidates.query_user_id, vector_candidates.match_count,
            vector_candidates.metadata_filter, vector_candidates.category_filter,
            vector_candidates.similarity_threshold, NULL, true, vector_candidates.scope);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope) IS
    'Nearest memories of one user in a scope, exact or iterative HNSW by the size of the user''s slice';

-- memory.takes_exact_path(): the one routing rule, for search and for deduplication: exact while
-- the user's matching rows are at most memory.settings.exact_search_max_rows, or while the user
-- holds less than exact_search_max_share of the table (0022: at 1,000,000 rows a user with 1% of
-- them searched the shared graph in 1.8x the exact path's time at recall@10 0.9875; the share is
-- the user's whole count, an upper bound of a filtered one), or when there is no vector index;
-- iterative HNSW above; a user's own index first, for a search without filters.
CREATE OR REPLACE FUNCTION memory.takes_exact_path(query_user_id text, metadata_filter jsonb, category_filter text[])
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT NOT (takes_exact_path.metadata_filter = '{}'::jsonb AND cardinality(takes_exact_path.category_filter) = 0
                AND memory.has_user_index(takes_exact_path.query_user_id))
           AND (memory.scope_size(takes_exact_path.query_user_id, takes_exact_path.metadata_filter,
                                  takes_exact_path.category_filter, s.exact_search_max_rows) <= s.exact_search_max_rows
                OR coalesce(memory.user_share(takes_exact_path.query_user_id) < s.exact_search_max_share, false)
                OR NOT memory.has_ann_index())
    FROM memory.settings AS s
$$;

COMMENT ON FUNCTION memory.takes_exact_path(text, jsonb, text[]) IS
    'Whether a search of this user with these filters takes the exact path (else iterative HNSW)';

CREATE OR REPLACE FUNCTION memory.nearest_memory(embedding vector, user_id text, agent_id text)
RETURNS TABLE (id uuid, similarity double precision)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    -- The user's size (all agents) decides the path: an upper bound of the scope's size.
    IF memory.takes_exact_path(nearest_memory.user_id, '{}', '{}') THEN
        RETURN QUERY
        SELECT e.id, e.similarity
        FROM memory.search_memories_exact(nearest_memory.embedding, nearest_memory.user_id, 1, '{}', '{}', -1,
                                          nearest_memory.agent_id, false) AS e;
    ELSE
        RETURN QUERY
        SELECT a.id, a.similarity
        FROM memory.search_memories_ann(nearest_memory.embedding, nearest_memory.user_id, 1, '{}', '{}', -1,
                                        nearest_memory.agent_id, false) AS a;
    END IF;
END
$$;

COMMENT ON FUNCTION memory.nearest_memory(vector, text, text) IS
    'The most similar live memory in one (user, agent) scope, for deduplication';

CREATE OR REPLACE FUNCTION memory.has_ann_index()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
        JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
        WHERE i.indrelid = 'memory.memories'::regclass AND am.amname IN ('hnsw', 'diskann') AND i.indisvalid
          AND c.relname NOT LIKE 'memories\_ann\_user\_%')  -- a user's own index serves them alone
$$;

COMMENT ON FUNCTION memory.has_ann_index() IS
    'Whether memory.memories has a valid HNSW (or DiskANN) index; without one, search is exact';

REVOKE ALL ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.user_share(text), memory.ann_scan_settings(double precision, integer),
    memory.hnsw_scan_settings(double precision, integer, double precision),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope),
    memory.takes_exact_path(text, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.user_share(text), memory.ann_scan_settings(double precision, integer),
    memory.hnsw_scan_settings(double precision, integer, double precision),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope),
    memory.takes_exact_path(text, jsonb, text[]) TO authenticated, service_role;
