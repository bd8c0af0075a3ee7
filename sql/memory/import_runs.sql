-- Import runs (0016): each `mempg import` is one row of memory.import_runs, and every record it
-- wrote is one row of memory.import_sources, keyed by the source and the record's id there. That
-- key makes an import idempotent and resumable: a record already imported from the same source
-- (for the same user) is skipped, so re-running an import adds nothing and re-running an
-- interrupted one carries on after the last committed batch.
-- memory.start_import(source_kind, source_name) opens a run; memory.finish_import(run, report,
-- failed) closes it, storing the report and a checksum of what the run wrote: sha256 over the
-- sha256 of each record, in the order of its kind, user and source id, as kind, user, source id
-- and event, a memory with its text hash and version (never a generated id), so two databases
-- that took the same import give the same checksum. One 32-byte digest a record is aggregated,
-- which stays far below PostgreSQL's 1 GB value limit for tens of millions of records.
-- One run of a source at a time: start_import takes a session advisory lock on the source
-- (55P03 when another session holds it), which finish_import, or the session's end, releases.
-- Imports are administrative: these functions and tables are for service_role (the runner), not
-- for the application's role.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.import_lock_key(source_kind text, source_name text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT hashtextextended('mempg import ' || import_lock_key.source_kind || ' ' || import_lock_key.source_name, 0)
$$;

COMMENT ON FUNCTION memory.import_lock_key(text, text) IS 'The advisory lock key of one import source';

CREATE OR REPLACE FUNCTION memory.start_import(source_kind text, source_name text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF start_import.source_kind IS NULL OR start_import.source_kind !~ '^[a-z][a-z0-9_-]{0,31}$' THEN
        RAISE EXCEPTION 'source_kind must be a short lower-case name, got %', start_import.source_kind
            USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_label(start_import.source_name, 'source_name', 1000, true);
    IF NOT pg_try_advisory_lock(memory.import_lock_key(start_import.source_kind, start_import.source_name)) THEN
        RAISE EXCEPTION 'another import of % % is running', start_import.source_kind, start_import.source_name
            USING ERRCODE = '55P03', HINT = 'wait for it to finish (or for its session to end), then run this one again';
    END IF;
    INSERT INTO memory.import_runs (source_kind, source_name)
    VALUES (start_import.source_kind, start_import.source_name)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION memory.start_import(text, text) IS 'Opens an import run; returns its id';

CREATE OR REPLACE FUNCTION memory.import_checksum(run_id bigint)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT encode(sha256(coalesce(string_agg(sha256(convert_to(
               concat_ws(' ', s.record_kind, s.user_id, s.source_id, s.event, m.hash, m.version), 'UTF8')), ''
               ORDER BY s.record_kind, s.user_id, s.source_id), '')), 'hex')
    FROM memory.import_sources AS s
    LEFT JOIN memory.memories AS m ON s.record_kind = 'memory' AND m.id = s.object_id
    WHERE s.import_run = import_checksum.run_id
$$;

COMMENT ON FUNCTION memory.import_checksum(bigint) IS
    'sha256 of what an import run wrote: kind, id, event (and text hash, version of memories), in a stable order';

CREATE OR REPLACE FUNCTION memory.finish_import(run_id bigint, report jsonb DEFAULT '{}', failed boolean DEFAULT false)
RETURNS TABLE (status text, checksum text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_checksum text := memory.import_checksum(finish_import.run_id);
BEGIN
    IF finish_import.report IS NULL OR jsonb_typeof(finish_import.report) <> 'object' THEN
        RAISE EXCEPTION 'report must be a JSON object' USING ERRCODE = '22023';
    END IF;
    UPDATE memory.import_runs AS r
    SET status = CASE WHEN finish_import.failed THEN 'failed' ELSE 'completed' END,
        finished_at = now(), report = finish_import.report, checksum = v_checksum
    WHERE r.id = finish_import.run_id AND r.status = 'running';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'import run % is not running', finish_import.run_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM pg_advisory_unlock(memory.import_lock_key(r.source_kind, r.source_name))
    FROM memory.import_runs AS r WHERE r.id = finish_import.run_id;
    RETURN QUERY SELECT CASE WHEN finish_import.failed THEN 'failed' ELSE 'completed' END, v_checksum;
END
$$;

COMMENT ON FUNCTION memory.finish_import(bigint, jsonb, boolean) IS
    'Closes an import run with its report; returns its status and the checksum of what it wrote';

REVOKE ALL ON FUNCTION memory.import_lock_key(text, text), memory.start_import(text, text), memory.import_checksum(bigint),
    memory.finish_import(bigint, jsonb, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.import_lock_key(text, text), memory.start_import(text, text), memory.import_checksum(bigint),
    memory.finish_import(bigint, jsonb, boolean) TO service_role;
