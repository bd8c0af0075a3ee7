-- 0008_one_definition_per_rule rollback: the definitions as 0006 left them, then the functions
-- 0008 added are dropped (after everything that called them is back to its old text).
SET LOCAL search_path = pg_catalog, extensions, public;

-- sql/ops/table_stats.sql as 0006 left it
-- ops.table_stats: per table of the project's schemas: live and dead tuples, dead ratio, the last
-- manual and automatic vacuum and analyze, and total size (table, TOAST and indexes).
CREATE OR REPLACE VIEW ops.table_stats AS
SELECT s.schemaname AS schema_name,
       s.relname AS table_name,
       s.n_live_tup AS live_tuples,
       s.n_dead_tup AS dead_tuples,
       round(s.n_dead_tup::numeric / nullif(s.n_live_tup + s.n_dead_tup, 0), 4) AS dead_ratio,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       s.vacuum_count + s.autovacuum_count AS vacuums,
       pg_total_relation_size(s.relid) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(s.relid)) AS total_size,
       coalesce(c.reloptions, '{}') AS options
FROM pg_catalog.pg_stat_user_tables AS s
JOIN pg_catalog.pg_class AS c ON c.oid = s.relid
WHERE s.schemaname IN ('memory', 'app', 'travel', 'ops', 'mempg');

COMMENT ON VIEW ops.table_stats IS 'Tuples, dead ratio, vacuum and analyze times and size per table of mempg''s schemas';

-- sql/ops/index_usage.sql as 0006 left it
-- ops.index_usage: per index of the project's schemas: scans, size, and three findings: unused (never
-- scanned, and not enforcing a constraint), duplicate (same table, columns, operator classes,
-- expressions and predicate as another index), invalid (indisvalid false, e.g. left by a failed
-- CREATE INDEX CONCURRENTLY: it is maintained on every write but never used).
CREATE OR REPLACE VIEW ops.index_usage AS
SELECT n.nspname AS schema_name,
       t.relname AS table_name,
       c.relname AS index_name,
       am.amname AS access_method,
       coalesce(s.idx_scan, 0) AS scans,
       pg_relation_size(c.oid) AS index_bytes,
       pg_size_pretty(pg_relation_size(c.oid)) AS index_size,
       (coalesce(s.idx_scan, 0) = 0 AND NOT i.indisunique AND NOT i.indisprimary
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS k WHERE k.conindid = c.oid)) AS is_unused,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index AS o
               WHERE o.indrelid = i.indrelid AND o.indexrelid <> i.indexrelid
                 AND o.indkey::text = i.indkey::text AND o.indclass::text = i.indclass::text
                 AND coalesce(pg_get_expr(o.indexprs, o.indrelid), '') = coalesce(pg_get_expr(i.indexprs, i.indrelid), '')
                 AND coalesce(pg_get_expr(o.indpred, o.indrelid), '') = coalesce(pg_get_expr(i.indpred, i.indrelid), '')) AS is_duplicate,
       NOT i.indisvalid AS is_invalid,
       pg_get_indexdef(c.oid) AS definition
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class AS t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
LEFT JOIN pg_catalog.pg_stat_user_indexes AS s ON s.indexrelid = c.oid
WHERE n.nspname IN ('memory', 'app', 'travel', 'ops', 'mempg');

COMMENT ON VIEW ops.index_usage IS 'Scans and size per index, with unused, duplicate and invalid indexes flagged';

