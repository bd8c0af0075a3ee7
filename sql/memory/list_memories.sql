-- memory.list_memories(): a user's live memories, newest first, one page at a time. Keyset
-- pagination on (created_at, id): pass the last row's created_at and id to get the next page.
-- Pages stay stable while memories are added (new ones sort before the first page), unlike OFFSET.
-- relevance_score is the relevance now, decayed since the last access (memory.decayed_relevance()).
-- Identifiers are checked as add_memory checks them: an empty agent_id is refused, not a filter
-- that matches nothing.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.list_memories(
    user_id text,
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    after_created_at timestamptz DEFAULT NULL,
    after_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS SETOF memory.memory_record
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max_id_chars integer;
BEGIN
    SELECT s.max_id_chars INTO v_max_id_chars FROM memory.settings AS s;
    PERFORM memory.check_label(list_memories.user_id, 'user_id', v_max_id_chars, true);
    PERFORM memory.check_label(list_memories.agent_id, 'agent_id', v_max_id_chars);
    PERFORM memory.check_label(list_memories.run_id, 'run_id', v_max_id_chars);
    IF (list_memories.after_created_at IS NULL) <> (list_memories.after_id IS NULL) THEN
        RAISE EXCEPTION 'after_created_at and after_id form one cursor: give both or neither'
            USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(list_memories.page_size, 'page_size');
    RETURN QUERY
    SELECT m.id, m.user_id, m.agent_id, m.run_id, m.memory, m.metadata, m.categories, m.memory_type, m.source,
           m.hash, memory.decayed_relevance(m.relevance_score, m.last_accessed_at, m.decayed_at, s.relevance_half_life),
           m.access_count, m.last_accessed_at, m.version, m.expires_at,
           m.created_at, m.updated_at
    FROM memory.memories AS m CROSS JOIN memory.settings AS s
    WHERE m.user_id = list_memories.user_id AND memory.is_live(m.is_deleted, m.expires_at)
      AND (list_memories.agent_id IS NULL OR m.agent_id = list_memories.agent_id)
      AND (list_memories.run_id IS NULL OR m.run_id = list_memories.run_id)
      AND (list_memories.after_created_at IS NULL
           OR (m.created_at, m.id) < (list_memories.after_created_at, list_memories.after_id))
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT list_memories.page_size;
END
$$;

COMMENT ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) IS
    'A page of a user''s live memories, newest first; keyset cursor (created_at, id)';
REVOKE ALL ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) TO authenticated, service_role;
