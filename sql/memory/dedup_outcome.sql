-- The deduplication hand-off, in one place. A BEFORE INSERT trigger cannot return a value to
-- the statement that fired it, so the trigger memories_20_deduplicate leaves what it decided in
-- transaction-local settings, which these functions alone write and read:
--   memory.dedup_result  '<id> <event>': the memory the INSERT became (ADD, NOOP, UPDATE, MERGE);
--                        memory.add_memory() returns it, and after a plain INSERT of psql
--                        `SELECT * FROM memory.dedup_outcome()` tells what happened;
--   memory.dedup_event   the event of the UPDATE the trigger is running, for the history trigger
--                        (set around that UPDATE only, '' otherwise);
--   memory.import_restore 'on' while memory.import_batch() restores a row of a mempg export
--                        verbatim (its id, version, timestamps and history, 0016): the
--                        deduplication trigger then matches exact text only (the unique index
--                        still refuses a live duplicate) and the history trigger writes nothing,
--                        since the export's own history rows follow. Set around that INSERT only;
--                        it counts for service_role, superusers and BYPASSRLS roles only, since
--                        any session can set a setting: the application's role cannot skip
--                        deduplication or its own history with it; and it names the
--                        transaction it was set in, so a value left in a pooled session by an
--                        earlier transaction counts for nothing.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.set_dedup_outcome(id uuid, event text)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT set_config('memory.dedup_result', coalesce(set_dedup_outcome.id::text || ' ' || set_dedup_outcome.event, ''), true)
$$;

COMMENT ON FUNCTION memory.set_dedup_outcome(uuid, text) IS
    'Records what the deduplication trigger made of an INSERT (NULL clears it)';

CREATE OR REPLACE FUNCTION memory.dedup_outcome()
RETURNS TABLE (id uuid, event text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT split_part(r.result, ' ', 1)::uuid, split_part(r.result, ' ', 2)
    FROM (SELECT current_setting('memory.dedup_result', true) AS result) AS r
    WHERE r.result <> ''
$$;

COMMENT ON FUNCTION memory.dedup_outcome() IS
    'The memory the last INSERT of this transaction became, and how (ADD, NOOP, UPDATE, MERGE)';

CREATE OR REPLACE FUNCTION memory.set_dedup_event(event text)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT set_config('memory.dedup_event', coalesce(set_dedup_event.event, ''), true)
$$;

COMMENT ON FUNCTION memory.set_dedup_event(text) IS
    'Names the event of the UPDATE the deduplication trigger runs (NULL clears it), for the history trigger';

CREATE OR REPLACE FUNCTION memory.dedup_event()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT nullif(current_setting('memory.dedup_event', true), '')
$$;

COMMENT ON FUNCTION memory.dedup_event() IS 'The event of the deduplication UPDATE running now, or NULL';

CREATE OR REPLACE FUNCTION memory.set_import_restore(restoring boolean)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT set_config('memory.import_restore',
                      CASE WHEN set_import_restore.restoring THEN 'on ' || pg_current_xact_id() ELSE '' END, true)
$$;

COMMENT ON FUNCTION memory.set_import_restore(boolean) IS
    'Marks the INSERT that follows as the verbatim restore of an exported memory (memory.import_batch)';

CREATE OR REPLACE FUNCTION memory.import_restoring()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce(current_setting('memory.import_restore', true) = 'on ' || pg_current_xact_id_if_assigned(), false)
       AND memory.request_bypasses_rls()  -- any role may set a setting: only imports' roles count
$$;

COMMENT ON FUNCTION memory.import_restoring() IS
    'True while memory.import_batch() restores an exported memory verbatim';

REVOKE ALL ON FUNCTION memory.set_dedup_outcome(uuid, text), memory.dedup_outcome(),
    memory.set_dedup_event(text), memory.dedup_event(), memory.set_import_restore(boolean),
    memory.import_restoring() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.set_dedup_outcome(uuid, text), memory.dedup_outcome(),
    memory.set_dedup_event(text), memory.dedup_event(), memory.import_restoring() TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION memory.set_import_restore(boolean) TO service_role;
