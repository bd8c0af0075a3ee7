-- 0004_operations: health and monitoring in SQL (schema ops), for service_role: database health
-- with thresholds, table and index statistics, slow queries, vector index health with a recall
-- estimate, capacity projections and a scored report; and autovacuum settings for the tables
-- that churn. Every view and function below is also in sql/ops/, with the same text.

CREATE TABLE ops.thresholds (
    metric          text PRIMARY KEY,
    warning         numeric NOT NULL,
    critical        numeric NOT NULL,
    higher_is_worse boolean NOT NULL,
    description     text NOT NULL,
    CONSTRAINT ordered CHECK (CASE WHEN higher_is_worse THEN critical >= warning ELSE critical <= warning END)
);
COMMENT ON TABLE ops.thresholds IS 'Warning and critical thresholds of the health metrics; UPDATE to tune';
INSERT INTO ops.thresholds (metric, warning, critical, higher_is_worse, description) VALUES
    ('connections_used_ratio', 0.80, 0.95, true, 'connections in use / max_connections'),
    ('cache_hit_ratio', 0.95, 0.90, false, 'shared buffer hits / (hits + reads); judged from 10,000 block accesses on'),
    ('oldest_xid_age', 500000000, 1500000000, true, 'age of datfrozenxid; wraparound protection stops writes near 2^31'),
    ('long_running_queries', 1, 5, true, 'client queries active longer than settings.long_running_seconds'),
    ('idle_in_transaction_sessions', 1, 5, true, 'sessions idle in a transaction longer than settings.idle_in_transaction_seconds'),
    ('replication_lag_bytes', 104857600, 1073741824, true, 'WAL bytes the slowest replica has not replayed'),
    ('dead_tuple_ratio', 0.20, 0.50, true, 'dead / (live + dead) tuples of a table with at least settings.dead_tuples_min dead');

CREATE TABLE ops.settings (
    key         text PRIMARY KEY,
    value       numeric NOT NULL CHECK (value >= 0),
    description text NOT NULL
);
COMMENT ON TABLE ops.settings IS 'Parameters of the health checks; UPDATE to tune';
INSERT INTO ops.settings (key, value, description) VALUES
    ('long_running_seconds', 300, 'a query active this long counts as long-running'),
    ('idle_in_transaction_seconds', 60, 'a session idle in a transaction this long is counted'),
    ('dead_tuples_min', 1000, 'tables with fewer dead tuples are not judged by their dead ratio');

-- Autovacuum for the tables that churn. PostgreSQL's default waits for 20% of a table to be dead
-- (scale factor 0.2) before vacuuming: on a large memories table that is millions of dead rows
-- kept in the HNSW index and scanned by every search. At 5% (and analyze at 2%) vacuum and fresh
-- statistics come four times sooner; inserts-only tables (audit log, chat messages) get the same
-- for their insert threshold, so their visibility map stays current for index-only scans.
ALTER TABLE memory.memories SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02,
                                 autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE memory.session_memories SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE app.chat_messages SET (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE app.audit_log SET (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);


-- ops.session_states() and ops.replica_lag(): the parts of pg_stat_activity and
-- pg_stat_replication that health checks need. PostgreSQL shows other sessions' state and the
-- replicas' positions only to privileged roles, so these are SECURITY DEFINER; they return no
-- query text, user or client address, only states and times, to service_role only.
CREATE OR REPLACE FUNCTION ops.session_states()
RETURNS TABLE (backend_type text, state text, query_start timestamptz, state_change timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.backend_type, a.state, a.query_start, a.state_change
    FROM pg_catalog.pg_stat_activity AS a
    WHERE a.pid <> pg_catalog.pg_backend_pid()
$$;

COMMENT ON FUNCTION ops.session_states() IS 'Every other session''s type, state and times (no query text), for health checks';

CREATE OR REPLACE FUNCTION ops.replica_lag()
RETURNS TABLE (replicas bigint, max_lag_bytes numeric)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*), max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn))
    FROM pg_catalog.pg_stat_replication AS r
$$;

