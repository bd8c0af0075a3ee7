-- Performance metrics (agent.metrics): append-only samples (user, component, metric_type, a JSON
-- object of named numbers, recorded_at), range-partitioned by recorded_at into one partition per
-- UTC day, agent.metrics_pYYYYMMDD. Partitions are created ahead (agent.settings.
-- metric_partitions_ahead days, and yesterday for late samples) and dropped whole once their day
-- is older than agent.settings.metric_retention, by agent.maintain_metric_partitions(), which
-- `mempg maintain` calls (agent.maintain_agent_data()). There is no default partition: a sample
-- outside every partition is refused (23514) rather than parked where retention cannot drop it.
-- Writes: COPY agent.metrics FROM STDIN as service_role (a collector; COPY FROM is not allowed
-- where row-level security applies), or agent.record_metric() / INSERT as the user.
-- Reads: the index (user_id, component, recorded_at DESC) INCLUDE (metrics) answers "this
-- component over the last hour" from the index alone once the pages are all-visible (insert-only
-- partitions are vacuumed after 5% new rows for that); agent.metric_percentiles(from, to) gives
-- p50 and p95 of every numeric metric per component and hour, pruned to the partitions of the
-- window, and the view agent.metric_percentiles_hourly the same over every partition.
-- search_path is pinned on every function here, so a caller's own search_path never changes what
-- a name means.
CREATE OR REPLACE FUNCTION agent.record_metric(
    user_id text,
    component text,
    metric_type text,
    metrics jsonb,
    recorded_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'component', 'metric_type'],
                                    ARRAY[record_metric.user_id, record_metric.component, record_metric.metric_type],
                                    ARRAY['user_id', 'component', 'metric_type']);
    IF record_metric.metrics IS NULL THEN
        RAISE EXCEPTION 'metrics must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(record_metric.metrics) <> 'object' THEN
        RAISE EXCEPTION 'metrics must be a JSON object, got %', jsonb_typeof(record_metric.metrics) USING ERRCODE = '22023';
    END IF;
    IF octet_length(record_metric.metrics::text) > 2000 THEN
        RAISE EXCEPTION 'metrics is % bytes as JSON text; at most 2000 are allowed (it is stored in the index too)',
            octet_length(record_metric.metrics::text) USING ERRCODE = '22001';
    END IF;
    INSERT INTO agent.metrics (user_id, component, metric_type, metrics, recorded_at)
    VALUES (record_metric.user_id, record_metric.component, record_metric.metric_type, record_metric.metrics,
            coalesce(record_metric.recorded_at, now()));
END
$$;

COMMENT ON FUNCTION agent.record_metric(text, text, text, jsonb, timestamptz) IS
    'Records one metrics sample (a JSON object of named numbers) of a component';

-- agent.metric_partition_name(): the partition of a UTC day.
CREATE OR REPLACE FUNCTION agent.metric_partition_name(day date)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT 'metrics_p' || to_char(metric_partition_name.day, 'YYYYMMDD')
$$;

COMMENT ON FUNCTION agent.metric_partition_name(date) IS 'Name of the agent.metrics partition of a UTC day';

