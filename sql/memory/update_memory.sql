-- memory.update_memory(): change a live memory in place. Arguments left NULL keep their value; a
-- new text needs its new embedding. Metadata and categories given replace the old ones. The
-- version goes up and the history trigger records an UPDATE. Arguments are checked with the same
-- rules as add_memory's (check_arguments.sql) before the memory is looked up. A new text that
-- another live memory of the same user and agent already holds is refused (23505), naming it.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.update_memory(
    id uuid,
    memory text DEFAULT NULL,
    embedding vector DEFAULT NULL,
    metadata jsonb DEFAULT NULL,
    categories text[] DEFAULT NULL)
RETURNS TABLE (memory_id uuid, event text, version integer)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_version integer;
    v_settings memory.settings;
    v_duplicate_id uuid;
BEGIN
    IF update_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF update_memory.memory IS NOT NULL AND update_memory.embedding IS NULL THEN
        RAISE EXCEPTION 'embedding must be given with a new memory text' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_label(update_memory.memory, 'memory', v_settings.max_memory_chars);
    IF update_memory.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(update_memory.embedding, 'embedding');
    END IF;
    IF update_memory.metadata IS NOT NULL THEN
        PERFORM memory.check_metadata(update_memory.metadata, 'metadata', v_settings.max_metadata_bytes,
                                      v_settings.max_metadata_depth);
    END IF;
    IF update_memory.categories IS NOT NULL THEN
        PERFORM memory.check_categories(memory.normalize_categories(update_memory.categories), 'categories',
                                        v_settings.max_categories, v_settings.max_category_chars);
    END IF;
    IF num_nonnulls(update_memory.memory, update_memory.embedding, update_memory.metadata, update_memory.categories) = 0 THEN
        RAISE EXCEPTION 'nothing to update: give memory and embedding, metadata or categories' USING ERRCODE = '22023';
    END IF;
    IF update_memory.memory IS NOT NULL THEN
        SELECT other.id INTO v_duplicate_id
        FROM memory.memories AS target
        JOIN memory.memories AS other
          ON other.user_id = target.user_id AND memory.same_agent(other.agent_id, target.agent_id)
         AND other.hash = memory.text_hash(update_memory.memory) AND NOT other.is_deleted AND other.id <> target.id
        WHERE target.id = update_memory.id AND NOT target.is_deleted;
        IF FOUND THEN
            RAISE EXCEPTION 'memory % already holds this text; delete one of the two, or update that one',
                v_duplicate_id USING ERRCODE = '23505';
        END IF;
    END IF;
    UPDATE memory.memories AS m SET
        memory = coalesce(update_memory.memory, m.memory),
        embedding = coalesce(update_memory.embedding, m.embedding),
        metadata = coalesce(update_memory.metadata, m.metadata),
        categories = coalesce(update_memory.categories, m.categories),
        version = m.version + 1
    WHERE m.id = update_memory.id AND NOT m.is_deleted
    RETURNING m.version INTO v_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory % not found', update_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY SELECT update_memory.id, 'UPDATE'::text, v_version;
END
$$;

COMMENT ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) IS
    'Changes a live memory in place (NULL keeps a value); version + 1 and a history row; P0002 when not found, 23505 for a duplicate text';
REVOKE ALL ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) TO authenticated, service_role;