-- sql/ops/capacity_estimate.sql as 0006 left it
-- ops.capacity_estimate(): size per table and per index of the project's schemas, growth per day
-- from the rows created in the last 30 days (tables with created_at), and the size projected at
-- 6 and 12 months at that rate. An index grows with its table's rows. Tables the caller cannot
-- read (and the runner's own schema mempg) are left out.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION ops.capacity_estimate()
RETURNS TABLE (relation text, kind text, row_count bigint, bytes bigint, rows_per_day numeric, bytes_per_day numeric,
               bytes_in_6_months bigint, bytes_in_12_months bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_table record;
    v_rows bigint;
    v_recent bigint;
    v_rate numeric;
BEGIN
    FOR v_table IN
        SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name,
               EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                       WHERE a.attrelid = c.oid AND a.attname = 'created_at' AND NOT a.attisdropped) AS has_created_at
        FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('memory', 'app', 'travel', 'ops')
          AND has_table_privilege(c.oid, 'SELECT')
        ORDER BY 2
    LOOP
        EXECUTE format('SELECT count(*) FROM %s', v_table.name) INTO v_rows;
        v_rate := NULL;
        IF v_table.has_created_at THEN
            EXECUTE format('SELECT count(*) FROM %s WHERE created_at > now() - interval ''30 days''', v_table.name)
                INTO v_recent;
            v_rate := round(v_recent / 30.0, 2);
        END IF;
        RETURN QUERY
        SELECT r.name, r.kind, v_rows, r.bytes,
               v_rate,
               round(coalesce(v_rate * r.bytes / greatest(v_rows, 1), 0), 0),
               (r.bytes + coalesce(v_rate * r.bytes / greatest(v_rows, 1), 0) * 182)::bigint,
               (r.bytes + coalesce(v_rate * r.bytes / greatest(v_rows, 1), 0) * 365)::bigint
        FROM (
            SELECT v_table.name AS name, 'table'::text AS kind, pg_table_size(v_table.oid) AS bytes
            UNION ALL
            SELECT format('%I.%I', n.nspname, ic.relname), 'index', pg_relation_size(ic.oid)
            FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
            JOIN pg_catalog.pg_namespace AS n ON n.oid = ic.relnamespace
            WHERE i.indrelid = v_table.oid
        ) AS r;
    END LOOP;
END
$$;

COMMENT ON FUNCTION ops.capacity_estimate() IS
    'Size per table and index, growth per day over the last 30 days, projection at 6 and 12 months';
REVOKE ALL ON FUNCTION ops.capacity_estimate() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.capacity_estimate() TO service_role;

-- sql/ops/vector_index_health.sql as 0006 left it
-- ops.recommended_vector_parameters(): index parameters for a row count. HNSW: m and
-- ef_construction grow with the data (more links keep recall as the graph grows; 16 / 128 up to
-- about a million rows: at pgvector's default 64 some rows become unreachable, see 0002), ef_search
-- with them. IVFFlat: lists about
-- rows / 1000 up to 1M rows and sqrt(rows) above (pgvector's guidance), probes about sqrt(lists).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION ops.recommended_vector_parameters(access_method text, indexed_rows bigint)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE recommended_vector_parameters.access_method
        WHEN 'hnsw' THEN CASE
            WHEN recommended_vector_parameters.indexed_rows < 1000000 THEN '{"m": 16, "ef_construction": 128, "ef_search": 200}'::jsonb
            WHEN recommended_vector_parameters.indexed_rows < 10000000 THEN '{"m": 24, "ef_construction": 128, "ef_search": 200}'::jsonb
            ELSE '{"m": 32, "ef_construction": 200, "ef_search": 400}'::jsonb END
        WHEN 'ivfflat' THEN jsonb_build_object(
            'lists', lists, 'probes', greatest(1, round(sqrt(lists))::integer))
        ELSE '{}'::jsonb
    END
    FROM (SELECT greatest(10, CASE WHEN recommended_vector_parameters.indexed_rows <= 1000000
                                   THEN recommended_vector_parameters.indexed_rows / 1000
                                   ELSE round(sqrt(recommended_vector_parameters.indexed_rows)) END)::integer AS lists) AS l
$$;

COMMENT ON FUNCTION ops.recommended_vector_parameters(text, bigint) IS
    'Recommended HNSW (m, ef_construction, ef_search) or IVFFlat (lists, probes) parameters for a row count';

-- ops.vector_index_health(): every vector index of the project's schemas: access method, rows,
-- size, the parameters it was built with, those recommended for its row count, whether it should be
-- rebuilt (built for a much smaller table), and, for the memories index, a recall estimate:
-- memory.search_memories against exact search for `recall_sample` memories picked at random, each
-- used as a query for its own user.
CREATE OR REPLACE FUNCTION ops.vector_index_health(recall_sample integer DEFAULT 10)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text, indexed_rows bigint,
               index_bytes bigint, build_parameters jsonb, recommended_parameters jsonb, needs_rebuild boolean,
               estimated_recall double precision)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_index record;
    v_build jsonb;
    v_recommended jsonb;
    v_rows bigint;
    v_recall double precision;
BEGIN
    IF vector_index_health.recall_sample IS NULL OR vector_index_health.recall_sample NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'recall_sample must be between 0 and 1000, got %',
            coalesce(vector_index_health.recall_sample::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    FOR v_index IN
        SELECT n.nspname, t.relname AS table_name, c.relname, am.amname, c.oid AS index_oid, t.oid AS table_oid,
               c.reltuples AS index_tuples, t.reltuples AS table_tuples, coalesce(c.reloptions, '{}') AS options
        FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
        JOIN pg_catalog.pg_class AS t ON t.oid = i.indrelid
        JOIN pg_catalog.pg_namespace AS n ON n.oid = t.relnamespace
        JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
        WHERE am.amname IN ('hnsw', 'ivfflat', 'diskann') AND n.nspname IN ('memory', 'app', 'travel', 'ops')
        ORDER BY 1, 2, 3
    LOOP
        v_rows := greatest(CASE WHEN v_index.index_tuples >= 0 THEN v_index.index_tuples ELSE v_index.table_tuples END, 0)::bigint;
        v_build := (SELECT coalesce(jsonb_object_agg(split_part(o, '=', 1), split_part(o, '=', 2)::numeric), '{}')
                    FROM unnest(v_index.options) AS o);
        v_build := CASE v_index.amname
            WHEN 'hnsw' THEN '{"m": 16, "ef_construction": 64}'::jsonb || v_build
            WHEN 'ivfflat' THEN '{"lists": 100}'::jsonb || v_build
            ELSE v_build END;
        v_recommended := ops.recommended_vector_parameters(v_index.amname, v_rows);
        v_recall := NULL;
        IF v_index.table_oid = 'memory.memories'::regclass AND vector_index_health.recall_sample > 0 THEN
            SELECT avg(overlap) INTO v_recall
            FROM (
                SELECT s.user_id, s.embedding FROM memory.memories AS s
                WHERE NOT s.is_deleted ORDER BY random() LIMIT vector_index_health.recall_sample
            ) AS q,
            LATERAL (
                SELECT count(*) FILTER (WHERE a.id IS NOT NULL)::double precision / greatest(count(*), 1) AS overlap
                FROM memory.search_memories_exact(q.embedding, q.user_id, 10, '{}', '{}', 0) AS e
                LEFT JOIN memory.search_memories(q.embedding, q.user_id, 10, '{}', '{}', 0) AS a USING (id)
            ) AS r;
        END IF;
        RETURN QUERY SELECT v_index.nspname::text, v_index.table_name::text, v_index.relname::text, v_index.amname::text,
            v_rows, pg_relation_size(v_index.index_oid), v_build, v_recommended,
            CASE v_index.amname
                WHEN 'hnsw' THEN (v_build ->> 'm')::numeric < (v_recommended ->> 'm')::numeric
                              OR (v_build ->> 'ef_construction')::numeric < (v_recommended ->> 'ef_construction')::numeric
                WHEN 'ivfflat' THEN v_rows >= 10000
                    AND NOT (v_build ->> 'lists')::numeric BETWEEN (v_recommended ->> 'lists')::numeric / 2
                                                             AND (v_recommended ->> 'lists')::numeric * 2
                ELSE false END,
            v_recall;
    END LOOP;
END
$$;

COMMENT ON FUNCTION ops.vector_index_health(integer) IS
    'Vector indexes: rows, size, build and recommended parameters, rebuild advice, sampled recall of search_memories';
REVOKE ALL ON FUNCTION ops.recommended_vector_parameters(text, bigint), ops.vector_index_health(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.recommended_vector_parameters(text, bigint), ops.vector_index_health(integer) TO service_role;

-- sql/memory/search_paths.sql as 0006 left it
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
-- Thresholds compare through memory.meets_threshold(): a NaN similarity is never a match.
-- An empty metadata filter is skipped explicitly: `metadata @> '{}'` matches every row, yet the
-- planner answered it with a scan of the whole GIN index (18 ms per call at 28,000 rows, measured
-- in the benchmark), on every search and every deduplicated insert.
-- Without filters it counts from the btree alone (an index-only scan): the generic plan of one
-- query serving both cases read every counted row from the heap (3,000 pages, 25 ms cold, for a
-- heavy user), as the filter columns live there.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means. (Left unpinned and inlinable, with its
-- operator qualified, search_memories_exact was no faster: 1.03x either way, measured.)
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
SET search_path = pg_catalog, extensions, pg_temp
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
SET hnsw.ef_search = '100'
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
    WHERE memory.meets_threshold(1 - c.distance, search_memories_ann.similarity_threshold)
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
SET search_path = pg_catalog, extensions, pg_temp
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
    memory.nearest_memory(vector, text, text), memory.has_ann_index() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.nearest_memory(vector, text, text), memory.has_ann_index() TO authenticated, service_role;

-- sql/memory/search_memories.sql as 0006 left it
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
    v_bound integer;
    v_max_id_chars integer;
BEGIN
    PERFORM memory.check_embedding(search_memories.query_embedding, 'query_embedding');
    SELECT s.exact_search_max_rows, s.max_id_chars INTO v_bound, v_max_id_chars FROM memory.settings AS s;
    PERFORM memory.check_label(search_memories.query_user_id, 'query_user_id', v_max_id_chars, true);
    PERFORM memory.check_count(search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(search_memories.metadata_filter, search_memories.category_filter);
    IF search_memories.similarity_threshold IS NULL OR NOT search_memories.similarity_threshold BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'similarity_threshold must be between 0 and 1, got %',
            coalesce(search_memories.similarity_threshold::text, 'NULL') USING ERRCODE = '22023';
    END IF;

    v_categories := memory.normalize_categories(search_memories.category_filter);
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

-- sql/memory/hybrid_search_memories.sql as 0006 left it
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
            WHERE m.user_id = hybrid_search_memories.query_user_id AND NOT m.is_deleted
              AND (m.expires_at IS NULL OR m.expires_at > now())
              AND m.fts @@ q.query
              AND (hybrid_search_memories.metadata_filter = '{}'::jsonb OR m.metadata @> hybrid_search_memories.metadata_filter)
              AND (cardinality(v_categories) = 0 OR m.categories && v_categories)
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

-- sql/memory/get_memory.sql as 0006 left it
-- memory.get_memory(): one live memory by id (P0002 when it does not exist, is deleted, or belongs
-- to another user: row-level security makes those look the same).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.get_memory(id uuid)
RETURNS SETOF memory.memory_record
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
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

-- sql/memory/list_memories.sql as 0006 left it
-- memory.list_memories(): a user's live memories, newest first, one page at a time. Keyset
-- pagination on (created_at, id): pass the last row's created_at and id to get the next page.
-- Pages stay stable while memories are added (new ones sort before the first page), unlike OFFSET.
-- Identifiers are checked as add_memory checks them: an empty agent_id is refused, not a filter
-- that matches nothing.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
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
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max_id_chars integer;
BEGIN
    SELECT s.max_id_chars INTO v_max_id_chars FROM memory.settings AS s;
    PERFORM memory.check_label(list_memories.user_id, 'user_id', v_max_id_chars, true);
    PERFORM memory.check_label(list_memories.agent_id, 'agent_id', v_max_id_chars);
    PERFORM memory.check_label(list_memories.run_id, 'run_id', v_max_id_chars);
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

-- sql/memory/update_memory.sql as 0006 left it
-- memory.update_memory(): change a live memory in place. Arguments left NULL keep their value; a
-- new text needs its new embedding. Metadata and categories given replace the old ones. The
-- version goes up and the history trigger records an UPDATE. Arguments are checked with the same
-- rules as add_memory's (check_arguments.sql) before the memory is looked up. A new text that
-- another live memory of the same user and agent already holds is refused (23505), naming it.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.update_memory(
    id uuid,
    memory text DEFAULT NULL,
    embedding vector DEFAULT NULL,
    metadata jsonb DEFAULT NULL,
    categories text[] DEFAULT NULL)
RETURNS TABLE (memory_id uuid, event text, version integer)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_version integer;
    v_settings memory.settings;
    v_duplicate_id uuid;
BEGIN
    IF update_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF update_memory.memory IS NOT NULL AND update_memory.embedding IS NULL THEN
        RAISE EXCEPTION 'embedding must be given with a new memory text' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_label(update_memory.memory, 'memory', v_settings.max_memory_chars);
    IF update_memory.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(update_memory.embedding, 'embedding');
    END IF;
    IF update_memory.metadata IS NOT NULL THEN
        PERFORM memory.check_metadata(update_memory.metadata, 'metadata', v_settings.max_metadata_bytes,
                                      v_settings.max_metadata_depth);
    END IF;
    IF update_memory.categories IS NOT NULL THEN
        PERFORM memory.check_categories(memory.normalize_categories(update_memory.categories), 'categories',
                                        v_settings.max_categories, v_settings.max_category_chars);
    END IF;
    IF num_nonnulls(update_memory.memory, update_memory.embedding, update_memory.metadata, update_memory.categories) = 0 THEN
        RAISE EXCEPTION 'nothing to update: give memory and embedding, metadata or categories' USING ERRCODE = '22023';
    END IF;
    IF update_memory.memory IS NOT NULL THEN
        SELECT other.id INTO v_duplicate_id
        FROM memory.memories AS target
        JOIN memory.memories AS other
          ON other.user_id = target.user_id AND coalesce(other.agent_id, '') = coalesce(target.agent_id, '')
         AND other.hash = memory.text_hash(update_memory.memory) AND NOT other.is_deleted AND other.id <> target.id
        WHERE target.id = update_memory.id AND NOT target.is_deleted;
        IF FOUND THEN
            RAISE EXCEPTION 'memory % already holds this text; delete one of the two, or update that one',
                v_duplicate_id USING ERRCODE = '23505';
        END IF;
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
    'Changes a live memory in place (NULL keeps a value); version + 1 and a history row; P0002 when not found, 23505 for a duplicate text';
REVOKE ALL ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) TO authenticated, service_role;

-- sql/memory/add_memory.sql as 0006 left it
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
    v_id uuid;
    v_result text;
    v_constraint text;
BEGIN
    -- checked here too: the INSERT casts to the column's vector(D) before any trigger could
    PERFORM memory.check_embedding(add_memory.embedding, 'embedding');
    IF add_memory.expires_at IS NOT NULL AND add_memory.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', add_memory.expires_at USING ERRCODE = '22023';
    END IF;

    PERFORM set_config('memory.dedup_result', '', true);
    IF current_setting('transaction_isolation') = 'read committed' THEN
        v_id := memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                     add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                     add_memory.run_id, add_memory.memory_type, add_memory.expires_at);
    ELSE
        BEGIN
            v_id := memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
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

-- sql/memory/deduplicate_memories.sql as 0006 left it
-- Trigger memories_20_deduplicate (BEFORE INSERT): a plain INSERT from psql is deduplicated too.
-- Within one user and agent (NULL agent is its own scope), in this order:
--   same normalised text     -> NOOP: metadata merged (new keys win), categories unioned, and the
--                               existing memory's relevance and last access refreshed;
--   cosine >= replace (0.98) -> UPDATE: the existing memory takes the new text and embedding;
--   cosine >= merge (0.95)   -> MERGE: it keeps its text; categories and metadata are merged;
--   otherwise                -> ADD: the new row is inserted.
-- The row was checked by memories_10_normalize first, and a merged result is checked against the
-- same bounds before it is written. Similarities compare through memory.meets_threshold (NaN never
-- matches), and a memory stored before 0005 with an unusable embedding is never matched: its
-- similarity with anything is NaN or, once pgvector clamps an infinite ratio, exactly 1. NOOP, UPDATE and MERGE cancel the insert (INSERT 0 0) and leave '<id> <event>' in the
-- transaction-local setting memory.dedup_result, which memory.add_memory() returns.
-- Concurrency: a transaction-level advisory lock per (user, agent) serialises writers of one scope;
-- under READ COMMITTED each query below takes a fresh snapshot, so the second of two concurrent
-- inserts sees the first once it commits. The matched row is not locked while deciding: if a
-- concurrent transaction deletes it meanwhile, the update finds no live row and the insert goes
-- ahead as an ADD. Under REPEATABLE READ and SERIALIZABLE, a NOOP that changes nothing but the
-- access bookkeeping (relevance, access count, last access) skips that bookkeeping when another
-- transaction changed the row after this one's snapshot, instead of failing with 40001: access
-- statistics are best effort there, the memory itself is never lost. A NOOP that merges new
-- metadata or categories is a real write and conflicts as PostgreSQL's isolation levels say.
-- Plans are custom (plan_cache_mode), and the hash is computed once into a variable: PL/pgSQL's
-- cached generic plan looked the hash up through the user_id index instead of one probe of the
-- unique index.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.deduplicate_memories()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_custom_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
    v_hash text := memory.text_hash(NEW.memory);
    v_existing_id uuid;
    v_similarity double precision;
    v_event text;
    v_old_metadata jsonb;
    v_old_categories text[];
    v_old_expires_at timestamptz;
    v_metadata jsonb;
    v_categories text[];
    v_expires_at timestamptz;
    v_updated integer;
BEGIN
    IF NEW.is_deleted THEN
        RETURN NEW;  -- restoring history (a dump, an import): nothing to compare with
    END IF;
    PERFORM pg_advisory_xact_lock(memory.scope_lock_key(NEW.user_id, NEW.agent_id));
    SELECT * INTO v_settings FROM memory.settings;

    SELECT m.id INTO v_existing_id
    FROM memory.memories AS m
    WHERE m.user_id = NEW.user_id AND coalesce(m.agent_id, '') = coalesce(NEW.agent_id, '')
      AND m.hash = v_hash AND NOT m.is_deleted;

    IF FOUND THEN
        v_event := 'NOOP';
    ELSE
        SELECT n.id, n.similarity INTO v_existing_id, v_similarity
        FROM memory.nearest_memory(NEW.embedding, NEW.user_id, NEW.agent_id) AS n;
        IF NOT memory.meets_threshold(v_similarity, v_settings.merge_threshold)
           OR NOT (SELECT memory.embedding_is_usable(m.embedding) FROM memory.memories AS m WHERE m.id = v_existing_id)
        THEN
            v_event := 'ADD';
        ELSIF memory.meets_threshold(v_similarity, v_settings.replace_threshold) THEN
            v_event := 'UPDATE';
        ELSE
            v_event := 'MERGE';
        END IF;
        IF v_event = 'ADD' THEN
            PERFORM set_config('memory.dedup_result', NEW.id::text || ' ADD', true);
            RETURN NEW;
        END IF;
    END IF;

    SELECT m.metadata, m.categories, m.expires_at INTO v_old_metadata, v_old_categories, v_old_expires_at
    FROM memory.memories AS m WHERE m.id = v_existing_id;
    v_metadata := v_old_metadata || NEW.metadata;
    v_categories := memory.normalize_categories(v_old_categories || NEW.categories);
    v_expires_at := CASE WHEN v_old_expires_at IS NULL OR NEW.expires_at IS NULL THEN NULL
                         ELSE greatest(v_old_expires_at, NEW.expires_at) END;
    PERFORM memory.check_metadata(v_metadata, format('metadata (merged into memory %s)', v_existing_id),
                                  v_settings.max_metadata_bytes, v_settings.max_metadata_depth);
    PERFORM memory.check_categories(v_categories, format('categories (merged into memory %s)', v_existing_id),
                                    v_settings.max_categories, v_settings.max_category_chars);

    IF v_event = 'NOOP' AND v_metadata = v_old_metadata AND v_categories = v_old_categories
       AND v_expires_at IS NOT DISTINCT FROM v_old_expires_at THEN
        v_updated := memory.record_duplicate_access(v_existing_id, NEW.relevance_score);
    ELSE
        PERFORM set_config('memory.dedup_event', v_event, true);  -- read by the history trigger
        UPDATE memory.memories AS m SET
            memory = CASE WHEN v_event = 'UPDATE' THEN NEW.memory ELSE m.memory END,
            embedding = CASE WHEN v_event = 'UPDATE' THEN NEW.embedding ELSE m.embedding END,
            version = CASE WHEN v_event = 'NOOP' THEN m.version ELSE m.version + 1 END,
            metadata = v_metadata,
            categories = v_categories,
            relevance_score = greatest(m.relevance_score, NEW.relevance_score),
            access_count = m.access_count + 1,
            last_accessed_at = now(),
            expires_at = v_expires_at
        WHERE m.id = v_existing_id AND NOT m.is_deleted;
        GET DIAGNOSTICS v_updated = ROW_COUNT;
        PERFORM set_config('memory.dedup_event', '', true);
    END IF;
    IF v_updated = 0 THEN  -- deleted by a concurrent transaction since we looked: add the new one
        PERFORM set_config('memory.dedup_result', NEW.id::text || ' ADD', true);
        RETURN NEW;
    END IF;
    PERFORM set_config('memory.dedup_result', v_existing_id::text || ' ' || v_event, true);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.deduplicate_memories() IS
    'Trigger: turns an INSERT into NOOP, UPDATE or MERGE of an existing memory of the same user and agent';
REVOKE ALL ON FUNCTION memory.deduplicate_memories() FROM PUBLIC;

-- memory.record_duplicate_access(): the bookkeeping of a NOOP that brings nothing new: relevance
-- back up, access count + 1, last access now. Returns 1, or 0 when the memory is no longer live.
-- Under REPEATABLE READ and SERIALIZABLE a row changed by another transaction after this one's
-- snapshot cannot be updated (40001); the bookkeeping is then skipped (the memory is there: 1),
-- in a subtransaction taken only at those levels (READ COMMITTED pays for none).
CREATE OR REPLACE FUNCTION memory.bump_access(id uuid, relevance double precision)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH bumped AS (
        UPDATE memory.memories AS m
        SET relevance_score = greatest(m.relevance_score, bump_access.relevance),
            access_count = m.access_count + 1, last_accessed_at = now()
        WHERE m.id = bump_access.id AND NOT m.is_deleted
        RETURNING 1
    )
    SELECT count(*)::integer FROM bumped
$$;

COMMENT ON FUNCTION memory.bump_access(uuid, double precision) IS
    'Relevance up to at least the given one, access count + 1, last access now; 1 if the memory is live, else 0';

CREATE OR REPLACE FUNCTION memory.record_duplicate_access(id uuid, relevance double precision)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        RETURN memory.bump_access(record_duplicate_access.id, record_duplicate_access.relevance);
    END IF;
    BEGIN
        RETURN memory.bump_access(record_duplicate_access.id, record_duplicate_access.relevance);
    EXCEPTION WHEN serialization_failure THEN
        RETURN 1;  -- changed after our snapshot by another transaction: skip the bookkeeping
    END;
END
$$;

COMMENT ON FUNCTION memory.record_duplicate_access(uuid, double precision) IS
    'NOOP bookkeeping (bump_access); skipped on a serialization conflict under REPEATABLE READ / SERIALIZABLE';
REVOKE ALL ON FUNCTION memory.bump_access(uuid, double precision),
    memory.record_duplicate_access(uuid, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.bump_access(uuid, double precision),
    memory.record_duplicate_access(uuid, double precision) TO authenticated, service_role;

DROP TRIGGER IF EXISTS memories_20_deduplicate ON memory.memories;
CREATE TRIGGER memories_20_deduplicate
    BEFORE INSERT ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.deduplicate_memories();

-- sql/memory/record_memory_history.sql as 0006 left it
-- Trigger memories_30_history (AFTER INSERT OR UPDATE): one memory_history row per ADD, UPDATE,
-- MERGE, DELETE and RESTORE, in the same transaction, with the database role and the app user.
-- The deduplication trigger names its event (memory.dedup_event); other updates are classified
-- from the row: is_deleted flipping is DELETE or RESTORE, a new version is UPDATE, and changes
-- that are not content (relevance, access counts) write nothing.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.record_memory_history()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
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

-- sql/mempg/settings.sql as 0006 left it
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

DROP FUNCTION mempg.request_embedding_dim(text);
DROP FUNCTION memory.takes_exact_path(text, jsonb, text[]);
DROP FUNCTION memory.dedup_event();
DROP FUNCTION memory.set_dedup_event(text);
DROP FUNCTION memory.dedup_outcome();
DROP FUNCTION memory.set_dedup_outcome(uuid, text);
DROP FUNCTION memory.matches_filters(jsonb, text[], jsonb, text[]);
DROP FUNCTION memory.same_agent(text, text);
DROP FUNCTION memory.is_live(boolean, timestamptz);
DROP FUNCTION ops.project_schemas();
