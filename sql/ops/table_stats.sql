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
WHERE s.schemaname = ANY (ops.project_schemas());

COMMENT ON VIEW ops.table_stats IS 'Tuples, dead ratio, vacuum and analyze times and size per table of mempg''s schemas';
