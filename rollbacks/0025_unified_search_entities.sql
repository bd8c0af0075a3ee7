-- Rollback of 0025_unified_search_entities: no entities in agent.unified_search, the agent HNSW
-- walks at the settings' hnsw_max_scan_tuples again, the functions as 0024 left them.
SET LOCAL search_path = pg_catalog, extensions, public;

-- squawk-ignore require-concurrent-index-deletion
DROP INDEX IF EXISTS memory.entities_user_terms;
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX IF EXISTS agent.conversations_embedded_user;
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX IF EXISTS memory.entities_embedded_user;

-- sql/memory/search_paths.sql as 0024 left it
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

-- memory.ann_scan_settings(): hnsw.ef_search and hnsw.max_scan_tuples for an iterative HNSW scan
-- that must yield `needed` rows of a user holding `share` of the index's entries (the walk meets
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
CREATE OR REPLACE FUNCTION memory.ann_scan_settings(share double precision, needed integer,
                                                    OUT ef_search integer, OUT max_scan_tuples integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE WHEN ann_scan_settings.share > 0 AND ann_scan_settings.share <= 1
                 AND ann_scan_settings.needed > 0
                THEN least(1000, 2 * s.hnsw_ef_search,
                           greatest(s.hnsw_ef_search,
                                    ceil(6.0 * ann_scan_settings.needed / ann_scan_settings.share::numeric)))::integer
                ELSE s.hnsw_ef_search END,
           CASE WHEN ann_scan_settings.share > 0 AND ann_scan_settings.share <= 1
                 AND ann_scan_settings.needed > 0
                THEN greatest(s.hnsw_max_scan_tuples,
                              least(2147483647, greatest(c.reltuples, 1)::numeric,
                                    ceil(4.0 * ann_scan_settings.needed / ann_scan_settings.share::numeric))::integer)
                ELSE s.hnsw_max_scan_tuples END
    FROM memory.settings AS s
    CROSS JOIN pg_catalog.pg_class AS c
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
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope),
    memory.takes_exact_path(text, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.user_share(text), memory.ann_scan_settings(double precision, integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope),
    memory.takes_exact_path(text, jsonb, text[]) TO authenticated, service_role;

-- sql/agent/unified_search.sql as 0024 left it
-- agent.unified_search(): one hybrid search over a user's memories, RAG chunks and conversation
-- messages (entities join once they exist), each row saying what it is (`kind`) and where it
-- came from: origin_agent_id and origin_session_id (a memory's agent and run, a message's agent
-- and session), or origin_source_id, document_id, uri and ordinal (a chunk's repository,
-- document and place in it).
-- The ranking is the hybrid search's (hybrid_search_memories.sql), over the union of the kinds:
--   semantic side:  the nearest semantic_depth rows of each kind (memory.vector_candidates for
--                   memories, agent.vector_candidates for the others: the same routing rule,
--                   exact up to memory.settings.exact_search_max_rows rows, iterative HNSW above),
--                   ranked together by cosine similarity (one embedding space);
--   full-text side: the best candidate_depth rows by the any-term idf ranking
--                   (memory.full_text_candidates for memories,
--                   agent.full_text_candidates for the others: the same term weights, statistics
--                   per user and corpus), ranked together by score;
--   fused by memory.fused_score (rrf, k 10, by default; or weighted). Ties are broken as the
--   hybrid search breaks them (full text: the more recent row; semantic and fused: the id), so
--   that with memories alone both return the same ranking.
-- Scope: kinds chooses what is searched ('memory', 'chunk', 'conversation'; all by default);
-- agent_id narrows memories and conversations to that agent (chunks belong to no agent);
-- source_id narrows chunks to that repository (memories and conversations have none). Chunks
-- with the same text (memory.text_hash) in several documents are one hit: the best-ranked copy.
-- Cost: every side reads at most its bounded candidates of the user's own rows through the
-- user's index keys, so a search grows with the user's matching rows, not with the table.
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.takes_exact_path(): exact search for a user's rows of one kind while they are at most
-- memory.settings.exact_search_max_rows (memory.takes_exact_path's rule), or with no HNSW index.
CREATE OR REPLACE FUNCTION agent.takes_exact_path(kind text, query_user_id text, agent_id text, source_id text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_bound integer := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
    v_rows integer;
BEGIN
    IF takes_exact_path.kind = 'chunk' THEN
        IF to_regclass('agent.chunks_embedding_ann') IS NULL THEN
            RETURN true;
        END IF;
        SELECT count(*) INTO v_rows
        FROM (SELECT 1 FROM agent.chunks AS c
              WHERE c.user_id = takes_exact_path.query_user_id
                AND (takes_exact_path.source_id IS NULL OR c.source_id = takes_exact_path.source_id)
              LIMIT v_bound + 1) AS bounded;
    ELSE
        IF to_regclass('agent.conversations_embedding_ann') IS NULL THEN
            RETURN true;
        END IF;
        SELECT count(*) INTO v_rows
        FROM (SELECT 1 FROM agent.conversations AS v
              WHERE v.user_id = takes_exact_path.query_user_id
                AND (takes_exact_path.agent_id IS NULL OR v.agent_id = takes_exact_path.agent_id)
              LIMIT v_bound + 1) AS bounded;
    END IF;
    RETURN v_rows <= v_bound;
END
$$;

COMMENT ON FUNCTION agent.takes_exact_path(text, text, text, text) IS
    'Whether a vector search of a user''s chunks or messages is exact (few rows) or iterative HNSW';

-- agent.vector_candidates(): the nearest chunks (one per distinct text) and messages (those with
-- an embedding) of a user, at most `depth` of each kind, with a similarity of at least 0 (the
-- threshold of the hybrid search's vector side). The ANN queries run with enable_sort
-- off (as memory.search_memories_ann does), so the planner walks the HNSW graph instead of
-- sorting the user's rows; the exact ones compute every distance of a MATERIALIZED set. Hashes
-- are sorted in the "C" collation: byte order is all DISTINCT ON needs, and the database's
-- linguistic collation made that sort most of the cost (5 ms for 200 chunks, measured). Both
-- paths read the hashes of the nearest depth * 2 + 10 chunks only (from 0021): beside the inline
-- 1536-dim vector (storage plain) a chunk's text and hash are stored out of line, and the exact
-- path's DISTINCT ON over every chunk of the user read three TOAST pages per chunk.
CREATE OR REPLACE FUNCTION agent.vector_candidates(query_embedding vector, query_user_id text, depth integer,
                                                   kinds text[], agent_id text, source_id text)
RETURNS TABLE (kind text, id uuid, key text, score double precision, recency timestamptz)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = '40'
SET hnsw.max_scan_tuples = '20000'
SET enable_sort = 'on'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
    v_stored_query memory.memories.embedding%TYPE := vector_candidates.query_embedding;  -- cast once: stored_embedding.sql
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM set_config('hnsw.ef_search', greatest(v_settings.hnsw_ef_search, vector_candidates.depth)::text, true),
            set_config('hnsw.max_scan_tuples', v_settings.hnsw_max_scan_tuples::text, true);
    IF 'chunk' = ANY (vector_candidates.kinds) THEN
        IF agent.takes_exact_path('chunk', vector_candidates.query_user_id, NULL, vector_candidates.source_id) THEN
            RETURN QUERY
            WITH scoped AS MATERIALIZED (
                SELECT c.id, c.content_hash, c.created_at, c.embedding <=> v_stored_query AS distance
                FROM agent.chunks AS c
                WHERE c.user_id = vector_candidates.query_user_id
                  AND (vector_candidates.source_id IS NULL OR c.source_id = vector_candidates.source_id)
            ), nearest AS (
                SELECT s.id, s.content_hash, s.created_at, s.distance
                FROM scoped AS s
                ORDER BY s.distance, s.id
                LIMIT vector_candidates.depth * 2 + 10  -- copies of one text: the ANN path's margin
            ), distinct_texts AS (
                SELECT DISTINCT ON (s.content_hash COLLATE "C") s.id, s.content_hash, s.created_at, s.distance
                FROM nearest AS s
                ORDER BY s.content_hash COLLATE "C", s.distance, s.created_at, s.id
            )
            SELECT 'chunk'::text, d.id, 'chunk:' || d.content_hash, 1 - d.distance, d.created_at
            FROM distinct_texts AS d
            WHERE memory.meets_threshold(1 - d.distance, 0)
            ORDER BY d.distance, d.id
            LIMIT vector_candidates.depth;
        ELSE
            PERFORM set_config('enable_sort', 'off', true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT c.id, c.content_hash, c.created_at, c.embedding <=> v_stored_query AS distance
                FROM agent.chunks AS c
                WHERE c.user_id = vector_candidates.query_user_id
                  AND (vector_candidates.source_id IS NULL OR c.source_id = vector_candidates.source_id)
                ORDER BY c.embedding <=> v_stored_query
                LIMIT vector_candidates.depth * 2 + 10  -- relaxed order and duplicates: a margin
            ), distinct_texts AS (
                SELECT DISTINCT ON (s.content_hash COLLATE "C") s.id, s.content_hash, s.created_at, s.distance
                FROM candidates AS s
                ORDER BY s.content_hash COLLATE "C", s.distance, s.created_at, s.id
            )
            SELECT 'chunk'::text, d.id, 'chunk:' || d.content_hash, 1 - d.distance, d.created_at
            FROM distinct_texts AS d
            WHERE memory.meets_threshold(1 - d.distance, 0)
            ORDER BY d.distance, d.id
            LIMIT vector_candidates.depth;
            PERFORM set_config('enable_sort', 'on', true);
        END IF;
    END IF;
    IF 'conversation' = ANY (vector_candidates.kinds) THEN
        IF agent.takes_exact_path('conversation', vector_candidates.query_user_id, vector_candidates.agent_id, NULL) THEN
            RETURN QUERY
            WITH scoped AS MATERIALIZED (
                SELECT v.id, v.created_at, v.embedding <=> v_stored_query AS distance
                FROM agent.conversations AS v
                WHERE v.user_id = vector_candidates.query_user_id AND v.embedding IS NOT NULL
                  AND (vector_candidates.agent_id IS NULL OR v.agent_id = vector_candidates.agent_id)
            )
            SELECT 'conversation'::text, s.id, 'conversation:' || s.id, 1 - s.distance, s.created_at
            FROM scoped AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance, s.id
            LIMIT vector_candidates.depth;
        ELSE
            PERFORM set_config('enable_sort', 'off', true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT v.id, v.created_at, v.embedding <=> v_stored_query AS distance
                FROM agent.conversations AS v
                WHERE v.user_id = vector_candidates.query_user_id AND v.embedding IS NOT NULL
                  AND (vector_candidates.agent_id IS NULL OR v.agent_id = vector_candidates.agent_id)
                ORDER BY v.embedding <=> v_stored_query
                LIMIT vector_candidates.depth * 2 + 10
            )
            SELECT 'conversation'::text, s.id, 'conversation:' || s.id, 1 - s.distance, s.created_at
            FROM candidates AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance + 0, s.id  -- + 0: a real re-sort (search_paths.sql)
            LIMIT vector_candidates.depth;
            PERFORM set_config('enable_sort', 'on', true);
        END IF;
    END IF;
END
$$;

COMMENT ON FUNCTION agent.vector_candidates(vector, text, integer, text[], text, text) IS
    'Nearest chunks (one per distinct text) and messages of a user, at most depth of each kind';

-- agent.full_text_candidates(): memory.full_text_candidates' ranking over a user's chunks and
-- messages together: each distinct query lexeme's documents are counted (up to
-- memory.settings.full_text_common_docs + 1 per kind) through the (user, lexeme) GIN keys of
-- memory.user_terms, weighted by memory.term_weight, the selective terms (at most that many
-- documents; else the rarest) choose at most 8 x (full_text_common_docs + 1) candidates per kind,
-- and a candidate scores the summed weights of the terms it holds. At most 8 terms (the rarest).
-- A chunk text held by several documents is one candidate (its best-ranked copy).
-- SECURITY DEFINER (0015), as memory.full_text_candidates(): under row-level security the GIN keys'
-- && and @> (not LEAKPROOF) could not be index conditions for the application's role; it reads
-- the rows of memory.lookup_scope(query_user_id) only and returns ids, which the caller reads
-- under row-level security.
CREATE OR REPLACE FUNCTION agent.full_text_candidates(query_text text, query_user_id text, depth integer,
                                                      kinds text[], agent_id text, source_id text)
RETURNS TABLE (kind text, id uuid, key text, score double precision, recency timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(full_text_candidates.query_user_id);
    v_common integer := (SELECT s.full_text_common_docs FROM memory.settings AS s);
    v_chunks boolean := 'chunk' = ANY (full_text_candidates.kinds);
    v_messages boolean := 'conversation' = ANY (full_text_candidates.kinds);
    v_terms tsquery[];
    v_keys text[];
    v_docs bigint[];
    v_weights double precision[] := '{}';
    v_choose text[] := '{}';
BEGIN
    IF NOT (v_chunks OR v_messages) THEN
        RETURN;
    END IF;
    SELECT array_agg(c.term ORDER BY c.docs, c.lexeme), array_agg(c.user_key ORDER BY c.docs, c.lexeme),
           array_agg(c.docs ORDER BY c.docs, c.lexeme)
    INTO v_terms, v_keys, v_docs
    FROM (SELECT l.lexeme, memory.lexeme_query(l.lexeme) AS term, k.user_key,
                 least((SELECT count(*) FROM (SELECT 1 FROM agent.chunks AS c
                                              WHERE v_chunks AND memory.user_terms(c.user_id, c.fts) @> ARRAY[k.user_key]
                                                AND (c.user_id = v_user) IS TRUE
                                                AND (full_text_candidates.source_id IS NULL
                                                     OR c.source_id = full_text_candidates.source_id)
                                              LIMIT v_common + 1) AS bounded)
                       + (SELECT count(*) FROM (SELECT 1 FROM agent.conversations AS v
                                                WHERE v_messages AND memory.user_terms(v.user_id, v.fts) @> ARRAY[k.user_key]
                                                  AND (v.user_id = v_user) IS TRUE
                                                  AND (full_text_candidates.agent_id IS NULL
                                                       OR v.agent_id = full_text_candidates.agent_id)
                                                LIMIT v_common + 1) AS bounded),
                       v_common + 1) AS docs
          FROM unnest(to_tsvector(memory.text_search_config(), full_text_candidates.query_text)) AS l,
               LATERAL (SELECT v_user || chr(31) || l.lexeme) AS k(user_key)
          OFFSET 0) AS c
    WHERE c.docs > 0;
    IF v_terms IS NULL THEN
        RETURN;  -- only stop words, or no term in the user's rows
    END IF;
    v_terms := v_terms[1:8];
    v_keys := v_keys[1:8];
    v_docs := v_docs[1:8];
    FOR i IN 1 .. cardinality(v_terms) LOOP
        v_weights := v_weights || memory.term_weight(v_docs[i]);
        IF v_docs[i] <= v_common OR i = 1 THEN
            v_choose := v_choose || v_keys[i];
        END IF;
    END LOOP;

    RETURN QUERY
    WITH candidates AS (
        (SELECT 'chunk'::text AS kind, c.id, 'chunk:' || c.content_hash AS key, c.fts, c.created_at AS recency
         FROM agent.chunks AS c
         WHERE v_chunks AND memory.user_terms(c.user_id, c.fts) && v_choose
           AND (c.user_id = v_user) IS TRUE
           AND (full_text_candidates.source_id IS NULL OR c.source_id = full_text_candidates.source_id)
         LIMIT 8 * (v_common + 1))
        UNION ALL
        (SELECT 'conversation'::text, v.id, 'conversation:' || v.id, v.fts, v.created_at
         FROM agent.conversations AS v
         WHERE v_messages AND memory.user_terms(v.user_id, v.fts) && v_choose
           AND (v.user_id = v_user) IS TRUE
           AND (full_text_candidates.agent_id IS NULL OR v.agent_id = full_text_candidates.agent_id)
         LIMIT 8 * (v_common + 1))
    ), scored AS (
        SELECT DISTINCT ON (c.key COLLATE "C") c.kind, c.id, c.key, c.recency,
               (SELECT sum(t.weight) FROM unnest(v_terms, v_weights) AS t(term, weight) WHERE c.fts @@ t.term) AS text_score
        FROM candidates AS c
        ORDER BY c.key COLLATE "C", text_score DESC, c.recency, c.id
    )
    SELECT s.kind, s.id, s.key, s.text_score, s.recency
    FROM scored AS s
    ORDER BY s.text_score DESC, s.recency DESC, s.id
    LIMIT full_text_candidates.depth;
END
$$;

COMMENT ON FUNCTION agent.full_text_candidates(text, text, integer, text[], text, text) IS
    'Any-term full-text ranking of a user''s chunks (one per distinct text) and messages by the summed idf of matched terms';

-- The signature changes (semantic_depth, 0017): the old one is dropped, not left as an overload.
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer);
CREATE OR REPLACE FUNCTION agent.unified_search(
    query_text text,
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 10,
    kinds text[] DEFAULT '{memory,chunk,conversation}',
    agent_id text DEFAULT NULL,
    source_id text DEFAULT NULL,
    full_text_weight double precision DEFAULT 1,
    semantic_weight double precision DEFAULT 1,
    rrf_k integer DEFAULT 10,
    fusion text DEFAULT 'rrf',
    candidate_depth integer DEFAULT 20,
    semantic_depth integer DEFAULT 10)
RETURNS TABLE (kind text, id uuid, content text, metadata jsonb, origin_agent_id text, origin_session_id text,
               origin_source_id text, document_id uuid, uri text, ordinal integer, similarity double precision, full_text_rank bigint,
               semantic_rank bigint, score double precision, created_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max_id_chars integer := (SELECT s.max_id_chars FROM memory.settings AS s);
    v_depth integer;
    v_semantic_depth integer;
    v_scope memory.search_scope;
    v_memories boolean;
    v_stored_query memory.memories.embedding%TYPE;  -- the query, cast once: stored_embedding.sql
BEGIN
    PERFORM memory.check_query_text(unified_search.query_text);
    PERFORM memory.check_embedding(unified_search.query_embedding, 'query_embedding');
    PERFORM memory.check_label(unified_search.query_user_id, 'query_user_id', v_max_id_chars, true);
    PERFORM memory.check_count(unified_search.match_count, 'match_count');
    PERFORM memory.check_count(unified_search.candidate_depth, 'candidate_depth');
    PERFORM memory.check_count(unified_search.semantic_depth, 'semantic_depth');
    PERFORM memory.check_label(unified_search.agent_id, 'agent_id', v_max_id_chars);
    PERFORM memory.check_label(unified_search.source_id, 'source_id', v_max_id_chars);
    IF unified_search.kinds IS NULL THEN
        RAISE EXCEPTION 'kinds must not be NULL (memory, chunk, conversation)' USING ERRCODE = '22004';
    END IF;
    IF cardinality(unified_search.kinds) = 0 OR array_position(unified_search.kinds, NULL) IS NOT NULL
       OR NOT unified_search.kinds <@ ARRAY['memory', 'chunk', 'conversation'] THEN
        RAISE EXCEPTION 'kinds must be a non-empty list of memory, chunk, conversation, got %',
            left(unified_search.kinds::text, 200) USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_fusion(unified_search.fusion, unified_search.full_text_weight,
                                unified_search.semantic_weight, unified_search.rrf_k);
    v_scope := memory.search_scope(unified_search.agent_id, NULL, NULL, NULL, NULL);
    PERFORM memory.take_token('hybrid_search', unified_search.query_user_id);  -- rate limit: rate_limits.sql
    v_stored_query := unified_search.query_embedding;  -- once checked: a bad one gets check_embedding's error
    v_depth := greatest(unified_search.candidate_depth, unified_search.match_count);
    v_semantic_depth := greatest(unified_search.semantic_depth, unified_search.match_count);
    v_memories := 'memory' = ANY (unified_search.kinds);

    RETURN QUERY
    WITH semantic AS (
        SELECT 'memory'::text AS kind, s.id, 'memory:' || s.id AS key, s.similarity AS raw_score, s.updated_at AS recency
        FROM memory.vector_candidates(unified_search.query_embedding, unified_search.query_user_id, v_semantic_depth,
                                      '{}', '{}', 0, v_scope) AS s
        WHERE v_memories
        UNION ALL
        SELECT a.kind, a.id, a.key, a.score, a.recency
        FROM agent.vector_candidates(unified_search.query_embedding, unified_search.query_user_id, v_semantic_depth,
                                     unified_search.kinds, unified_search.agent_id, unified_search.source_id) AS a
    ), full_text AS (
        SELECT 'memory'::text AS kind, f.id, 'memory:' || f.id AS key, f.text_score AS raw_score, f.updated_at AS recency
        FROM memory.full_text_candidates(unified_search.query_text, NULL, unified_search.query_user_id, v_depth, '{}',
                                         '{}', v_scope) AS f
        WHERE v_memories
        UNION ALL
        SELECT a.kind, a.id, a.key, a.score, a.recency
        FROM agent.full_text_candidates(unified_search.query_text, unified_search.query_user_id, v_depth,
                                        unified_search.kinds, unified_search.agent_id, unified_search.source_id) AS a
    ), semantic_ranked AS (
        SELECT se.*, row_number() OVER (ORDER BY se.raw_score DESC, se.id) AS rank,
               memory.normalised_score(se.raw_score, min(se.raw_score) OVER (), max(se.raw_score) OVER ()) AS norm
        FROM semantic AS se
    ), full_text_ranked AS (
        SELECT ft.*, row_number() OVER (ORDER BY ft.raw_score DESC, ft.recency DESC, ft.id) AS rank,
               memory.normalised_score(ft.raw_score, min(ft.raw_score) OVER (), max(ft.raw_score) OVER ()) AS norm
        FROM full_text AS ft
    ), fused AS (
        SELECT j.* FROM (
            SELECT coalesce(se.kind, ft.kind) AS hit_kind, coalesce(se.id, ft.id) AS hit_id, ft.rank AS text_rank,
                   se.rank AS vector_rank,
                   memory.fused_score(unified_search.fusion, unified_search.full_text_weight,
                                      unified_search.semantic_weight, unified_search.rrf_k, ft.rank, se.rank, ft.norm,
                                      se.norm) AS fused_score,
                   greatest(se.recency, ft.recency) AS recency
            FROM semantic_ranked AS se
            FULL JOIN full_text_ranked AS ft ON ft.key = se.key) AS j
        ORDER BY j.fused_score DESC, j.hit_id
        LIMIT unified_search.match_count
    )
    SELECT f.hit_kind, f.hit_id, coalesce(m.memory, c.content, v.content), coalesce(m.metadata, d.metadata, v.metadata),
           coalesce(m.agent_id, v.agent_id), coalesce(m.run_id, v.session_id), c.source_id, c.document_id, d.uri,
           c.ordinal,
           1 - (coalesce(m.embedding, c.embedding, v.embedding) <=> v_stored_query),
           f.text_rank, f.vector_rank, f.fused_score, coalesce(m.created_at, c.created_at, v.created_at)
    -- each hit read by its primary key (LIMIT 1 keeps these from being flattened into joins:
    -- estimating 2,000 fused rows, the planner hashed every row of the user's three tables, 25 of
    -- a 64 ms search)
    FROM fused AS f
    LEFT JOIN LATERAL (SELECT x.* FROM memory.memories AS x
                       WHERE f.hit_kind = 'memory' AND x.id = f.hit_id LIMIT 1) AS m ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.chunks AS x
                       WHERE f.hit_kind = 'chunk' AND x.id = f.hit_id LIMIT 1) AS c ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.documents AS x WHERE x.id = c.document_id LIMIT 1) AS d ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.conversations AS x
                       WHERE f.hit_kind = 'conversation' AND x.id = f.hit_id LIMIT 1) AS v ON true
    ORDER BY f.fused_score DESC, f.hit_id;
END
$$;

COMMENT ON FUNCTION agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer) IS
    'Hybrid search over a user''s memories, RAG chunks and conversations; each row names its kind and origin';

REVOKE ALL ON FUNCTION agent.takes_exact_path(text, text, text, text),
    agent.vector_candidates(vector, text, integer, text[], text, text),
    agent.full_text_candidates(text, text, integer, text[], text, text),
    agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.takes_exact_path(text, text, text, text),
    agent.vector_candidates(vector, text, integer, text[], text, text),
    agent.full_text_candidates(text, text, integer, text[], text, text),
    agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer)
    TO authenticated, service_role;

-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS agent.walk_limit(text, integer);
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.hnsw_scan_settings(double precision, integer, double precision);
