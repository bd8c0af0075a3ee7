-- 0010_retrieval_quality rollback: the search functions, index and settings as 0009 left them.
SET LOCAL search_path = pg_catalog, extensions, public;

DROP FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer);
DROP FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision, text, text, jsonb, tstzrange, tstzrange);
DROP FUNCTION memory.text_search_memories(text, text, integer, jsonb, text[], text, text, jsonb, tstzrange, tstzrange);
DROP FUNCTION memory.full_text_candidates(text, vector, text, integer, jsonb, text[], memory.search_scope);
DROP FUNCTION memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope);
DROP FUNCTION memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope);
DROP FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope);
DROP FUNCTION memory.check_query_text(text);
DROP FUNCTION memory.lexeme_query(text);
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX memory.memories_user_terms;
DROP FUNCTION memory.user_terms(text, tsvector);
DROP FUNCTION memory.text_search_config();
DROP FUNCTION memory.in_scope(memory.search_scope, text, text, text, jsonb, text[], timestamptz, timestamptz);
DROP FUNCTION memory.search_scope(text, text, jsonb, tstzrange, tstzrange);
DROP FUNCTION memory.filter_epoch(jsonb, text, text);
DROP FUNCTION memory.compile_filter_node(jsonb, text, jsonb, boolean, integer);
DROP TYPE memory.search_scope;
DROP FUNCTION mempg.request_text_search_config(text);

-- sql/mempg/settings.sql as 0009 left it
-- Install settings of mempg (mempg.settings): mempg.embedding_dim() reads the embedding dimension
-- that later migrations use for every vector column, and a guard keeps that dimension fixed:
-- vectors of another size cannot be compared, so a change needs a new database or a re-embedding.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION mempg.embedding_dim()
RETURNS integer
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT value::integer FROM mempg.settings WHERE key = 'embedding_dim'
$$;

COMMENT ON FUNCTION mempg.embedding_dim() IS
    'Embedding dimension chosen at install (mempg apply --embedding-dim); fixed afterwards';
REVOKE ALL ON FUNCTION mempg.embedding_dim() FROM PUBLIC;

CREATE OR REPLACE FUNCTION mempg.guard_settings()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF OLD.key = 'embedding_dim' AND (TG_OP = 'DELETE' OR NEW.value IS DISTINCT FROM OLD.value) THEN
        RAISE EXCEPTION 'mempg.settings: embedding_dim is fixed at % since install', OLD.value
            USING ERRCODE = '55000',
                  HINT = 'use a new database, or write a migration that re-embeds every memory';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION mempg.guard_settings() IS
    'Trigger on mempg.settings: keeps embedding_dim fixed and stamps updated_at';
REVOKE ALL ON FUNCTION mempg.guard_settings() FROM PUBLIC;

DROP TRIGGER IF EXISTS guard_settings ON mempg.settings;
CREATE TRIGGER guard_settings
    BEFORE UPDATE OR DELETE ON mempg.settings
    FOR EACH ROW EXECUTE FUNCTION mempg.guard_settings();

-- mempg.request_embedding_dim(): what `mempg apply --embedding-dim N` asks for, checked here
-- alone (the runner passes N and reports this error): a whole number from 1 to 16000 (the check
-- of 0001 on a fresh install), and on an installed database the dimension it already has.
CREATE OR REPLACE FUNCTION mempg.request_embedding_dim(requested text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_installed integer := mempg.embedding_dim();
BEGIN
    IF request_embedding_dim.requested IS NULL OR request_embedding_dim.requested = '' THEN
        RETURN;
    END IF;
    IF request_embedding_dim.requested !~ '^[0-9]{1,5}$' OR request_embedding_dim.requested::integer NOT BETWEEN 1 AND 16000 THEN
        RAISE EXCEPTION 'embedding_dim must be a whole number from 1 to 16000, got %', request_embedding_dim.requested
            USING ERRCODE = '22023';
    END IF;
    IF v_installed IS NOT NULL AND request_embedding_dim.requested::integer <> v_installed THEN
        RAISE EXCEPTION '--embedding-dim % refused: this database was installed with embedding dimension %, which is fixed',
            request_embedding_dim.requested, v_installed
            USING ERRCODE = '22023',
                  HINT = 'use a new database, or write a migration that re-embeds the memories';
    END IF;
END
$$;

COMMENT ON FUNCTION mempg.request_embedding_dim(text) IS
    'Raises 22023 unless the requested embedding dimension is valid and, once installed, the installed one';
REVOKE ALL ON FUNCTION mempg.request_embedding_dim(text) FROM PUBLIC;

DELETE FROM mempg.settings WHERE key = 'text_search_config';
ALTER TABLE memory.memories ALTER COLUMN fts SET STORAGE EXTENDED;
DO $$
BEGIN
    IF pg_get_expr((SELECT d.adbin FROM pg_catalog.pg_attrdef AS d JOIN pg_catalog.pg_attribute AS a
                    ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                    WHERE d.adrelid = 'memory.memories'::regclass AND a.attname = 'fts'),
                   'memory.memories'::regclass) NOT LIKE 'to_tsvector(''english''::regconfig,%' THEN
        ALTER TABLE memory.memories ALTER COLUMN fts SET EXPRESSION AS (to_tsvector('english'::regconfig, memory));
    END IF;
END
$$;
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX memories_fts ON memory.memories USING gin (fts);
ALTER TABLE memory.settings DROP COLUMN full_text_common_docs;

-- sql/memory/search_paths.sql as 0009 left it
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
-- memory.scope_size() counts the user's matching rows with a bounded index scan (rows not deleted:
-- an upper bound that the index answers alone), and memory.takes_exact_path() takes the exact
-- path while that count is at most memory.settings.exact_search_max_rows.
-- The function-level SET clauses restore every planner and hnsw setting when the function returns;
-- for hnsw.ef_search and hnsw.max_scan_tuples they only carry pgvector's defaults, since the body
-- sets both from memory.settings (set_config(..., true) inside the function is undone at its exit).
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
    any_agent boolean DEFAULT true)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH scoped AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               m.embedding <=> search_memories_exact.query_embedding AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_exact.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
          AND (search_memories_exact.any_agent OR memory.same_agent(m.agent_id, search_memories_exact.agent_id))
          AND memory.matches_filters(m.metadata, m.categories, search_memories_exact.metadata_filter,
                                     search_memories_exact.category_filter)
    )
    SELECT s.id, s.memory, s.metadata, s.categories, 1 - s.distance, s.created_at, s.updated_at
    FROM scoped AS s
    WHERE memory.meets_threshold(1 - s.distance, search_memories_exact.similarity_threshold)
    ORDER BY s.distance, s.id
    LIMIT search_memories_exact.match_count
