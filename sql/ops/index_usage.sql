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
WHERE n.nspname = ANY (ops.project_schemas());

COMMENT ON VIEW ops.index_usage IS 'Scans and size per index, with unused, duplicate and invalid indexes flagged';
