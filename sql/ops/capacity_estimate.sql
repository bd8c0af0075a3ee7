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
        WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (ops.project_schemas())
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
