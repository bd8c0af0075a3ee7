-- ops.health_report(): everything above in one jsonb document, and a 0-100 score: 100 minus a
-- named deduction per finding. A finding's severity (warning or critical) gives the overall
-- status that `mempg health` turns into its exit code. Unused indexes are listed but cost no
-- points: on a young database every index is unused. Quota refusals (ops.quota_refusals) and the
-- ten users closest to their limits (ops.quota_pressure) are listed too, and cost no points:
-- refusing is the limits doing their job.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION ops.health_report(recall_sample integer DEFAULT 5)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
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
        'capacity', (SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]') FROM ops.capacity_estimate() AS c),
        'quota_refusals', (SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.kind, r.operation), '[]') FROM ops.quota_refusals AS r),
        'quota_pressure', (SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]')
                           FROM (SELECT * FROM ops.quota_pressure LIMIT 10) AS p));
END
$$;

COMMENT ON FUNCTION ops.health_report(integer) IS
    'All health views and functions as jsonb, with a 0-100 score and each deduction named';
REVOKE ALL ON FUNCTION ops.health_report(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.health_report(integer) TO service_role;
