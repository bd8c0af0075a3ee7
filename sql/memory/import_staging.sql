-- The staging tables of a bulk import (0016), one pair per session: `mempg import` sends rows by
-- COPY into them, then memory.import_batch() turns each batch into memories, entities, relations,
-- interactions and history, in one transaction. Temporary (no WAL, no bloat, invisible to other
-- sessions) and emptied at every commit (ON COMMIT DELETE ROWS), so a batch never outlives its
-- transaction and an interrupted import leaves nothing behind but the batches it committed.
-- pg_temp.memory_import_rows holds memories, with their columns typed so that COPY parses them:
--   ordinal      the row's place in the source (rows are applied in this order, as one-by-one
--                add_memory calls would be);
--   source_id    the row's id in the source: with the run's source it makes the import idempotent
--                (memory.import_sources);
--   preferred_id the id the memory takes when it is new and the id is free (a Mem0 or LangChain
--                uuid, so that their users keep their ids);
--   expires_at, created_at, updated_at  text, cast by the import, so that one bad timestamp
--                rejects its row instead of failing the COPY of the batch;
--   embedding    real[] of any length: the import checks it against the installed dimension and
--                pads it with zeros only when asked (never truncates); NULL keeps the row as a
--                pending memory (memory.pending_memories) to be embedded later;
--   entities     add_memory's entities argument, with entity ids of the source (translated);
--   restore      for a line of a mempg export: {"id", "version", "is_deleted", "deleted_at",
--                "access_count", "last_accessed_at", "decayed_at", "history": [...]}, restored verbatim;
--   the outcome columns (memory_id, event, error_code, error) are written by import_batch.
-- pg_temp.memory_import_records holds the other records (kind entity, relation, interaction or
-- history) as JSON documents, documented beside memory.import_batch().
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.create_import_staging()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    CREATE TEMPORARY TABLE IF NOT EXISTS memory_import_rows (
        ordinal bigint PRIMARY KEY,
        source_id text NOT NULL,
        preferred_id uuid,
        user_id text,
        agent_id text,
        run_id text,
        memory text,
        embedding real[],
        metadata jsonb,
        categories text[],
        memory_type text,
        source text,
        relevance_score double precision,
        expires_at text,
        created_at text,
        updated_at text,
        entities jsonb,
        restore jsonb,
        memory_id uuid,
        event text,
        error_code text,
        error text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMPORARY TABLE IF NOT EXISTS memory_import_records (
        ordinal bigint PRIMARY KEY,
        kind text NOT NULL,
        source_id text NOT NULL,
        user_id text,
        doc jsonb NOT NULL,
        object_id uuid,
        event text,
        error_code text,
        error text
    ) ON COMMIT DELETE ROWS;
END
$$;

COMMENT ON FUNCTION memory.create_import_staging() IS
    'Creates this session''s import staging tables (pg_temp.memory_import_rows, memory_import_records) if missing';
REVOKE ALL ON FUNCTION memory.create_import_staging() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.create_import_staging() TO service_role;
