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
        WHERE am.amname IN ('hnsw', 'ivfflat', 'diskann') AND n.nspname = ANY (ops.project_schemas())
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
                FROM memory.search_memories_exact(q.embedding::vector, q.user_id, 10, '{}', '{}', 0) AS e
                LEFT JOIN memory.search_memories(q.embedding::vector, q.user_id, 10, '{}', '{}', 0) AS a USING (id)
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
