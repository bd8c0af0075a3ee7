-- Agent conversations: one row per message of an agent in a session (agent.conversations), with
-- an optional embedding for search. `turn` is a bigint identity: the order of messages, even of
-- several written in one transaction (their created_at is the same now()).
-- agent.add_message() checks its arguments (docs/agent.md, "Bad input") and inserts as the
-- caller: row-level security makes user_id the caller's own.
-- Listing is keyset-paginated on an index each, never OFFSET:
--   agent.session_messages(): a session in order (user_id, session_id, turn), after a turn;
--   agent.agent_messages(): an agent's messages, newest first, on
--     (user_id, agent_id, created_at DESC, turn DESC), before a (created_at, turn) cursor.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION agent.add_message(
    user_id text,
    agent_id text,
    session_id text,
    role text,
    content text,
    embedding vector DEFAULT NULL,
    metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'agent_id', 'session_id'],
                                    ARRAY[add_message.user_id, add_message.agent_id, add_message.session_id],
                                    ARRAY['user_id', 'agent_id', 'session_id']);
    IF add_message.role IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF add_message.role NOT IN ('system', 'user', 'assistant', 'tool') THEN
        RAISE EXCEPTION 'role must be system, user, assistant or tool, got %', left(add_message.role, 100)
            USING ERRCODE = '22023';
    END IF;
    PERFORM agent.check_content(add_message.content, 'content');
    IF add_message.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(add_message.embedding, 'embedding');
    END IF;
    PERFORM agent.check_metadata(add_message.metadata, 'metadata');
    INSERT INTO agent.conversations AS c (user_id, agent_id, session_id, role, content, embedding, metadata)
    VALUES (add_message.user_id, add_message.agent_id, add_message.session_id, add_message.role,
            add_message.content, add_message.embedding, add_message.metadata)
    RETURNING c.id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION agent.add_message(text, text, text, text, text, vector, jsonb) IS
    'Records one message of an agent''s session (optional embedding); returns its id';

CREATE OR REPLACE FUNCTION agent.session_messages(
    user_id text,
    session_id text,
    after_turn bigint DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS TABLE (id uuid, turn bigint, agent_id text, role text, content text, metadata jsonb, created_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'session_id'],
                                    ARRAY[session_messages.user_id, session_messages.session_id],
                                    ARRAY['user_id', 'session_id']);
    PERFORM agent.check_page(0, session_messages.page_size);
    RETURN QUERY
    SELECT c.id, c.turn, c.agent_id, c.role, c.content, c.metadata, c.created_at
    FROM agent.conversations AS c
    WHERE c.user_id = session_messages.user_id AND c.session_id = session_messages.session_id
      AND (session_messages.after_turn IS NULL OR c.turn > session_messages.after_turn)
    ORDER BY c.turn
    LIMIT session_messages.page_size;
END
$$;

COMMENT ON FUNCTION agent.session_messages(text, text, bigint, integer) IS
    'A page of one session''s messages in order; keyset cursor: the last turn seen';

CREATE OR REPLACE FUNCTION agent.agent_messages(
    user_id text,
    agent_id text,
    before_created_at timestamptz DEFAULT NULL,
    before_turn bigint DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS TABLE (id uuid, turn bigint, session_id text, role text, content text, metadata jsonb, created_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'agent_id'],
                                    ARRAY[agent_messages.user_id, agent_messages.agent_id],
                                    ARRAY['user_id', 'agent_id']);
    PERFORM agent.check_page((agent_messages.before_created_at IS NOT NULL)::integer
                             + (agent_messages.before_turn IS NOT NULL)::integer, agent_messages.page_size);
    RETURN QUERY
    SELECT c.id, c.turn, c.session_id, c.role, c.content, c.metadata, c.created_at
    FROM agent.conversations AS c
    WHERE c.user_id = agent_messages.user_id AND c.agent_id = agent_messages.agent_id
      AND (agent_messages.before_created_at IS NULL
           OR (c.created_at, c.turn) < (agent_messages.before_created_at, agent_messages.before_turn))
    ORDER BY c.created_at DESC, c.turn DESC
    LIMIT agent_messages.page_size;
END
$$;

COMMENT ON FUNCTION agent.agent_messages(text, text, timestamptz, bigint, integer) IS
    'A page of an agent''s messages, newest first; keyset cursor (created_at, turn)';

REVOKE ALL ON FUNCTION agent.add_message(text, text, text, text, text, vector, jsonb),
    agent.session_messages(text, text, bigint, integer),
    agent.agent_messages(text, text, timestamptz, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.add_message(text, text, text, text, text, vector, jsonb),
    agent.session_messages(text, text, bigint, integer),
    agent.agent_messages(text, text, timestamptz, bigint, integer) TO authenticated, service_role;