COMMENT ON FUNCTION ops.replica_lag() IS 'Connected replicas and the WAL bytes the slowest has not replayed';
REVOKE ALL ON FUNCTION ops.session_states(), ops.replica_lag() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.session_states(), ops.replica_lag() TO service_role;

-- ops.database_health: one row per health metric of the current database, with its value, the
-- thresholds from ops.thresholds, and a status ok / warning / critical. Replication lag appears
-- only when replicas are connected; the cache hit ratio once 10,000 blocks were read (NULL and ok
-- before: a young database has read little). Session states come from ops.session_states(); the
-- view shows counts and ages only, never query text or user data, and only service_role may read it.
CREATE OR REPLACE VIEW ops.database_health AS
WITH metrics AS (  -- every arm names its columns, so a dump and restore deparses it the same
    SELECT 'connections_used_ratio' AS metric,
           round((SELECT count(*) + 1 FROM ops.session_states())::numeric
                 / current_setting('max_connections')::numeric, 4) AS value,
           (SELECT string_agg(state || ': ' || n, ', ' ORDER BY state)
            FROM (SELECT coalesce(a.state, 'background') AS state, count(*) AS n
                  FROM ops.session_states() AS a GROUP BY 1) AS s)
             || ' of max_connections ' || current_setting('max_connections') AS detail
    UNION ALL
    SELECT 'cache_hit_ratio' AS metric,
           CASE WHEN d.blks_hit + d.blks_read >= 10000
                THEN round(d.blks_hit::numeric / (d.blks_hit + d.blks_read), 4) END AS value,
           d.blks_hit || ' buffer hits, ' || d.blks_read || ' reads since ' || coalesce(d.stats_reset::text, 'server start') AS detail
    FROM pg_catalog.pg_stat_database AS d WHERE d.datname = current_database()
    UNION ALL
    SELECT 'oldest_xid_age' AS metric, age(d.datfrozenxid)::numeric AS value,
           'transactions since datfrozenxid (wraparound at 2^31)' AS detail
    FROM pg_catalog.pg_database AS d WHERE d.datname = current_database()
    UNION ALL
    SELECT 'long_running_queries' AS metric, count(*)::numeric AS value,
           'active for more than ' || (SELECT s.value FROM ops.settings AS s WHERE s.key = 'long_running_seconds') || ' s' AS detail
    FROM ops.session_states() AS a
    WHERE a.state = 'active' AND a.backend_type = 'client backend'
      AND a.query_start < now() - make_interval(secs => (SELECT s.value FROM ops.settings AS s WHERE s.key = 'long_running_seconds'))
    UNION ALL
    SELECT 'idle_in_transaction_sessions' AS metric, count(*)::numeric AS value,
           'idle in transaction for more than ' || (SELECT s.value FROM ops.settings AS s WHERE s.key = 'idle_in_transaction_seconds') || ' s' AS detail
    FROM ops.session_states() AS a
    WHERE a.state LIKE 'idle in transaction%'
      AND a.state_change < now() - make_interval(secs => (SELECT s.value FROM ops.settings AS s WHERE s.key = 'idle_in_transaction_seconds'))
    UNION ALL
    SELECT 'replication_lag_bytes' AS metric, r.max_lag_bytes AS value, r.replicas || ' replica(s)' AS detail
    FROM ops.replica_lag() AS r
    WHERE r.replicas > 0
)
SELECT m.metric, m.value, t.warning, t.critical,
       CASE WHEN t.higher_is_worse AND m.value >= t.critical THEN 'critical'
            WHEN t.higher_is_worse AND m.value >= t.warning THEN 'warning'
            WHEN NOT t.higher_is_worse AND m.value <= t.critical THEN 'critical'
            WHEN NOT t.higher_is_worse AND m.value <= t.warning THEN 'warning'
            ELSE 'ok' END AS status,
       m.detail, t.description
FROM metrics AS m JOIN ops.thresholds AS t USING (metric);

COMMENT ON VIEW ops.database_health IS 'Health metrics of this database with status ok / warning / critical (thresholds in ops.thresholds)';

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

