-- memory.memory_record: the row shape that get_memory() and list_memories() return: every column
-- of memory.memories but the embedding (6 KB at 1536 dimensions) and the tsvector.
DO $$
BEGIN
    IF to_regtype('memory.memory_record') IS NULL THEN
        CREATE TYPE memory.memory_record AS (
            id uuid, user_id text, agent_id text, run_id text, memory text, metadata jsonb,
            categories text[], memory_type text, source text, hash text, relevance_score double precision,
            access_count integer, last_accessed_at timestamptz, version integer, expires_at timestamptz,
            created_at timestamptz, updated_at timestamptz);
    END IF;
END
$$;
COMMENT ON TYPE memory.memory_record IS 'A memory without its embedding, as get_memory and list_memories return it';
