-- ops.wal_archiving(): continuous archiving, for point-in-time recovery. pending_segments counts
-- the WAL files waiting for archive_command / archive_library (their .ready files): while the
-- archiver fails, it grows, and everything in those files is missing from the archive. The counts
-- and the last failure come from pg_stat_archiver. SECURITY DEFINER: listing pg_wal/archive_status
-- is for privileged roles; only file names and counts are returned.
CREATE OR REPLACE FUNCTION ops.wal_archiving()
RETURNS TABLE (archive_mode text, pending_segments bigint, archived_count bigint, failed_count bigint,
               last_archived_wal text, last_archived_at timestamptz, last_failed_wal text, last_failed_at timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.current_setting('archive_mode'),
           (SELECT count(*) FROM pg_catalog.pg_ls_archive_statusdir() AS f WHERE f.name LIKE '%.ready'),
           a.archived_count, a.failed_count, a.last_archived_wal, a.last_archived_time,
           a.last_failed_wal, a.last_failed_time
    FROM pg_catalog.pg_stat_archiver AS a
$$;

COMMENT ON FUNCTION ops.wal_archiving() IS
    'WAL archiving: mode, segments waiting to be archived, archived and failed counts, last success and failure';
REVOKE ALL ON FUNCTION ops.wal_archiving() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.wal_archiving() TO service_role;
