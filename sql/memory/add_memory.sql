-- memory.add_memory(): Mem0's add, in SQL. Inserts through the deduplication trigger and returns
-- what happened: ADD (a new memory), or NOOP, UPDATE or MERGE of the existing memory it matched.
CREATE OR REPLACE FUNCTION memory.add_memory(
    user_id text,
    memory text,
    embedding vector,
    metadata jsonb DEFAULT '{}',
    categories text[] DEFAULT '{}',
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    memory_type text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_id uuid;
    v_result text;
BEGIN
    IF add_memory.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(add_memory.user_id) = '' THEN
        RAISE EXCEPTION 'user_id must not be empty' USING ERRCODE = '22023';
    END IF;
    IF add_memory.memory IS NULL THEN
        RAISE EXCEPTION 'memory must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM memory.check_embedding(add_memory.embedding, 'embedding');
    IF add_memory.metadata IS NOT NULL AND jsonb_typeof(add_memory.metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object, got %', jsonb_typeof(add_memory.metadata)
            USING ERRCODE = '22023';
    END IF;
    IF add_memory.expires_at IS NOT NULL AND add_memory.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', add_memory.expires_at USING ERRCODE = '22023';
    END IF;

    PERFORM set_config('memory.dedup_result', '', true);
    INSERT INTO memory.memories AS m (user_id, memory, embedding, metadata, categories, agent_id, run_id,
                                      memory_type, expires_at)
    VALUES (add_memory.user_id, add_memory.memory, add_memory.embedding, coalesce(add_memory.metadata, '{}'),
            coalesce(add_memory.categories, '{}'), add_memory.agent_id, add_memory.run_id,
            add_memory.memory_type, add_memory.expires_at)
    RETURNING m.id INTO v_id;

    IF v_id IS NOT NULL THEN
        RETURN QUERY SELECT v_id, 'ADD'::text;
    ELSE
        v_result := current_setting('memory.dedup_result', true);
        RETURN QUERY SELECT split_part(v_result, ' ', 1)::uuid, split_part(v_result, ' ', 2);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz)
    TO authenticated, service_role;
