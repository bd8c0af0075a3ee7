-- Trigger memories_20_deduplicate (BEFORE INSERT): a plain INSERT from psql is deduplicated too.
-- Within one user and agent (NULL agent is its own scope), in this order:
--   same normalised text     -> NOOP: the existing memory's relevance and last access are
--                               refreshed, metadata merged (new keys win), categories unioned;
--   cosine >= replace (0.98) -> UPDATE: the existing memory takes the new text and embedding;
--   cosine >= merge (0.95)   -> MERGE: it keeps its text; categories and metadata are merged;
--   otherwise                -> ADD: the new row is inserted.
-- NOOP, UPDATE and MERGE cancel the insert (INSERT 0 0) and leave '<id> <event>' in the
-- transaction-local setting memory.dedup_result, which memory.add_memory() returns.
-- Concurrency: a transaction-level advisory lock per (user, agent) serialises writers of one scope,
-- and each query below takes a fresh snapshot (READ COMMITTED), so the second of two concurrent
-- inserts sees the first once it commits. The unique index on (user, agent, hash) of live rows is
-- the backstop for the exact path (under REPEATABLE READ it raises 23505 rather than duplicate).
-- Plans are custom (plan_cache_mode), and the hash is computed once into a variable: PL/pgSQL's
-- cached generic plan looked the hash up through the user_id index, filtering the user's rows and
-- calling text_hash() on each (4.6 ms per insert at 400 memories, measured), instead of one probe
-- of the unique index.
CREATE OR REPLACE FUNCTION memory.deduplicate_memories()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_custom_plan'
AS $$
DECLARE
    v_settings memory.settings;
    v_hash text := memory.text_hash(NEW.memory);
    v_existing_id uuid;
    v_similarity double precision;
    v_event text;
BEGIN
    IF NEW.is_deleted THEN
        RETURN NEW;  -- restoring history (a dump, an import): nothing to compare with
    END IF;
    PERFORM pg_advisory_xact_lock(memory.scope_lock_key(NEW.user_id, NEW.agent_id));
    SELECT * INTO v_settings FROM memory.settings;

    SELECT m.id INTO v_existing_id
    FROM memory.memories AS m
    WHERE m.user_id = NEW.user_id AND coalesce(m.agent_id, '') = coalesce(NEW.agent_id, '')
      AND m.hash = v_hash AND NOT m.is_deleted
    FOR UPDATE;

    IF FOUND THEN
        v_event := 'NOOP';
    ELSE
        SELECT n.id, n.similarity INTO v_existing_id, v_similarity
        FROM memory.nearest_memory(NEW.embedding, NEW.user_id, NEW.agent_id) AS n;
        IF v_similarity >= v_settings.replace_threshold THEN
            v_event := 'UPDATE';
        ELSIF v_similarity >= v_settings.merge_threshold THEN
            v_event := 'MERGE';
        ELSE
            PERFORM set_config('memory.dedup_result', NEW.id::text || ' ADD', true);
            RETURN NEW;
        END IF;
    END IF;

    PERFORM set_config('memory.dedup_event', v_event, true);  -- read by the history trigger
    UPDATE memory.memories AS m SET
        memory = CASE WHEN v_event = 'UPDATE' THEN NEW.memory ELSE m.memory END,
        embedding = CASE WHEN v_event = 'UPDATE' THEN NEW.embedding ELSE m.embedding END,
        version = CASE WHEN v_event = 'NOOP' THEN m.version ELSE m.version + 1 END,
        metadata = m.metadata || NEW.metadata,
        categories = m.categories || NEW.categories,
        relevance_score = greatest(m.relevance_score, NEW.relevance_score),
        access_count = m.access_count + 1,
        last_accessed_at = now(),
        expires_at = CASE WHEN m.expires_at IS NULL OR NEW.expires_at IS NULL THEN NULL
                          ELSE greatest(m.expires_at, NEW.expires_at) END
    WHERE m.id = v_existing_id;
    PERFORM set_config('memory.dedup_event', '', true);
    PERFORM set_config('memory.dedup_result', v_existing_id::text || ' ' || v_event, true);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.deduplicate_memories() IS
    'Trigger: turns an INSERT into NOOP, UPDATE or MERGE of an existing memory of the same user and agent';
REVOKE ALL ON FUNCTION memory.deduplicate_memories() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_20_deduplicate ON memory.memories;
CREATE TRIGGER memories_20_deduplicate
    BEFORE INSERT ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.deduplicate_memories();