-- ops.slow_queries(): the statements with the highest mean time from pg_stat_statements (when it
-- is installed; otherwise no rows and a NOTICE saying how to get it). SECURITY DEFINER so that
-- service_role sees every statement's text, which pg_stat_statements shows only to privileged
-- roles; executable by service_role only, with a pinned search_path.
CREATE OR REPLACE FUNCTION ops.slow_queries(min_mean_ms double precision DEFAULT 100, max_rows integer DEFAULT 20)
RETURNS TABLE (query text, calls bigint, mean_ms double precision, max_ms double precision,
               total_ms double precision, rows_per_call double precision, cache_hit_ratio double precision)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema text;
BEGIN
    IF slow_queries.min_mean_ms IS NULL OR slow_queries.min_mean_ms < 0 OR slow_queries.min_mean_ms = 'NaN' THEN
        RAISE EXCEPTION 'min_mean_ms must be >= 0, got %', coalesce(slow_queries.min_mean_ms::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF slow_queries.max_rows IS NULL OR slow_queries.max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, got %', coalesce(slow_queries.max_rows::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT e.extnamespace::regnamespace::text INTO v_schema FROM pg_extension AS e WHERE e.extname = 'pg_stat_statements';
    IF v_schema IS NULL THEN
        RAISE NOTICE 'pg_stat_statements is not installed: add it to shared_preload_libraries and CREATE EXTENSION pg_stat_statements';
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT s.query, s.calls, s.mean_exec_time, s.max_exec_time, s.total_exec_time,
                s.rows::double precision / nullif(s.calls, 0),
                s.shared_blks_hit::double precision / nullif(s.shared_blks_hit + s.shared_blks_read, 0)
         FROM %I.pg_stat_statements AS s
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND s.mean_exec_time >= $1
         ORDER BY s.mean_exec_time DESC
         LIMIT $2', v_schema)
    USING slow_queries.min_mean_ms, slow_queries.max_rows;
END
$$;

COMMENT ON FUNCTION ops.slow_queries(double precision, integer) IS
    'Slowest statements by mean time from pg_stat_statements; no rows and a NOTICE without it';
REVOKE ALL ON FUNCTION ops.slow_queries(double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.slow_queries(double precision, integer) TO service_role;

-- ops.recommended_vector_parameters(): index parameters for a row count. HNSW: m and
-- ef_construction grow with the data (more links keep recall as the graph grows; 16 / 128 up to
-- about a million rows: at pgvector's default 64 some rows become unreachable, see 0002), ef_search
-- with them. IVFFlat: lists about
-- rows / 1000 up to 1M rows and sqrt(rows) above (pgvector's guidance), probes about sqrt(lists).
CREATE OR REPLACE FUNCTION ops.recommended_vector_parameters(access_method text, indexed_rows bigint)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
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

-- ops.capacity_estimate(): size per table and per index of the project's schemas, growth per day
-- from the rows created in the last 30 days (tables with created_at), and the size projected at
-- 6 and 12 months at that rate. An index grows with its table's rows. Tables the caller cannot
-- read (and the runner's own schema mempg) are left out.
CREATE OR REPLACE FUNCTION ops.capacity_estimate()
RETURNS TABLE (relation text, kind text, row_count bigint, bytes bigint, rows_per_day numeric, bytes_per_day numeric,
               bytes_in_6_months bigint, bytes_in_12_months bigint)
LANGUAGE plpgsql
VOLATILE
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

-- ops.health_report(): everything above in one jsonb document, and a 0-100 score: 100 minus a
-- named deduction per finding. A finding's severity (warning or critical) gives the overall
-- status that `mempg health` turns into its exit code. Unused indexes are listed but cost no
-- points: on a young database every index is unused.
CREATE OR REPLACE FUNCTION ops.health_report(recall_sample integer DEFAULT 5)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_deductions jsonb := '[]';
    v_finding record;
    v_dead_warning numeric := (SELECT t.warning FROM ops.thresholds AS t WHERE t.metric = 'dead_tuple_ratio');
    v_dead_critical numeric := (SELECT t.critical FROM ops.thresholds AS t WHERE t.metric = 'dead_tuple_ratio');
    v_dead_minimum numeric := (SELECT s.value FROM ops.settings AS s WHERE s.key = 'dead_tuples_min');
    v_vectors jsonb;
    v_score integer;
BEGIN
    PERFORM pg_catalog.pg_stat_clear_snapshot();  -- read current statistics, not this transaction's cached copy
    SELECT coalesce(jsonb_agg(to_jsonb(v)), '[]') INTO v_vectors FROM ops.vector_index_health(health_report.recall_sample) AS v;
    FOR v_finding IN
        SELECT format('database %s is %s (%s)', h.metric, h.status, h.value) AS reason, h.status AS severity,
               CASE h.status WHEN 'critical' THEN 20 ELSE 5 END AS points
        FROM ops.database_health AS h WHERE h.status <> 'ok'
        UNION ALL
        SELECT format('table %s.%s has %s dead tuples (ratio %s)', s.schema_name, s.table_name, s.dead_tuples, s.dead_ratio),
               CASE WHEN s.dead_ratio >= v_dead_critical THEN 'critical' ELSE 'warning' END,
               CASE WHEN s.dead_ratio >= v_dead_critical THEN 10 ELSE 5 END
        FROM ops.table_stats AS s WHERE s.dead_ratio >= v_dead_warning AND s.dead_tuples >= v_dead_minimum
        UNION ALL
        SELECT format('index %s.%s is invalid (maintained on every write, never used): drop or rebuild it',
                      i.schema_name, i.index_name), 'warning', 15
        FROM ops.index_usage AS i WHERE i.is_invalid
        UNION ALL
        SELECT format('index %s.%s duplicates another index', i.schema_name, i.index_name), 'warning', 3
        FROM ops.index_usage AS i WHERE i.is_duplicate
        UNION ALL
        SELECT format('vector index %s.%s was built for fewer rows: rebuild with %s', v ->> 'schema_name',
                      v ->> 'index_name', v -> 'recommended_parameters'), 'warning', 5
        FROM jsonb_array_elements(v_vectors) AS v WHERE (v ->> 'needs_rebuild')::boolean
        UNION ALL
        SELECT format('search_memories recall estimate is %s', round((v ->> 'estimated_recall')::numeric, 3)), 'warning', 10
        FROM jsonb_array_elements(v_vectors) AS v WHERE (v ->> 'estimated_recall')::numeric < 0.9
    LOOP
        v_deductions := v_deductions || jsonb_build_object('reason', v_finding.reason, 'severity', v_finding.severity,
                                                           'points', v_finding.points);
    END LOOP;
    v_score := greatest(0, 100 - coalesce((SELECT sum((d ->> 'points')::integer) FROM jsonb_array_elements(v_deductions) AS d), 0));
    RETURN jsonb_build_object(
        'generated_at', now(),
        'database', current_database(),
        'score', v_score,
        'status', CASE WHEN v_deductions @> '[{"severity": "critical"}]' THEN 'critical'
                       WHEN jsonb_array_length(v_deductions) > 0 THEN 'warning' ELSE 'ok' END,
        'deductions', v_deductions,
        'database_health', (SELECT coalesce(jsonb_agg(to_jsonb(h)), '[]') FROM ops.database_health AS h),
        'table_stats', (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.schema_name, s.table_name), '[]') FROM ops.table_stats AS s),
        'index_usage', (SELECT coalesce(jsonb_agg(to_jsonb(i) ORDER BY i.schema_name, i.index_name), '[]') FROM ops.index_usage AS i),
        'slow_queries', (SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]') FROM ops.slow_queries() AS q),
        'vector_indexes', v_vectors,
        'capacity', (SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]') FROM ops.capacity_estimate() AS c));
END
$$;

COMMENT ON FUNCTION ops.health_report(integer) IS
    'All health views and functions as jsonb, with a 0-100 score and each deduction named';
REVOKE ALL ON FUNCTION ops.health_report(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.health_report(integer) TO service_role;

-- Privileges of schema ops: service_role only. Nothing here is granted to authenticated or anon.
REVOKE ALL ON ALL TABLES IN SCHEMA ops FROM PUBLIC, anon, authenticated;
GRANT SELECT ON ops.database_health, ops.table_stats, ops.index_usage, ops.thresholds, ops.settings TO service_role;
GRANT UPDATE ON ops.thresholds, ops.settings TO service_role;
