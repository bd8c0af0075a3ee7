-- Pending memories (0016): imported text that came without an embedding (a Session-Buddy row whose
-- embedding is NULL, or any import run with --no-embeddings). memory.memories keeps its rule that
-- every memory has a usable embedding; these rows wait in memory.pending_memories, under the same
-- row-level security, until a model of the installed dimension embeds them:
-- memory.embed_pending_memory(id, embedding) adds the memory through memory.add_memory()
-- (deduplication, history, entity links as always) and removes the pending row, in one
-- statement; it returns what add_memory returned. The text was checked by the import already;
-- add_memory checks it again with the embedding.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.embed_pending_memory(id uuid, embedding vector)
RETURNS TABLE (memory_id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_pending memory.pending_memories;
BEGIN
    IF embed_pending_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    DELETE FROM memory.pending_memories AS p WHERE p.id = embed_pending_memory.id RETURNING * INTO v_pending;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pending memory % not found', embed_pending_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY
    SELECT a.id, a.event
    FROM memory.add_memory(v_pending.user_id, v_pending.memory, embed_pending_memory.embedding, v_pending.metadata,
                           v_pending.categories, v_pending.agent_id, v_pending.run_id, v_pending.memory_type,
                           v_pending.expires_at, v_pending.entities) AS a;
END
$$;

COMMENT ON FUNCTION memory.embed_pending_memory(uuid, vector) IS
    'Adds a pending (imported, not yet embedded) memory with its embedding through add_memory; returns id and event';
REVOKE ALL ON FUNCTION memory.embed_pending_memory(uuid, vector) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.embed_pending_memory(uuid, vector) TO authenticated, service_role;
