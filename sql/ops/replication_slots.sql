-- ops.replication_slots(): the WAL that replication slots hold back. A slot keeps every WAL file
-- its consumer has not confirmed, so a standby that is gone but whose slot remains fills the disk
-- of the primary; this is the number to watch (the largest retention, and how many slots are
-- inactive).
CREATE OR REPLACE FUNCTION ops.replication_slots()
RETURNS TABLE (slots bigint, inactive bigint, max_retained_bytes numeric)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*),
           count(*) FILTER (WHERE NOT s.active),
           max(pg_catalog.pg_wal_lsn_diff(
                   CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
                        ELSE pg_catalog.pg_current_wal_lsn() END,
                   s.restart_lsn))
    FROM pg_catalog.pg_replication_slots AS s
$$;

COMMENT ON FUNCTION ops.replication_slots() IS
    'Replication slots, how many are inactive, and the most WAL one of them retains (bytes)';
REVOKE ALL ON FUNCTION ops.replication_slots() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.replication_slots() TO service_role;