$$;

COMMENT ON FUNCTION memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean) IS
    'Exact nearest memories of one user (btree on user_id, every distance computed); recall 1';

CREATE OR REPLACE FUNCTION memory.search_memories_ann(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true)
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
    v_settings memory.settings;
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM set_config('hnsw.ef_search', greatest(v_settings.hnsw_ef_search, search_memories_ann.match_count)::text, true),
            set_config('hnsw.max_scan_tuples', v_settings.hnsw_max_scan_tuples::text, true);
    RETURN QUERY
    WITH candidates AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               m.embedding <=> search_memories_ann.query_embedding AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_ann.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
          AND (search_memories_ann.any_agent OR memory.same_agent(m.agent_id, search_memories_ann.agent_id))
          AND memory.matches_filters(m.metadata, m.categories, search_memories_ann.metadata_filter,
                                     search_memories_ann.category_filter)
        ORDER BY m.embedding <=> search_memories_ann.query_embedding
        LIMIT search_memories_ann.match_count * 2 + 10  -- relaxed order: take a margin, re-sort below
    )
    SELECT c.id, c.memory, c.metadata, c.categories, 1 - c.distance, c.created_at, c.updated_at
    FROM candidates AS c
    WHERE memory.meets_threshold(1 - c.distance, search_memories_ann.similarity_threshold)
    ORDER BY c.distance, c.id
    LIMIT search_memories_ann.match_count;
END
$$;

COMMENT ON FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean) IS
    'Nearest memories of one user through an iterative HNSW scan (for users with many memories)';

-- memory.takes_exact_path(): the one routing rule, for search and for deduplication: exact while
-- the user's matching rows are at most memory.settings.exact_search_max_rows (or when there is
-- no vector index), iterative HNSW above.
CREATE OR REPLACE FUNCTION memory.takes_exact_path(query_user_id text, metadata_filter jsonb, category_filter text[])
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT memory.scope_size(takes_exact_path.query_user_id, takes_exact_path.metadata_filter,
                             takes_exact_path.category_filter, s.exact_search_max_rows) <= s.exact_search_max_rows
           OR NOT memory.has_ann_index()
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
        WHERE i.indrelid = 'memory.memories'::regclass AND am.amname IN ('hnsw', 'diskann') AND i.indisvalid)
$$;

COMMENT ON FUNCTION memory.has_ann_index() IS
    'Whether memory.memories has a valid HNSW (or DiskANN) index; without one, search is exact';

