-- 0002_memory_core: long-term memory for agents, in schema memory.
-- Tables memories, memory_history, session_memories and settings; the normalise, deduplicate and
-- history triggers; search (exact or HNSW, chosen per user), hybrid search, Mem0's get / list /
-- update / delete / restore / history, decay, cleanup and maintenance; row-level security.
-- Every function below is also in sql/memory/, with the same text.
--
-- Choices made from measurements (1536 dimensions, 20,000 clustered vectors, this machine):
-- * embedding STORAGE PLAIN: a 1536-dim vector is 6 KB, over the 2 KB TOAST threshold, so by
--   default it is moved out of line and every distance computation detoasts it. An exact scan of
--   20,000 rows took 249 ms TOASTed and 45 ms PLAIN (5.5x). PLAIN fits a page up to about 1,800
--   dimensions; above that MAIN (inline when it fits, out of line only as a last resort).
-- * HNSW (cosine, m 16, ef_construction 128) on live rows only, for up to 2,000 dimensions
--   (pgvector's limit for indexed vectors); above that search is always exact. Where pgvectorscale
--   is installed, its DiskANN index is used instead. ef_construction 128, not pgvector's 64: a graph
--   built at 64 leaves some rows that no search reaches (their in-links pruned away), whatever
--   ef_search is. Querying each of 13,600 clustered 1536-dim rows with its own vector found 8 and 7
--   such rows in two builds at 64, 0 and 1 at 128, for about 30% more build time (5-7 s here).
-- * Filtered HNSW scans return too few rows for a user holding a small slice of the table, so
--   search routes by the size of the user's slice: exact below memory.settings.exact_search_max_rows,
--   iterative HNSW above it (see sql/memory/search_paths.sql). Median latency of a top-10 query
--   on 58,750 rows (clustered, 1536 dims), exact vs iterative HNSW (ef_search 200), by the user's
--   row count: 250: 0.75 vs 49 ms; 1,000: 1.7 vs 7.3; 2,500: 5.8 vs 6.3; 5,000: 13.6 vs 5.3;
--   10,000: 21.8 vs 3.4; 20,000: 108 vs 2.4. The default crossover is therefore 3,000 rows.
--   ef_search 200 (not pgvector's 40): at 100, one heavy-user query in 20 missed one of its true
--   top 10 on clustered data; at 200 every one matched exact search.

CREATE TABLE memory.settings (
    singleton             boolean PRIMARY KEY DEFAULT true CONSTRAINT one_row CHECK (singleton),
    replace_threshold     double precision NOT NULL DEFAULT 0.98 CHECK (replace_threshold BETWEEN 0 AND 1),
    merge_threshold       double precision NOT NULL DEFAULT 0.95 CHECK (merge_threshold BETWEEN 0 AND 1),
    session_ttl           interval NOT NULL DEFAULT '24 hours' CHECK (session_ttl > interval '0'),
    exact_search_max_rows integer NOT NULL DEFAULT 3000 CHECK (exact_search_max_rows BETWEEN 1 AND 1000000),
    hnsw_ef_search        integer NOT NULL DEFAULT 200 CHECK (hnsw_ef_search BETWEEN 1 AND 1000),
    hnsw_max_scan_tuples  integer NOT NULL DEFAULT 20000 CHECK (hnsw_max_scan_tuples >= 1),
    CONSTRAINT merge_at_most_replace CHECK (merge_threshold <= replace_threshold)
);
COMMENT ON TABLE memory.settings IS 'Tuning of the memory functions, one row; UPDATE it to change behaviour';
COMMENT ON COLUMN memory.settings.replace_threshold IS 'Cosine similarity from which a new memory replaces the text of an existing one (UPDATE)';
COMMENT ON COLUMN memory.settings.merge_threshold IS 'Cosine similarity from which a new memory is merged into an existing one (MERGE)';
COMMENT ON COLUMN memory.settings.session_ttl IS 'Default lifetime of a session memory';
COMMENT ON COLUMN memory.settings.exact_search_max_rows IS 'Users with at most this many matching memories are searched exactly; above, iterative HNSW';
COMMENT ON COLUMN memory.settings.hnsw_ef_search IS 'hnsw.ef_search for the HNSW path (at least match_count)';
COMMENT ON COLUMN memory.settings.hnsw_max_scan_tuples IS 'hnsw.max_scan_tuples: how far an iterative HNSW scan may walk';
INSERT INTO memory.settings DEFAULT VALUES;

-- Pure helpers that define what "the same memory" means: text is compared after trimming,
-- collapsing whitespace and lower-casing; its hash is the sha256 of that normalised text
-- (PostgreSQL's built-in sha256(): no pgcrypto needed). Categories are trimmed, lower-cased,
-- de-duplicated and sorted, so {' Food', 'food'} and {'food'} are one set.
CREATE OR REPLACE FUNCTION memory.normalize_text(memory text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT lower(regexp_replace(btrim(normalize_text.memory), '\s+', ' ', 'g'))
$$;

COMMENT ON FUNCTION memory.normalize_text(text) IS
    'Memory text as compared for exact duplicates: trimmed, whitespace collapsed, lower-cased';

CREATE OR REPLACE FUNCTION memory.text_hash(memory text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT encode(sha256(convert_to(memory.normalize_text(text_hash.memory), 'UTF8')), 'hex')
$$;

COMMENT ON FUNCTION memory.text_hash(text) IS
    'sha256 (hex) of the normalised memory text; memories.hash is generated from it';

CREATE OR REPLACE FUNCTION memory.normalize_categories(categories text[])
RETURNS text[]
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT c.category ORDER BY c.category), '{}')
    FROM (SELECT lower(btrim(raw)) AS category FROM unnest(normalize_categories.categories) AS raw) AS c
    WHERE c.category <> ''
$$;

COMMENT ON FUNCTION memory.normalize_categories(text[]) IS
    'Categories trimmed, lower-cased, without blanks or duplicates, sorted';

REVOKE ALL ON FUNCTION memory.normalize_text(text), memory.text_hash(text),
    memory.normalize_categories(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.normalize_text(text), memory.text_hash(text),
    memory.normalize_categories(text[]) TO authenticated, service_role;

-- memory.default_session_expiry(): the default expires_at of a session memory, now() plus the
-- session_ttl in memory.settings (change the setting, not the table).
CREATE OR REPLACE FUNCTION memory.default_session_expiry()
RETURNS timestamptz
LANGUAGE sql
STABLE
AS $$
    SELECT now() + s.session_ttl FROM memory.settings AS s
$$;

COMMENT ON FUNCTION memory.default_session_expiry() IS 'now() + memory.settings.session_ttl';
REVOKE ALL ON FUNCTION memory.default_session_expiry() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.default_session_expiry() TO authenticated, service_role;

-- memory.memory_record: the row shape that get_memory() and list_memories() return: every column
-- of memory.memories but the embedding (6 KB at 1536 dimensions) and the tsvector.
DO $$
BEGIN
    IF to_regtype('memory.memory_record') IS NULL THEN
        CREATE TYPE memory.memory_record AS (
            id uuid, user_id text, agent_id text, run_id text, memory text, metadata jsonb,
            categories text[], memory_type text, source text, hash text, relevance_score double precision,
            access_count integer, last_accessed_at timestamptz, version integer, expires_at timestamptz,
            created_at timestamptz, updated_at timestamptz);
    END IF;
END
$$;
COMMENT ON TYPE memory.memory_record IS 'A memory without its embedding, as get_memory and list_memories return it';

DO $$
DECLARE
    v_dim integer := mempg.embedding_dim();
BEGIN
    IF v_dim IS NULL THEN
        RAISE EXCEPTION 'mempg.settings holds no embedding_dim: apply 0001_foundation first' USING ERRCODE = '55000';
    END IF;
    EXECUTE format($ddl$
        CREATE TABLE memory.memories (
            id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            user_id          text NOT NULL CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
            agent_id         text CONSTRAINT agent_id_valid CHECK (agent_id <> '' AND length(agent_id) <= 255),
            run_id           text CONSTRAINT run_id_valid CHECK (run_id <> '' AND length(run_id) <= 255),
            memory           text NOT NULL
                             CONSTRAINT memory_not_blank CHECK (memory ~ '[^[:space:]]')
                             CONSTRAINT memory_length CHECK (length(memory) <= 10000),
            embedding        vector(%s) NOT NULL CONSTRAINT embedding_not_zero CHECK (vector_norm(embedding) > 0),
            metadata         jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
            categories       text[] NOT NULL DEFAULT '{}'
                             CONSTRAINT categories_valid CHECK (array_position(categories, NULL) IS NULL AND cardinality(categories) <= 100),
            memory_type      text CONSTRAINT memory_type_valid CHECK (memory_type <> '' AND length(memory_type) <= 64),
            source           text CONSTRAINT source_valid CHECK (length(source) <= 255),
            hash             text NOT NULL GENERATED ALWAYS AS (memory.text_hash(memory)) STORED,
            relevance_score  double precision NOT NULL DEFAULT 1 CONSTRAINT relevance_in_range CHECK (relevance_score BETWEEN 0 AND 1),
            access_count     integer NOT NULL DEFAULT 0 CHECK (access_count >= 0),
            last_accessed_at timestamptz NOT NULL DEFAULT now(),
            decayed_at       timestamptz,
            is_deleted       boolean NOT NULL DEFAULT false,
            deleted_at       timestamptz,
            version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
            expires_at       timestamptz,
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now(),
            fts              tsvector NOT NULL GENERATED ALWAYS AS (to_tsvector('english'::regconfig, memory)) STORED,
            CONSTRAINT deleted_at_when_deleted CHECK (is_deleted = (deleted_at IS NOT NULL))
        )$ddl$, v_dim);
    EXECUTE format('ALTER TABLE memory.memories ALTER COLUMN embedding SET STORAGE %s',
                   CASE WHEN v_dim <= 1800 THEN 'PLAIN' ELSE 'MAIN' END);

    EXECUTE format($ddl$
        CREATE TABLE memory.session_memories (
            id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            user_id    text NOT NULL CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
            agent_id   text CONSTRAINT agent_id_valid CHECK (agent_id <> '' AND length(agent_id) <= 255),
            run_id     text NOT NULL CONSTRAINT run_id_valid CHECK (run_id <> '' AND length(run_id) <= 255),
            memory     text NOT NULL
                       CONSTRAINT memory_not_blank CHECK (memory ~ '[^[:space:]]')
                       CONSTRAINT memory_length CHECK (length(memory) <= 10000),
            embedding  vector(%s) CONSTRAINT embedding_not_zero CHECK (vector_norm(embedding) > 0),
            metadata   jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL DEFAULT memory.default_session_expiry()
                       CONSTRAINT expires_after_creation CHECK (expires_at > created_at)
        )$ddl$, v_dim);
    EXECUTE format('ALTER TABLE memory.session_memories ALTER COLUMN embedding SET STORAGE %s',
                   CASE WHEN v_dim <= 1800 THEN 'PLAIN' ELSE 'MAIN' END);

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'vectorscale') THEN
        CREATE INDEX memories_embedding_ann ON memory.memories USING diskann (embedding vector_cosine_ops)
            WHERE NOT is_deleted;
    ELSIF v_dim <= 2000 THEN
        CREATE INDEX memories_embedding_ann ON memory.memories USING hnsw (embedding vector_cosine_ops)
            WITH (m = 16, ef_construction = 128) WHERE NOT is_deleted;
    ELSE
        RAISE NOTICE 'no vector index: pgvector indexes at most 2000 dimensions and this database uses %; search stays exact', v_dim;
    END IF;
END
$$;
COMMENT ON TABLE memory.memories IS 'Long-term memories of agents, one row per fact, deduplicated per user and agent';
COMMENT ON COLUMN memory.memories.hash IS 'sha256 of the normalised text (memory.text_hash); exact duplicates share it';
COMMENT ON COLUMN memory.memories.decayed_at IS 'When decay_memories() last lowered relevance_score';
COMMENT ON TABLE memory.session_memories IS 'Short-term memories of one session or run, deleted after expires_at';

CREATE UNIQUE INDEX memories_live_text_unique ON memory.memories (user_id, coalesce(agent_id, ''), hash) WHERE NOT is_deleted;
CREATE INDEX memories_user_created ON memory.memories (user_id, created_at DESC, id DESC) WHERE NOT is_deleted;
CREATE INDEX memories_user_updated ON memory.memories (user_id, updated_at DESC) WHERE NOT is_deleted;
CREATE INDEX memories_metadata ON memory.memories USING gin (metadata jsonb_path_ops);
CREATE INDEX memories_categories ON memory.memories USING gin (categories);
CREATE INDEX memories_fts ON memory.memories USING gin (fts);
CREATE INDEX memories_deleted_at ON memory.memories (deleted_at) WHERE is_deleted;
CREATE INDEX memories_expires_at ON memory.memories (expires_at) WHERE expires_at IS NOT NULL AND NOT is_deleted;
CREATE INDEX session_memories_user_run ON memory.session_memories (user_id, run_id, created_at DESC);
CREATE INDEX session_memories_expires_at ON memory.session_memories (expires_at);

CREATE TABLE memory.memory_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    memory_id   uuid NOT NULL REFERENCES memory.memories (id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    event       text NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'MERGE', 'DELETE', 'RESTORE')),
    old_memory  text,
    new_memory  text,
    old_version integer,
    new_version integer,
    db_role     text NOT NULL DEFAULT current_user,
    app_user_id text DEFAULT app.current_user_id(),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE memory.memory_history IS 'One row per ADD, UPDATE, MERGE, DELETE and RESTORE of a memory, written in the same transaction; purged with its memory';
CREATE INDEX memory_history_memory ON memory.memory_history (memory_id, created_at, id);
CREATE INDEX memory_history_user ON memory.memory_history (user_id);


-- memory.embedding_dim(): the dimension of memory embeddings, read from the column type itself,
-- so that application roles need no access to schema mempg to validate their arguments.
CREATE OR REPLACE FUNCTION memory.embedding_dim()
RETURNS integer
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT a.atttypmod FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = 'memory.memories'::regclass AND a.attname = 'embedding'
$$;

COMMENT ON FUNCTION memory.embedding_dim() IS
    'Dimension of memory embeddings, read from the column type (fixed at install)';

REVOKE ALL ON FUNCTION memory.embedding_dim() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.embedding_dim() TO authenticated, service_role;

-- Argument checks shared by the memory functions, so that bad input always gets the same clear
-- error: SQLSTATE 22004 for a NULL that is required, 22023 for a value out of range, and the
-- message names the parameter.
CREATE OR REPLACE FUNCTION memory.check_embedding(embedding vector, parameter text)
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_expected integer := memory.embedding_dim();
BEGIN
    IF check_embedding.embedding IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', parameter USING ERRCODE = '22004';
    END IF;
    IF vector_dims(check_embedding.embedding) <> v_expected THEN
        RAISE EXCEPTION '% has % dimensions; this database stores %-dimensional embeddings',
            parameter, vector_dims(check_embedding.embedding), v_expected
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_embedding(vector, text) IS
    'Raises 22004 for a NULL embedding and 22023 for one of the wrong dimension';

CREATE OR REPLACE FUNCTION memory.check_filters(metadata_filter jsonb, category_filter text[])
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF metadata_filter IS NULL OR jsonb_typeof(metadata_filter) <> 'object' THEN
        RAISE EXCEPTION 'metadata_filter must be a JSON object, got %', coalesce(jsonb_typeof(metadata_filter), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF category_filter IS NULL THEN
        RAISE EXCEPTION 'category_filter must not be NULL (use ''{}'' for no filter)' USING ERRCODE = '22004';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_filters(jsonb, text[]) IS
    'Raises 22023 unless metadata_filter is a JSON object, 22004 for a NULL category_filter';

CREATE OR REPLACE FUNCTION memory.check_count(value integer, parameter text, maximum integer DEFAULT 1000)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF value IS NULL OR value < 1 OR value > maximum THEN
        RAISE EXCEPTION '% must be between 1 and %, got %', parameter, maximum, coalesce(value::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_count(integer, text, integer) IS
    'Raises 22023 unless 1 <= value <= maximum';

REVOKE ALL ON FUNCTION memory.check_embedding(vector, text), memory.check_filters(jsonb, text[]),
    memory.check_count(integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.check_embedding(vector, text), memory.check_filters(jsonb, text[]),
    memory.check_count(integer, text, integer) TO authenticated, service_role;

-- The advisory lock key of one deduplication scope (user, agent). Two scopes may share a key by
-- hash collision; that only makes them wait for each other, never merge.
CREATE OR REPLACE FUNCTION memory.scope_lock_key(user_id text, agent_id text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT hashtextextended('memory.scope' || chr(31) || scope_lock_key.user_id || chr(31)
                            || coalesce(scope_lock_key.agent_id, ''), 0)
$$;

COMMENT ON FUNCTION memory.scope_lock_key(text, text) IS
    'Advisory lock key that serialises deduplicating writers of one user and agent';
REVOKE ALL ON FUNCTION memory.scope_lock_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_lock_key(text, text) TO authenticated, service_role;

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
-- memory.scope_size() counts the user's matching rows with a bounded index scan, and the exact
-- path is taken while that count is at most memory.settings.exact_search_max_rows.
-- The function-level SET clauses restore every planner and hnsw setting when the function returns.
-- An empty metadata filter is skipped explicitly: `metadata @> '{}'` matches every row, yet the
-- planner answered it with a scan of the whole GIN index (18 ms per call at 28,000 rows, measured
-- in the benchmark), on every search and every deduplicated insert.
-- Without filters it counts from the btree alone (an index-only scan): the generic plan of one
-- query serving both cases read every counted row from the heap (3,000 pages, 25 ms cold, for a
-- heavy user), as the filter columns live there.
CREATE OR REPLACE FUNCTION memory.scope_size(query_user_id text, metadata_filter jsonb,
                                             category_filter text[], bound integer)
RETURNS integer
LANGUAGE plpgsql
STABLE
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
                    AND (scope_size.metadata_filter = '{}'::jsonb OR m.metadata @> scope_size.metadata_filter)
                    AND (cardinality(scope_size.category_filter) = 0 OR m.categories && scope_size.category_filter)
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
AS $$
    WITH scoped AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               m.embedding <=> search_memories_exact.query_embedding AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_exact.query_user_id AND NOT m.is_deleted
          AND (m.expires_at IS NULL OR m.expires_at > now())
          AND (search_memories_exact.any_agent OR m.agent_id IS NOT DISTINCT FROM search_memories_exact.agent_id)
          AND (search_memories_exact.metadata_filter = '{}'::jsonb OR m.metadata @> search_memories_exact.metadata_filter)
          AND (cardinality(search_memories_exact.category_filter) = 0
               OR m.categories && search_memories_exact.category_filter)
    )
    SELECT s.id, s.memory, s.metadata, s.categories, 1 - s.distance, s.created_at, s.updated_at
    FROM scoped AS s
    WHERE 1 - s.distance >= search_memories_exact.similarity_threshold
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
SET hnsw.ef_search = '100'
SET hnsw.max_scan_tuples = '20000'
SET enable_sort = 'off'
SET plan_cache_mode = 'force_custom_plan'
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
        WHERE m.user_id = search_memories_ann.query_user_id AND NOT m.is_deleted
          AND (m.expires_at IS NULL OR m.expires_at > now())
          AND (search_memories_ann.any_agent OR m.agent_id IS NOT DISTINCT FROM search_memories_ann.agent_id)
          AND (search_memories_ann.metadata_filter = '{}'::jsonb OR m.metadata @> search_memories_ann.metadata_filter)
          AND (cardinality(search_memories_ann.category_filter) = 0
               OR m.categories && search_memories_ann.category_filter)
        ORDER BY m.embedding <=> search_memories_ann.query_embedding
        LIMIT search_memories_ann.match_count * 2 + 10  -- relaxed order: take a margin, re-sort below
    )
    SELECT c.id, c.memory, c.metadata, c.categories, 1 - c.distance, c.created_at, c.updated_at
    FROM candidates AS c
    WHERE 1 - c.distance >= search_memories_ann.similarity_threshold
    ORDER BY c.distance, c.id
    LIMIT search_memories_ann.match_count;
END
$$;

COMMENT ON FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean) IS
    'Nearest memories of one user through an iterative HNSW scan (for users with many memories)';

CREATE OR REPLACE FUNCTION memory.nearest_memory(embedding vector, user_id text, agent_id text)
RETURNS TABLE (id uuid, similarity double precision)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_bound integer := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
BEGIN
    -- The user's size (all agents) decides the path: an upper bound of the scope's size.
    IF memory.scope_size(nearest_memory.user_id, '{}', '{}', v_bound) <= v_bound OR NOT memory.has_ann_index() THEN
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
    memory.nearest_memory(vector, text, text), memory.has_ann_index() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.nearest_memory(vector, text, text), memory.has_ann_index() TO authenticated, service_role;

-- memory.search_memories(): a user's live memories (not deleted, not expired) nearest to the query
-- embedding, whose metadata contains metadata_filter and whose categories overlap category_filter
-- (an empty filter matches all), with cosine similarity >= similarity_threshold, best first.
-- It routes to the exact or the HNSW path (see search_paths.sql) by the size of the user's
-- filtered slice, so light users get recall 1 and heavy users do not pay a linear scan.
-- It has no side effects: call memory.touch_memories() for the results you use.
-- plan_cache_mode force_generic_plan: left to choose, the plan cache kept re-planning the exact
-- path on every call (its custom plans fold the empty filters away and look cheaper than the
-- generic plan), which cost more than the search itself: a light user's search took 381 us as
-- service_role and 619 us under RLS (planning the policy too), against 144 and 129 us with generic
-- plans, measured side by side in one session. The generic plans are the intended ones (the btree
-- on user_id for the count and the exact path); the HNSW path forces custom plans for itself.
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
AS $$
DECLARE
    v_categories text[];
    v_bound integer;
BEGIN
    PERFORM memory.check_embedding(search_memories.query_embedding, 'query_embedding');
    IF search_memories.query_user_id IS NULL THEN
        RAISE EXCEPTION 'query_user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF vector_norm(search_memories.query_embedding) = 0 THEN
        RAISE EXCEPTION 'query_embedding must not be all zeros' USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(search_memories.metadata_filter, search_memories.category_filter);
    IF search_memories.similarity_threshold IS NULL OR NOT search_memories.similarity_threshold BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'similarity_threshold must be between 0 and 1, got %',
            coalesce(search_memories.similarity_threshold::text, 'NULL') USING ERRCODE = '22023';
    END IF;

    v_categories := memory.normalize_categories(search_memories.category_filter);
    v_bound := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
    IF memory.scope_size(search_memories.query_user_id, search_memories.metadata_filter, v_categories, v_bound) <= v_bound
       OR NOT memory.has_ann_index() THEN
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

-- memory.hybrid_search_memories(): reciprocal rank fusion of a full-text ranking
-- (websearch_to_tsquery over the generated tsvector, ts_rank_cd) and the vector ranking of
-- memory.search_memories(), in one statement. Each side contributes weight / (rrf_k + rank);
-- a memory found by one side only gets that side's share. Both ranks and the fused score are
-- returned, with the cosine similarity of every row.
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
AS $$
DECLARE
    v_categories text[];
    v_candidates integer;
BEGIN
    IF hybrid_search_memories.query_text IS NULL THEN
        RAISE EXCEPTION 'query_text must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(hybrid_search_memories.query_text) = '' THEN
        RAISE EXCEPTION 'query_text must not be empty (use search_memories for vector-only search)'
            USING ERRCODE = '22023';
    END IF;
    IF length(hybrid_search_memories.query_text) > 10000 THEN
        RAISE EXCEPTION 'query_text is longer than 10000 characters' USING ERRCODE = '22001';
    END IF;
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(hybrid_search_memories.metadata_filter, hybrid_search_memories.category_filter);
    IF hybrid_search_memories.full_text_weight IS NULL OR hybrid_search_memories.semantic_weight IS NULL
       OR hybrid_search_memories.full_text_weight < 0 OR hybrid_search_memories.semantic_weight < 0
       OR hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight = 0
       OR hybrid_search_memories.full_text_weight = 'NaN' OR hybrid_search_memories.semantic_weight = 'NaN'
       OR hybrid_search_memories.full_text_weight = 'Infinity' OR hybrid_search_memories.semantic_weight = 'Infinity' THEN
        RAISE EXCEPTION 'full_text_weight and semantic_weight must be finite, >= 0 and not both 0, got % and %',
            hybrid_search_memories.full_text_weight, hybrid_search_memories.semantic_weight USING ERRCODE = '22023';
    END IF;
    IF hybrid_search_memories.rrf_k IS NULL OR hybrid_search_memories.rrf_k < 1 THEN
        RAISE EXCEPTION 'rrf_k must be at least 1, got %', coalesce(hybrid_search_memories.rrf_k::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_candidates := least(hybrid_search_memories.match_count * 2, 1000);

    RETURN QUERY
    WITH semantic AS (
        SELECT s.id, row_number() OVER (ORDER BY s.similarity DESC, s.id) AS rank
        FROM memory.search_memories(hybrid_search_memories.query_embedding, hybrid_search_memories.query_user_id,
                                    v_candidates, hybrid_search_memories.metadata_filter, v_categories, 0) AS s
    ), full_text AS (
        SELECT ranked.id, row_number() OVER (ORDER BY ranked.text_rank DESC, ranked.id) AS rank
        FROM (
            SELECT m.id, ts_rank_cd(m.fts, q.query) AS text_rank
            FROM memory.memories AS m,
                 websearch_to_tsquery('english', hybrid_search_memories.query_text) AS q(query)
            WHERE m.user_id = hybrid_search_memories.query_user_id AND NOT m.is_deleted
              AND (m.expires_at IS NULL OR m.expires_at > now())
              AND m.fts @@ q.query
              AND (hybrid_search_memories.metadata_filter = '{}'::jsonb OR m.metadata @> hybrid_search_memories.metadata_filter)
              AND (cardinality(v_categories) = 0 OR m.categories && v_categories)
            ORDER BY text_rank DESC, m.id
            LIMIT v_candidates
        ) AS ranked
    )
    SELECT m.id, m.memory, m.metadata, m.categories,
           1 - (m.embedding <=> hybrid_search_memories.query_embedding),
           ft.rank, se.rank,
           coalesce(hybrid_search_memories.full_text_weight / (hybrid_search_memories.rrf_k + ft.rank), 0)
             + coalesce(hybrid_search_memories.semantic_weight / (hybrid_search_memories.rrf_k + se.rank), 0) AS fused,
           m.created_at, m.updated_at
    FROM semantic AS se
    FULL JOIN full_text AS ft ON ft.id = se.id
    JOIN memory.memories AS m ON m.id = coalesce(se.id, ft.id)
    ORDER BY fused DESC, m.id
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer)
    TO authenticated, service_role;

-- memory.add_memory(): Mem0's add, in SQL. Inserts through the deduplication trigger and returns
-- what happened: ADD (a new memory), or NOOP, UPDATE or MERGE of the existing memory it matched.
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
AS $$
DECLARE
    v_id uuid;
    v_result text;
BEGIN
    IF add_memory.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(add_memory.user_id) = '' THEN
        RAISE EXCEPTION 'user_id must not be empty' USING ERRCODE = '22023';
    END IF;
    IF add_memory.memory IS NULL THEN
        RAISE EXCEPTION 'memory must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM memory.check_embedding(add_memory.embedding, 'embedding');
    IF add_memory.metadata IS NOT NULL AND jsonb_typeof(add_memory.metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object, got %', jsonb_typeof(add_memory.metadata)
            USING ERRCODE = '22023';
    END IF;
    IF add_memory.expires_at IS NOT NULL AND add_memory.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', add_memory.expires_at USING ERRCODE = '22023';
    END IF;

    PERFORM set_config('memory.dedup_result', '', true);
    INSERT INTO memory.memories AS m (user_id, memory, embedding, metadata, categories, agent_id, run_id,
                                      memory_type, expires_at)
    VALUES (add_memory.user_id, add_memory.memory, add_memory.embedding, coalesce(add_memory.metadata, '{}'),
            coalesce(add_memory.categories, '{}'), add_memory.agent_id, add_memory.run_id,
            add_memory.memory_type, add_memory.expires_at)
    RETURNING m.id INTO v_id;

    IF v_id IS NOT NULL THEN
        RETURN QUERY SELECT v_id, 'ADD'::text;
    ELSE
        v_result := current_setting('memory.dedup_result', true);
        RETURN QUERY SELECT split_part(v_result, ' ', 1)::uuid, split_part(v_result, ' ', 2);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz)
    TO authenticated, service_role;

-- memory.get_memory(): one live memory by id (P0002 when it does not exist, is deleted, or belongs
-- to another user: row-level security makes those look the same).
CREATE OR REPLACE FUNCTION memory.get_memory(id uuid)
RETURNS SETOF memory.memory_record
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF get_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
    SELECT m.id, m.user_id, m.agent_id, m.run_id, m.memory, m.metadata, m.categories, m.memory_type, m.source,
           m.hash, m.relevance_score, m.access_count, m.last_accessed_at, m.version, m.expires_at,
           m.created_at, m.updated_at
    FROM memory.memories AS m
    WHERE m.id = get_memory.id AND NOT m.is_deleted;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory % not found', get_memory.id USING ERRCODE = 'P0002';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.get_memory(uuid) IS 'One live memory by id, without its embedding; P0002 when not found';
REVOKE ALL ON FUNCTION memory.get_memory(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.get_memory(uuid) TO authenticated, service_role;

-- memory.list_memories(): a user's live memories, newest first, one page at a time. Keyset
-- pagination on (created_at, id): pass the last row's created_at and id to get the next page.
-- Pages stay stable while memories are added (new ones sort before the first page), unlike OFFSET.
CREATE OR REPLACE FUNCTION memory.list_memories(
    user_id text,
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    after_created_at timestamptz DEFAULT NULL,
    after_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS SETOF memory.memory_record
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF list_memories.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF (list_memories.after_created_at IS NULL) <> (list_memories.after_id IS NULL) THEN
        RAISE EXCEPTION 'after_created_at and after_id form one cursor: give both or neither'
            USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(list_memories.page_size, 'page_size');
    RETURN QUERY
    SELECT m.id, m.user_id, m.agent_id, m.run_id, m.memory, m.metadata, m.categories, m.memory_type, m.source,
           m.hash, m.relevance_score, m.access_count, m.last_accessed_at, m.version, m.expires_at,
           m.created_at, m.updated_at
    FROM memory.memories AS m
    WHERE m.user_id = list_memories.user_id AND NOT m.is_deleted
      AND (list_memories.agent_id IS NULL OR m.agent_id = list_memories.agent_id)
      AND (list_memories.run_id IS NULL OR m.run_id = list_memories.run_id)
      AND (list_memories.after_created_at IS NULL
           OR (m.created_at, m.id) < (list_memories.after_created_at, list_memories.after_id))
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT list_memories.page_size;
END
$$;

COMMENT ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) IS
    'A page of a user''s live memories, newest first; keyset cursor (created_at, id)';
REVOKE ALL ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) TO authenticated, service_role;

-- memory.update_memory(): change a live memory in place. Arguments left NULL keep their value; a
-- new text needs its new embedding. Metadata and categories given replace the old ones. The
-- version goes up and the history trigger records an UPDATE.
CREATE OR REPLACE FUNCTION memory.update_memory(
    id uuid,
    memory text DEFAULT NULL,
    embedding vector DEFAULT NULL,
    metadata jsonb DEFAULT NULL,
    categories text[] DEFAULT NULL)
RETURNS TABLE (memory_id uuid, event text, version integer)
LANGUAGE plpgsql
VOLATILE
AS $$
#variable_conflict use_variable
DECLARE
    v_version integer;
BEGIN
    IF update_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF update_memory.memory IS NOT NULL AND update_memory.embedding IS NULL THEN
        RAISE EXCEPTION 'embedding must be given with a new memory text' USING ERRCODE = '22004';
    END IF;
    IF update_memory.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(update_memory.embedding, 'embedding');
    END IF;
    IF update_memory.metadata IS NOT NULL AND jsonb_typeof(update_memory.metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object, got %', jsonb_typeof(update_memory.metadata)
            USING ERRCODE = '22023';
    END IF;
    IF num_nonnulls(update_memory.memory, update_memory.embedding, update_memory.metadata, update_memory.categories) = 0 THEN
        RAISE EXCEPTION 'nothing to update: give memory and embedding, metadata or categories' USING ERRCODE = '22023';
    END IF;
    UPDATE memory.memories AS m SET
        memory = coalesce(update_memory.memory, m.memory),
        embedding = coalesce(update_memory.embedding, m.embedding),
        metadata = coalesce(update_memory.metadata, m.metadata),
        categories = coalesce(update_memory.categories, m.categories),
        version = m.version + 1
    WHERE m.id = update_memory.id AND NOT m.is_deleted
    RETURNING m.version INTO v_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory % not found', update_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY SELECT update_memory.id, 'UPDATE'::text, v_version;
END
$$;

COMMENT ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) IS
    'Changes a live memory in place (NULL keeps a value); version + 1 and a history row; P0002 when not found';
REVOKE ALL ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) TO authenticated, service_role;

-- memory.delete_memory() and memory.restore_memory(): soft delete and its undo. A deleted memory is
-- invisible to search, list and get, and is purged for good by cleanup_old_memories() after
-- purge_after. Restoring fails with 23505 when a live memory with the same text exists by then.
CREATE OR REPLACE FUNCTION memory.delete_memory(id uuid)
RETURNS TABLE (memory_id uuid, event text)
LANGUAGE plpgsql
VOLATILE
AS $$
#variable_conflict use_variable
BEGIN
    IF delete_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    UPDATE memory.memories AS m SET is_deleted = true, deleted_at = now()
    WHERE m.id = delete_memory.id AND NOT m.is_deleted;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory % not found', delete_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY SELECT delete_memory.id, 'DELETE'::text;
END
$$;

COMMENT ON FUNCTION memory.delete_memory(uuid) IS 'Soft-deletes a live memory; P0002 when not found';

CREATE OR REPLACE FUNCTION memory.restore_memory(id uuid)
RETURNS TABLE (memory_id uuid, event text)
LANGUAGE plpgsql
VOLATILE
AS $$
#variable_conflict use_variable
BEGIN
    IF restore_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    BEGIN
        UPDATE memory.memories AS m SET is_deleted = false, deleted_at = NULL
        WHERE m.id = restore_memory.id AND m.is_deleted;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'memory % cannot be restored: a live memory with the same text exists', restore_memory.id
            USING ERRCODE = '23505';
    END;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'deleted memory % not found', restore_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY SELECT restore_memory.id, 'RESTORE'::text;
END
$$;

COMMENT ON FUNCTION memory.restore_memory(uuid) IS 'Restores a soft-deleted memory; P0002 when not found, 23505 when a duplicate is live';
REVOKE ALL ON FUNCTION memory.delete_memory(uuid), memory.restore_memory(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.delete_memory(uuid), memory.restore_memory(uuid) TO authenticated, service_role;

-- memory.memory_history(id): what happened to one memory, oldest first (the table of the same name
-- holds the rows). P0002 when the memory does not exist or belongs to another user.
CREATE OR REPLACE FUNCTION memory.memory_history(memory_id uuid)
RETURNS SETOF memory.memory_history
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF memory_history.memory_id IS NULL THEN
        RAISE EXCEPTION 'memory_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = memory_history.memory_id) THEN
        RAISE EXCEPTION 'memory % not found', memory_history.memory_id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY
    SELECT h.* FROM memory.memory_history AS h
    WHERE h.memory_id = memory_history.memory_id
    ORDER BY h.created_at, h.id;
END
$$;

COMMENT ON FUNCTION memory.memory_history(uuid) IS 'History of one memory (ADD, UPDATE, MERGE, DELETE, RESTORE), oldest first';
REVOKE ALL ON FUNCTION memory.memory_history(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.memory_history(uuid) TO authenticated, service_role;

-- memory.touch_memories(): record that memories were used (for example the search results an
-- agent put into its prompt): relevance back to 1, access count + 1, last access now. Decay
-- measures time from here. Search itself has no side effects, so this is the application's call.
CREATE OR REPLACE FUNCTION memory.touch_memories(ids uuid[])
RETURNS integer
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_touched integer;
BEGIN
    IF touch_memories.ids IS NULL THEN
        RAISE EXCEPTION 'ids must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF cardinality(touch_memories.ids) > 1000 THEN
        RAISE EXCEPTION 'ids holds % ids; at most 1000 at a time', cardinality(touch_memories.ids) USING ERRCODE = '22023';
    END IF;
    UPDATE memory.memories AS m
    SET relevance_score = 1, access_count = m.access_count + 1, last_accessed_at = now()
    WHERE m.id = ANY (touch_memories.ids) AND NOT m.is_deleted;
    GET DIAGNOSTICS v_touched = ROW_COUNT;
    RETURN v_touched;
END
$$;

COMMENT ON FUNCTION memory.touch_memories(uuid[]) IS
    'Marks memories as used: relevance 1, access count + 1, last access now; returns how many';
REVOKE ALL ON FUNCTION memory.touch_memories(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.touch_memories(uuid[]) TO authenticated, service_role;

-- memory.decay_memories(): relevance halves every half_life since a memory was last accessed.
-- Each run multiplies by 0.5 ^ (time since the later of the last access and the last decay /
-- half_life) and stamps decayed_at, so running it hourly or daily gives the same curve:
-- relevance = relevance at last access * 0.5 ^ (time since last access / half_life).
-- Rows whose relevance would move by less than 0.0005 are left alone (no rewrite, no bloat).
CREATE OR REPLACE FUNCTION memory.decay_memories(half_life interval DEFAULT '30 days')
RETURNS integer
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_changed integer;
BEGIN
    IF decay_memories.half_life IS NULL OR decay_memories.half_life <= interval '0' THEN
        RAISE EXCEPTION 'half_life must be a positive interval, got %', coalesce(decay_memories.half_life::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    WITH decayed AS (
        SELECT m.id,
               m.relevance_score * power(0.5, extract(epoch FROM now() - greatest(m.last_accessed_at, coalesce(m.decayed_at, m.last_accessed_at)))
                                              / extract(epoch FROM decay_memories.half_life)) AS relevance
        FROM memory.memories AS m
        WHERE NOT m.is_deleted AND m.relevance_score > 0
    )
    UPDATE memory.memories AS m
    SET relevance_score = d.relevance, decayed_at = now()
    FROM decayed AS d
    WHERE m.id = d.id AND m.relevance_score - d.relevance >= 0.0005;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    RETURN v_changed;
END
$$;

COMMENT ON FUNCTION memory.decay_memories(interval) IS
    'Exponential decay of relevance since last access (half_life); returns the rows changed';
REVOKE ALL ON FUNCTION memory.decay_memories(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.decay_memories(interval) TO service_role;

-- memory.cleanup_old_memories(): forgetting, in two steps and in batches (SKIP LOCKED, so it never
-- waits for the application and can run from cron while users write):
--   1. soft-delete live memories created and last accessed more than `retention` ago whose
--      relevance fell below min_relevance (history records a DELETE);
--   2. purge (hard-delete, with their history) memories soft-deleted more than purge_after ago.
CREATE OR REPLACE FUNCTION memory.cleanup_old_memories(
    retention interval DEFAULT '365 days',
    min_relevance double precision DEFAULT 0.1,
    purge_after interval DEFAULT '30 days',
    batch_size integer DEFAULT 10000)
RETURNS TABLE (soft_deleted integer, purged integer)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_soft integer;
    v_purged integer;
BEGIN
    IF cleanup_old_memories.retention IS NULL OR cleanup_old_memories.retention <= interval '0' THEN
        RAISE EXCEPTION 'retention must be a positive interval' USING ERRCODE = '22023';
    END IF;
    IF cleanup_old_memories.purge_after IS NULL OR cleanup_old_memories.purge_after < interval '0' THEN
        RAISE EXCEPTION 'purge_after must be an interval >= 0' USING ERRCODE = '22023';
    END IF;
    IF cleanup_old_memories.min_relevance IS NULL OR NOT cleanup_old_memories.min_relevance BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'min_relevance must be between 0 and 1, got %',
            coalesce(cleanup_old_memories.min_relevance::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(cleanup_old_memories.batch_size, 'batch_size', 1000000);

    WITH victims AS (
        SELECT m.id FROM memory.memories AS m
        WHERE NOT m.is_deleted
          AND m.created_at < now() - cleanup_old_memories.retention
          AND m.last_accessed_at < now() - cleanup_old_memories.retention
          AND m.relevance_score < cleanup_old_memories.min_relevance
        ORDER BY m.last_accessed_at
        LIMIT cleanup_old_memories.batch_size
        FOR UPDATE SKIP LOCKED
    )
    UPDATE memory.memories AS m SET is_deleted = true, deleted_at = now()
    FROM victims AS v WHERE m.id = v.id;
    GET DIAGNOSTICS v_soft = ROW_COUNT;

    WITH doomed AS (
        SELECT m.id FROM memory.memories AS m
        WHERE m.is_deleted AND m.deleted_at < now() - cleanup_old_memories.purge_after
        ORDER BY m.deleted_at
        LIMIT cleanup_old_memories.batch_size
        FOR UPDATE SKIP LOCKED
    )
    DELETE FROM memory.memories AS m USING doomed AS d WHERE m.id = d.id;
    GET DIAGNOSTICS v_purged = ROW_COUNT;

    RETURN QUERY SELECT v_soft, v_purged;
END
$$;

COMMENT ON FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer) IS
    'Soft-deletes old, low-relevance, unused memories; purges long-deleted ones; returns both counts';
REVOKE ALL ON FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer) TO service_role;

-- memory.cleanup_expired_sessions(): deletes session memories past expires_at, and soft-deletes
-- long-term memories past theirs (they are purged later with the other deleted memories).
-- Returns how many rows of both kinds it removed.
CREATE OR REPLACE FUNCTION memory.cleanup_expired_sessions()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_sessions integer;
    v_memories integer;
BEGIN
    DELETE FROM memory.session_memories AS s WHERE s.expires_at <= now();
    GET DIAGNOSTICS v_sessions = ROW_COUNT;
    UPDATE memory.memories AS m SET is_deleted = true, deleted_at = now()
    WHERE NOT m.is_deleted AND m.expires_at <= now();
    GET DIAGNOSTICS v_memories = ROW_COUNT;
    RETURN v_sessions + v_memories;
END
$$;

COMMENT ON FUNCTION memory.cleanup_expired_sessions() IS
    'Deletes expired session memories and soft-deletes expired memories; returns the count';
REVOKE ALL ON FUNCTION memory.cleanup_expired_sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.cleanup_expired_sessions() TO service_role;

-- memory.analyze_memory_tables(): ANALYZE of the memory tables for service_role, which does not
-- own them (ANALYZE needs ownership, or PostgreSQL 17's MAINTAIN privilege). SECURITY DEFINER with
-- a pinned search_path; it takes no arguments and does nothing else.
CREATE OR REPLACE FUNCTION memory.analyze_memory_tables()
RETURNS text[]
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    ANALYZE memory.memories, memory.memory_history, memory.session_memories;
    RETURN ARRAY['memory.memories', 'memory.memory_history', 'memory.session_memories'];
END
$$;

COMMENT ON FUNCTION memory.analyze_memory_tables() IS 'ANALYZE of the memory tables (owner rights, for service_role)';
REVOKE ALL ON FUNCTION memory.analyze_memory_tables() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.analyze_memory_tables() TO service_role;

-- memory.maintain_memory_performance(): the periodic job, in one call: decay, expiry, cleanup,
-- then ANALYZE of the memory tables so the planner's row estimates follow the deletions.
-- VACUUM cannot run inside a function; `mempg maintain` runs VACUUM (ANALYZE) after this.
CREATE OR REPLACE FUNCTION memory.maintain_memory_performance()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_decayed integer;
    v_expired integer;
    v_cleanup record;
    v_analyzed text[];
BEGIN
    v_decayed := memory.decay_memories();
    v_expired := memory.cleanup_expired_sessions();
    SELECT * INTO v_cleanup FROM memory.cleanup_old_memories();
    v_analyzed := memory.analyze_memory_tables();
    RETURN jsonb_build_object(
        'decayed', v_decayed,
        'expired', v_expired,
        'soft_deleted', v_cleanup.soft_deleted,
        'purged', v_cleanup.purged,
        'analyzed', to_jsonb(v_analyzed),
        'duration_ms', round(extract(epoch FROM clock_timestamp() - v_started) * 1000));
END
$$;

COMMENT ON FUNCTION memory.maintain_memory_performance() IS
    'Decay, expiry, cleanup and ANALYZE of the memory tables; returns a jsonb report';
REVOKE ALL ON FUNCTION memory.maintain_memory_performance() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.maintain_memory_performance() TO service_role;

-- Trigger memories_10_normalize (BEFORE INSERT OR UPDATE; runs first, names are ordered on purpose):
-- categories are normalised on every write; an all-zero embedding is refused before deduplication
-- sees it (its cosine similarity is NaN and would silently disable dedup); a change of text or
-- embedding bumps version unless the writer already did; updated_at follows content changes.
CREATE OR REPLACE FUNCTION memory.normalize_memory()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.categories := memory.normalize_categories(coalesce(NEW.categories, '{}'));
    IF NEW.embedding IS NOT NULL AND vector_norm(NEW.embedding) = 0 THEN
        RAISE EXCEPTION 'embedding must not be all zeros (cosine similarity with it is undefined)'
            USING ERRCODE = '23514', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.memory IS DISTINCT FROM OLD.memory OR NEW.embedding IS DISTINCT FROM OLD.embedding)
           AND NEW.version = OLD.version THEN
            NEW.version := OLD.version + 1;
        END IF;
        IF (NEW.memory, NEW.metadata, NEW.categories, NEW.version, NEW.is_deleted, NEW.expires_at)
           IS DISTINCT FROM (OLD.memory, OLD.metadata, OLD.categories, OLD.version, OLD.is_deleted, OLD.expires_at)
        THEN
            NEW.updated_at := now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.normalize_memory() IS
    'Trigger: normalises categories, refuses zero embeddings, bumps version on content change';
REVOKE ALL ON FUNCTION memory.normalize_memory() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_10_normalize ON memory.memories;
CREATE TRIGGER memories_10_normalize
    BEFORE INSERT OR UPDATE ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.normalize_memory();

-- Trigger memories_20_deduplicate (BEFORE INSERT): a plain INSERT from psql is deduplicated too.
-- Within one user and agent (NULL agent is its own scope), in this order:
--   same normalised text     -> NOOP: the existing memory's relevance and last access are
--                               refreshed, metadata merged (new keys win), categories unioned;
--   cosine >= replace (0.98) -> UPDATE: the existing memory takes the new text and embedding;
--   cosine >= merge (0.95)   -> MERGE: it keeps its text; categories and metadata are merged;
--   otherwise                -> ADD: the new row is inserted.
-- NOOP, UPDATE and MERGE cancel the insert (INSERT 0 0) and leave '<id> <event>' in the
-- transaction-local setting memory.dedup_result, which memory.add_memory() returns.
-- Concurrency: a transaction-level advisory lock per (user, agent) serialises writers of one scope,
-- and each query below takes a fresh snapshot (READ COMMITTED), so the second of two concurrent
-- inserts sees the first once it commits. The unique index on (user, agent, hash) of live rows is
-- the backstop for the exact path (under REPEATABLE READ it raises 23505 rather than duplicate).
-- Plans are custom (plan_cache_mode), and the hash is computed once into a variable: PL/pgSQL's
-- cached generic plan looked the hash up through the user_id index, filtering the user's rows and
-- calling text_hash() on each (4.6 ms per insert at 400 memories, measured), instead of one probe
-- of the unique index.
CREATE OR REPLACE FUNCTION memory.deduplicate_memories()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_custom_plan'
AS $$
DECLARE
    v_settings memory.settings;
    v_hash text := memory.text_hash(NEW.memory);
    v_existing_id uuid;
    v_similarity double precision;
    v_event text;
BEGIN
    IF NEW.is_deleted THEN
        RETURN NEW;  -- restoring history (a dump, an import): nothing to compare with
    END IF;
    PERFORM pg_advisory_xact_lock(memory.scope_lock_key(NEW.user_id, NEW.agent_id));
    SELECT * INTO v_settings FROM memory.settings;

    SELECT m.id INTO v_existing_id
    FROM memory.memories AS m
    WHERE m.user_id = NEW.user_id AND coalesce(m.agent_id, '') = coalesce(NEW.agent_id, '')
      AND m.hash = v_hash AND NOT m.is_deleted
    FOR UPDATE;

    IF FOUND THEN
        v_event := 'NOOP';
    ELSE
        SELECT n.id, n.similarity INTO v_existing_id, v_similarity
        FROM memory.nearest_memory(NEW.embedding, NEW.user_id, NEW.agent_id) AS n;
        IF v_similarity >= v_settings.replace_threshold THEN
            v_event := 'UPDATE';
        ELSIF v_similarity >= v_settings.merge_threshold THEN
            v_event := 'MERGE';
        ELSE
            PERFORM set_config('memory.dedup_result', NEW.id::text || ' ADD', true);
            RETURN NEW;
        END IF;
    END IF;

    PERFORM set_config('memory.dedup_event', v_event, true);  -- read by the history trigger
    UPDATE memory.memories AS m SET
        memory = CASE WHEN v_event = 'UPDATE' THEN NEW.memory ELSE m.memory END,
        embedding = CASE WHEN v_event = 'UPDATE' THEN NEW.embedding ELSE m.embedding END,
        version = CASE WHEN v_event = 'NOOP' THEN m.version ELSE m.version + 1 END,
        metadata = m.metadata || NEW.metadata,
        categories = m.categories || NEW.categories,
        relevance_score = greatest(m.relevance_score, NEW.relevance_score),
        access_count = m.access_count + 1,
        last_accessed_at = now(),
        expires_at = CASE WHEN m.expires_at IS NULL OR NEW.expires_at IS NULL THEN NULL
                          ELSE greatest(m.expires_at, NEW.expires_at) END
    WHERE m.id = v_existing_id;
    PERFORM set_config('memory.dedup_event', '', true);
    PERFORM set_config('memory.dedup_result', v_existing_id::text || ' ' || v_event, true);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.deduplicate_memories() IS
    'Trigger: turns an INSERT into NOOP, UPDATE or MERGE of an existing memory of the same user and agent';
REVOKE ALL ON FUNCTION memory.deduplicate_memories() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_20_deduplicate ON memory.memories;
CREATE TRIGGER memories_20_deduplicate
    BEFORE INSERT ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.deduplicate_memories();

-- Trigger memories_30_history (AFTER INSERT OR UPDATE): one memory_history row per ADD, UPDATE,
-- MERGE, DELETE and RESTORE, in the same transaction, with the database role and the app user.
-- The deduplication trigger names its event (memory.dedup_event); other updates are classified
-- from the row: is_deleted flipping is DELETE or RESTORE, a new version is UPDATE, and changes
-- that are not content (relevance, access counts) write nothing.
CREATE OR REPLACE FUNCTION memory.record_memory_history()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_event text := nullif(current_setting('memory.dedup_event', true), '');
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_event := 'ADD';
    ELSIF v_event = 'NOOP' THEN
        RETURN NULL;
    ELSIF v_event IS NULL THEN
        v_event := CASE
            WHEN NOT OLD.is_deleted AND NEW.is_deleted THEN 'DELETE'
            WHEN OLD.is_deleted AND NOT NEW.is_deleted THEN 'RESTORE'
            WHEN NEW.version <> OLD.version THEN 'UPDATE'
        END;
        IF v_event IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO memory.memory_history (memory_id, user_id, event, old_memory, new_memory, old_version, new_version)
    VALUES (NEW.id, NEW.user_id, v_event,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.memory END, NEW.memory,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.version END, NEW.version);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.record_memory_history() IS
    'Trigger: writes memory_history rows for ADD, UPDATE, MERGE, DELETE and RESTORE';
REVOKE ALL ON FUNCTION memory.record_memory_history() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_30_history ON memory.memories;
CREATE TRIGGER memories_30_history
    AFTER INSERT OR UPDATE ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.record_memory_history();

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
