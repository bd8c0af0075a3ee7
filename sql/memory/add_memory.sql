-- memory.add_memory(): Mem0's add, in SQL. Inserts through the deduplication trigger and returns
-- what happened: ADD (a new memory), or NOOP, UPDATE or MERGE of the existing memory it matched.
-- Every argument is checked by the row trigger (memories_10_normalize) before deduplication
-- decides anything, whatever the outcome; the embedding's dimension is checked before the INSERT,
-- and expires_at must lie in the future.
-- Under REPEATABLE READ and SERIALIZABLE, two transactions adding the same new memory at once
-- cannot see each other's row: the second one's insert meets the first one's committed row in the
-- unique index. It gets 40001 (serialization failure: retry the transaction, which then finds the
-- memory: NOOP), not 23505; the subtransaction this takes exists only at those levels.
-- entities (from 0012) links the memory to entities given by id or name (memory.link_entities,
-- link_entities.sql), after deduplication: a NOOP, UPDATE or MERGE links the memory it matched,
-- so the links of a duplicate are carried over to the memory that stays. They are checked
-- before the insert, and a bad one fails the whole call: no memory, no entity, no link.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
-- memory_id (from 0016) is the new memory's id, for callers that choose it (Mem0 and LangChain choose
-- their ids: the adapters in mempg_client pass them here); default a random uuid. It names the
-- memory only when the add is an ADD: a NOOP, UPDATE or MERGE returns the memory it matched, and
-- an id another memory holds is refused by the primary key (23505).
-- The signature changes (a new argument): the old one is dropped, not left as an overload (0012
-- dropped the one before it).
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb);
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz);
CREATE OR REPLACE FUNCTION memory.add_memory(
    user_id text,
    memory text,
    embedding vector,
    metadata jsonb DEFAULT '{}',
    categories text[] DEFAULT '{}',
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    memory_type text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL,
    entities jsonb DEFAULT NULL,
    memory_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_constraint text;
    v_outcome record;
BEGIN
    -- checked here too: the INSERT casts to the column's vector(D) before any trigger could
    PERFORM memory.check_embedding(add_memory.embedding, 'embedding');
    IF add_memory.expires_at IS NOT NULL AND add_memory.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', add_memory.expires_at USING ERRCODE = '22023';
    END IF;
    PERFORM count(*) FROM memory.entity_references(add_memory.entities);
    -- the user's entity lock before the scope lock that deduplication takes: entity writers take
    -- it first too (upsert_entity.sql), and a call that links entities must not take the two the
    -- other way round (from 0020)
    IF jsonb_array_length(coalesce(add_memory.entities, '[]')) > 0 THEN
        PERFORM pg_advisory_xact_lock(memory.entity_lock_key(add_memory.user_id));
    END IF;

    PERFORM memory.set_dedup_outcome(NULL, NULL);
    IF current_setting('transaction_isolation') = 'read committed' THEN
        PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                     add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                     add_memory.run_id, add_memory.memory_type, add_memory.expires_at,
                                     add_memory.memory_id);
    ELSE
        BEGIN
            PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                         add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                         add_memory.run_id, add_memory.memory_type, add_memory.expires_at,
                                     add_memory.memory_id);
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            IF v_constraint <> 'memories_live_text_unique' THEN
                RAISE;
            END IF;
            RAISE EXCEPTION 'a concurrent transaction added the same memory after this transaction''s snapshot was taken'
                USING ERRCODE = '40001', HINT = 'retry the transaction: the memory is then found (NOOP)';
        END;
    END IF;

    SELECT * INTO v_outcome FROM memory.dedup_outcome();
    IF add_memory.entities IS NOT NULL AND v_outcome.id IS NOT NULL THEN
        PERFORM count(*) FROM memory.link_entities(v_outcome.id, add_memory.entities);
    END IF;
    RETURN QUERY SELECT v_outcome.id, v_outcome.event;
END
$$;

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb, uuid) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';

-- memory.insert_memory(): the one INSERT behind add_memory; NULL when deduplication cancelled it.
CREATE OR REPLACE FUNCTION memory.insert_memory(
    user_id text, memory text, embedding vector, metadata jsonb, categories text[], agent_id text,
    run_id text, memory_type text, expires_at timestamptz, id uuid)
RETURNS uuid
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    INSERT INTO memory.memories AS m (id, user_id, memory, embedding, metadata, categories, agent_id, run_id,
                                      memory_type, expires_at)
    VALUES (coalesce(insert_memory.id, gen_random_uuid()), insert_memory.user_id, insert_memory.memory,
            insert_memory.embedding,
            coalesce(insert_memory.metadata, '{}'), coalesce(insert_memory.categories, '{}'),
            insert_memory.agent_id, insert_memory.run_id, insert_memory.memory_type, insert_memory.expires_at)
    RETURNING m.id
$$;

COMMENT ON FUNCTION memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, uuid) IS
    'INSERT of one memory through the triggers; its id, or NULL when deduplication cancelled it';
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb, uuid),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb, uuid),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, uuid)
    TO authenticated, service_role;