-- agent.maintain_metric_partitions(): creates the partitions from the day before `at` to
-- metric_partitions_ahead days after it, and drops those whose whole day lies before
-- at - metric_retention. A partition is created empty and attached (SHARE UPDATE EXCLUSIVE on
-- agent.metrics: inserts go on), with row-level security on, forced, and no grants: it is
-- read and written through agent.metrics only. A drop takes ACCESS EXCLUSIVE on agent.metrics
-- for a moment; lock_timeout (5 s) keeps it from queueing writers behind a long reader.
-- SECURITY DEFINER: only the owner of agent.metrics may create and drop its partitions;
-- granted to service_role alone.
CREATE OR REPLACE FUNCTION agent.maintain_metric_partitions(at timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET lock_timeout = '5s'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_settings agent.settings;
    v_today date := (maintain_metric_partitions.at AT TIME ZONE 'UTC')::date;
    v_name text;
    v_created text[] := '{}';
    v_dropped text[] := '{}';
    v_day date;
BEGIN
    IF maintain_metric_partitions.at IS NULL OR NOT isfinite(maintain_metric_partitions.at) THEN
        RAISE EXCEPTION 'at must be a finite time, got %', coalesce(maintain_metric_partitions.at::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_settings FROM agent.settings;
    FOR v_day IN SELECT d::date FROM generate_series(v_today - 1, v_today + v_settings.metric_partitions_ahead,
                                                     interval '1 day') AS d LOOP
        v_name := agent.metric_partition_name(v_day);
        CONTINUE WHEN to_regclass(format('agent.%I', v_name)) IS NOT NULL;
        EXECUTE format('CREATE TABLE agent.%I (LIKE agent.metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
                       ' WITH (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05)',
                       v_name);
        EXECUTE format('ALTER TABLE agent.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', v_name);
        EXECUTE format('REVOKE ALL ON agent.%I FROM PUBLIC', v_name);
        EXECUTE format('ALTER TABLE agent.metrics ATTACH PARTITION agent.%I FOR VALUES FROM (%L) TO (%L)', v_name,
                       (v_day::timestamp AT TIME ZONE 'UTC'), ((v_day + 1)::timestamp AT TIME ZONE 'UTC'));
        v_created := v_created || v_name;
    END LOOP;
    FOR v_name IN
        SELECT c.relname FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'agent.metrics'::regclass AND c.relname ~ '^metrics_p[0-9]{8}$'
          AND (to_date(substr(c.relname, 10), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
              <= maintain_metric_partitions.at - v_settings.metric_retention
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE agent.%I', v_name);
        v_dropped := v_dropped || v_name;
    END LOOP;
    RETURN jsonb_build_object('created', to_jsonb(v_created), 'dropped', to_jsonb(v_dropped));
END
$$;

COMMENT ON FUNCTION agent.maintain_metric_partitions(timestamptz) IS
    'Creates agent.metrics partitions ahead of `at` and drops those older than the retention; {created, dropped}';

-- agent.metric_percentiles(): p50 and p95 (continuous) of every numeric metric of the samples
-- recorded in [from_time, to_time), per user, component, metric type, metric and hour (UTC).
-- The bounds prune the partitions; a component narrows to its index range.
CREATE OR REPLACE FUNCTION agent.metric_percentiles(from_time timestamptz, to_time timestamptz,
                                                    component text DEFAULT NULL)
RETURNS TABLE (user_id text, component text, metric_type text, metric text, hour timestamptz, samples bigint,
               p50 double precision, p95 double precision, max double precision)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT m.user_id, m.component, m.metric_type, v.key,
           date_trunc('hour', m.recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY v.value::double precision),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY v.value::double precision), max(v.value::double precision)
    FROM agent.metrics AS m
    CROSS JOIN LATERAL jsonb_each(m.metrics) AS v
    WHERE m.recorded_at >= metric_percentiles.from_time AND m.recorded_at < metric_percentiles.to_time
      AND (metric_percentiles.component IS NULL OR m.component = metric_percentiles.component)
      AND jsonb_typeof(v.value) = 'number'
    GROUP BY 1, 2, 3, 4, 5
$$;

COMMENT ON FUNCTION agent.metric_percentiles(timestamptz, timestamptz, text) IS
    'p50/p95/max of each numeric metric per user, component, type and UTC hour in [from_time, to_time)';

CREATE OR REPLACE VIEW agent.metric_percentiles_hourly WITH (security_invoker = true) AS
SELECT p.user_id, p.component, p.metric_type, p.metric, p.hour, p.samples, p.p50, p.p95, p.max
FROM agent.metric_percentiles('-infinity', 'infinity') AS p;

COMMENT ON VIEW agent.metric_percentiles_hourly IS
    'p50/p95/max of each numeric metric per user, component, type and UTC hour, over every partition';

-- agent.maintain_agent_data(): the agent schema's part of `mempg maintain`: the metric
-- partitions, and the ingestions whose last lease expired.
CREATE OR REPLACE FUNCTION agent.maintain_agent_data()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    RETURN agent.maintain_metric_partitions()
           || jsonb_build_object('expired_ingestions', agent.expire_ingestion_leases());
END
$$;

COMMENT ON FUNCTION agent.maintain_agent_data() IS
    'Maintenance of the agent schema: metric partitions ahead and retention, expired ingestion leases';

REVOKE ALL ON FUNCTION agent.record_metric(text, text, text, jsonb, timestamptz), agent.metric_partition_name(date),
    agent.maintain_metric_partitions(timestamptz), agent.metric_percentiles(timestamptz, timestamptz, text),
    agent.maintain_agent_data() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.record_metric(text, text, text, jsonb, timestamptz), agent.metric_partition_name(date),
    agent.metric_percentiles(timestamptz, timestamptz, text) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION agent.maintain_metric_partitions(timestamptz), agent.maintain_agent_data() TO service_role;
REVOKE ALL ON agent.metric_percentiles_hourly FROM PUBLIC, anon;
GRANT SELECT ON agent.metric_percentiles_hourly TO authenticated, service_role;
