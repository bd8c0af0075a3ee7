-- Privileges of schema ops: service_role only. Nothing here is granted to authenticated or anon.
REVOKE ALL ON ALL TABLES IN SCHEMA ops FROM PUBLIC, anon, authenticated;
GRANT SELECT ON ops.database_health, ops.table_stats, ops.index_usage, ops.thresholds, ops.settings,
    ops.quota_pressure, ops.quota_refusals TO service_role;
GRANT UPDATE ON ops.thresholds, ops.settings TO service_role;