REVOKE ALL ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.takes_exact_path(text, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.takes_exact_path(text, jsonb, text[]) TO authenticated, service_role;

-- sql/memory/search_memories.sql as 0009 left it
-- memory.search_memories(): a user's live memories (not deleted, not expired) nearest to the query
-- embedding, whose metadata contains metadata_filter and whose categories overlap category_filter
-- (an empty filter matches all), with cosine similarity >= similarity_threshold, best first.
-- It routes to the exact or the HNSW path (see search_paths.sql) by the size of the user's
-- filtered slice, so light users get recall 1 and heavy users do not pay a linear scan.
-- It has no side effects: call memory.touch_memories() for the results you use.
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
    similarity_threshold double precision DEFAULT 0.3)
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

    v_categories := memory.normalize_categories(search_memories.category_filter);
    IF memory.takes_exact_path(search_memories.query_user_id, search_memories.metadata_filter, v_categories) THEN
        RETURN QUERY SELECT * FROM memory.search_memories_exact(
            search_memories.query_embedding, search_memories.query_user_id, search_memories.match_count,
            search_memories.metadata_filter, v_categories, search_memories.similarity_threshold);
    ELSE
        RETURN QUERY SELECT * FROM memory.search_memories_ann(
            search_memories.query_embedding, search_memories.query_user_id, search_memories.match_count,
            search_memories.metadata_filter, v_categories, search_memories.similarity_threshold);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision) IS
    'Nearest live memories of a user, filtered by metadata and categories, best first';
REVOKE ALL ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision)
    TO authenticated, service_role;

-- sql/memory/hybrid_search_memories.sql as 0009 left it
-- memory.hybrid_search_memories(): reciprocal rank fusion of a full-text ranking
-- (websearch_to_tsquery over the generated tsvector, ts_rank_cd) and the vector ranking of
-- memory.search_memories(), in one statement. Each side contributes weight / (rrf_k + rank);
-- a memory found by one side only gets that side's share. Both ranks and the fused score are
-- returned, with the cosine similarity of every row.
-- Each side returns the columns of its rows itself, so the fusion joins the two candidate lists
-- only: no join back to memory.memories, whose plan was a sequential scan of the whole table
-- (every user's rows read and removed by the filter), making the cost grow with the table
-- instead of with the user's memories.
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
    rrf_k integer DEFAULT 60)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_candidates integer;
    v_max_query_chars integer := (SELECT s.max_query_chars FROM memory.settings AS s);
BEGIN
    IF hybrid_search_memories.query_text IS NULL THEN
        RAISE EXCEPTION 'query_text must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(hybrid_search_memories.query_text) = '' THEN
        RAISE EXCEPTION 'query_text must not be empty (use search_memories for vector-only search)'
            USING ERRCODE = '22023';
    END IF;
    IF length(hybrid_search_memories.query_text) > v_max_query_chars THEN
        RAISE EXCEPTION 'query_text is % characters long; at most % are allowed',
            length(hybrid_search_memories.query_text), v_max_query_chars USING ERRCODE = '22001';
    END IF;
    PERFORM memory.check_embedding(hybrid_search_memories.query_embedding, 'query_embedding');
    PERFORM memory.check_label(hybrid_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
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
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_candidates := least(hybrid_search_memories.match_count * 2, 1000);

    RETURN QUERY
    WITH semantic AS (
        SELECT s.id, s.memory, s.metadata, s.categories, s.similarity, s.created_at, s.updated_at,
               row_number() OVER (ORDER BY s.similarity DESC, s.id) AS rank
        FROM memory.search_memories(hybrid_search_memories.query_embedding, hybrid_search_memories.query_user_id,
                                    v_candidates, hybrid_search_memories.metadata_filter, v_categories, 0) AS s
    ), full_text AS (
        SELECT r.id, r.memory, r.metadata, r.categories,
               1 - (r.embedding <=> hybrid_search_memories.query_embedding) AS similarity,
               r.created_at, r.updated_at,
               row_number() OVER (ORDER BY r.text_rank DESC, r.id) AS rank
        FROM (
            SELECT m.id, m.memory, m.metadata, m.categories, m.embedding, m.created_at, m.updated_at,
                   ts_rank_cd(m.fts, q.query) AS text_rank
            FROM memory.memories AS m,
                 websearch_to_tsquery('english', hybrid_search_memories.query_text) AS q(query)
            WHERE m.user_id = hybrid_search_memories.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
              AND m.fts @@ q.query
              AND memory.matches_filters(m.metadata, m.categories, hybrid_search_memories.metadata_filter,
                                         v_categories)
            ORDER BY text_rank DESC, m.id
            LIMIT v_candidates
        ) AS r
    )
    SELECT coalesce(se.id, ft.id), coalesce(se.memory, ft.memory), coalesce(se.metadata, ft.metadata),
           coalesce(se.categories, ft.categories), coalesce(se.similarity, ft.similarity),
           ft.rank, se.rank,
           coalesce(hybrid_search_memories.full_text_weight / (hybrid_search_memories.rrf_k + ft.rank), 0)
             + coalesce(hybrid_search_memories.semantic_weight / (hybrid_search_memories.rrf_k + se.rank), 0) AS fused,
           coalesce(se.created_at, ft.created_at), coalesce(se.updated_at, ft.updated_at)
    FROM semantic AS se
    FULL JOIN full_text AS ft ON ft.id = se.id
    ORDER BY fused DESC, coalesce(se.id, ft.id)
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer)
    TO authenticated, service_role;

