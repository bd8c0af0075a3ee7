-- Interactions with an entity (seed 003: the conversation history with a person or company):
-- memory.record_interaction() and memory.list_interactions() (newest first, keyset pages on
-- (occurred_at, id), served by interactions_user_occurred / interactions_entity_occurred).
-- Trigger interactions_20_counters (AFTER INSERT, UPDATE, DELETE) keeps the entity's
-- interaction_count and last_interaction_at: +1 / max on insert; on delete or a move the latest
-- remaining interaction is read from the entity's index (one row), never a count of them all.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.refresh_interaction_counters(entity_id uuid, delta integer)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    UPDATE memory.entities AS e
    SET interaction_count = greatest(e.interaction_count + refresh_interaction_counters.delta, 0),
        last_interaction_at = (SELECT i.occurred_at FROM memory.interactions AS i
                               WHERE i.entity_id = refresh_interaction_counters.entity_id
                               ORDER BY i.occurred_at DESC, i.id DESC LIMIT 1)
    WHERE e.id = refresh_interaction_counters.entity_id
$$;

COMMENT ON FUNCTION memory.refresh_interaction_counters(uuid, integer) IS
    'Adds delta to an entity''s interaction_count and re-reads its latest interaction';

CREATE OR REPLACE FUNCTION memory.count_interactions()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE memory.entities AS e
        SET interaction_count = e.interaction_count + 1,
            last_interaction_at = greatest(e.last_interaction_at, NEW.occurred_at)
        WHERE e.id = NEW.entity_id;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM memory.refresh_interaction_counters(OLD.entity_id, -1);
    ELSIF NEW.entity_id IS DISTINCT FROM OLD.entity_id THEN
        PERFORM memory.refresh_interaction_counters(OLD.entity_id, -1),
                memory.refresh_interaction_counters(NEW.entity_id, 1);
    ELSIF NEW.occurred_at IS DISTINCT FROM OLD.occurred_at THEN
        PERFORM memory.refresh_interaction_counters(NEW.entity_id, 0);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.count_interactions() IS
    'Trigger: keeps entities.interaction_count and last_interaction_at in step with memory.interactions';

DROP TRIGGER IF EXISTS interactions_20_counters ON memory.interactions;
CREATE TRIGGER interactions_20_counters
    AFTER INSERT OR UPDATE OR DELETE ON memory.interactions
    FOR EACH ROW EXECUTE FUNCTION memory.count_interactions();

CREATE OR REPLACE FUNCTION memory.record_interaction(
    entity_id uuid,
    summary text,
    occurred_at timestamptz DEFAULT now(),
    channel text DEFAULT 'other',
    metadata jsonb DEFAULT '{}',
    memory_ids uuid[] DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_entity memory.entities;
    v_id uuid;
    v_settings memory.settings;
    v_missing uuid;
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    IF record_interaction.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- the user's entity lock before the entity row its counters update (upsert_entity.sql; 0020)
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))
    FROM memory.entities AS e WHERE e.id = record_interaction.entity_id;
    SELECT * INTO v_entity FROM memory.entities AS e
    WHERE e.id = memory.live_entity_id(record_interaction.entity_id) AND NOT e.is_deleted;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'entity_id % is not a known live entity', record_interaction.entity_id USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_label(record_interaction.summary, 'summary', v_settings.max_memory_chars, true);
    IF record_interaction.occurred_at IS NULL OR NOT isfinite(record_interaction.occurred_at) THEN
        RAISE EXCEPTION 'occurred_at must be a finite time, got %', coalesce(record_interaction.occurred_at::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF record_interaction.channel IS NULL OR record_interaction.channel !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'channel must be a lower-case word (email, call, meeting, chat, ...), got %',
            coalesce(quote_literal(record_interaction.channel), 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_metadata(record_interaction.metadata, 'metadata', v_settings.max_metadata_bytes,
                                  v_settings.max_metadata_depth);
    IF cardinality(record_interaction.memory_ids) > 1000 OR array_position(record_interaction.memory_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'memory_ids must hold at most 1000 ids and no NULL' USING ERRCODE = '22023';
    END IF;
    SELECT x INTO v_missing FROM unnest(record_interaction.memory_ids) AS x
    WHERE NOT EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = x AND m.user_id = v_entity.user_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'memory_ids: % is not a memory of the entity''s user', v_missing USING ERRCODE = '22023';
    END IF;

    INSERT INTO memory.interactions AS i (user_id, entity_id, channel, summary, metadata, occurred_at)
    VALUES (v_entity.user_id, v_entity.id, record_interaction.channel, record_interaction.summary,
            coalesce(record_interaction.metadata, '{}'), record_interaction.occurred_at)
    RETURNING i.id INTO v_id;
    INSERT INTO memory.interaction_memories (interaction_id, memory_id, user_id)
    SELECT DISTINCT v_id, x, v_entity.user_id FROM unnest(record_interaction.memory_ids) AS x;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION memory.record_interaction(uuid, text, timestamptz, text, jsonb, uuid[]) IS
    'Records an interaction with an entity (channel, summary, time, linked memories); returns its id';

CREATE OR REPLACE FUNCTION memory.list_interactions(
    user_id text,
    for_entity_id uuid DEFAULT NULL,
    after_occurred_at timestamptz DEFAULT NULL,
    after_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS TABLE (id uuid, entity_id uuid, entity_name text, channel text, summary text, metadata jsonb,
               occurred_at timestamptz, memory_ids uuid[])
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_entity uuid;
BEGIN
    PERFORM memory.check_label(list_interactions.user_id, 'user_id', (SELECT s.max_id_chars FROM memory.settings AS s), true);
    IF (list_interactions.after_occurred_at IS NULL) <> (list_interactions.after_id IS NULL) THEN
        RAISE EXCEPTION 'after_occurred_at and after_id form one cursor: give both or neither' USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(list_interactions.page_size, 'page_size');
    v_entity := memory.live_entity_id(list_interactions.for_entity_id);
    IF list_interactions.for_entity_id IS NOT NULL THEN  -- interactions_entity_occurred
        RETURN QUERY
        SELECT i.id, i.entity_id, e.name, i.channel, i.summary, i.metadata, i.occurred_at,
               ARRAY(SELECT im.memory_id FROM memory.interaction_memories AS im WHERE im.interaction_id = i.id ORDER BY 1)
        FROM memory.interactions AS i
        JOIN memory.entities AS e ON e.id = i.entity_id
        WHERE i.entity_id = v_entity AND i.user_id = list_interactions.user_id
          AND (list_interactions.after_occurred_at IS NULL
               OR (i.occurred_at, i.id) < (list_interactions.after_occurred_at, list_interactions.after_id))
        ORDER BY i.occurred_at DESC, i.id DESC
        LIMIT list_interactions.page_size;
        RETURN;
    END IF;
    RETURN QUERY  -- interactions_user_occurred
    SELECT i.id, i.entity_id, e.name, i.channel, i.summary, i.metadata, i.occurred_at,
           ARRAY(SELECT im.memory_id FROM memory.interaction_memories AS im WHERE im.interaction_id = i.id ORDER BY 1)
    FROM memory.interactions AS i
    JOIN memory.entities AS e ON e.id = i.entity_id
    WHERE i.user_id = list_interactions.user_id
      AND (list_interactions.after_occurred_at IS NULL
           OR (i.occurred_at, i.id) < (list_interactions.after_occurred_at, list_interactions.after_id))
    ORDER BY i.occurred_at DESC, i.id DESC
    LIMIT list_interactions.page_size;
END
$$;

COMMENT ON FUNCTION memory.list_interactions(text, uuid, timestamptz, uuid, integer) IS
    'A user''s interactions (of one entity, or all), newest first; keyset pages on (occurred_at, id)';

REVOKE ALL ON FUNCTION memory.refresh_interaction_counters(uuid, integer), memory.count_interactions(),
    memory.record_interaction(uuid, text, timestamptz, text, jsonb, uuid[]),
    memory.list_interactions(text, uuid, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.refresh_interaction_counters(uuid, integer),
    memory.record_interaction(uuid, text, timestamptz, text, jsonb, uuid[]),
    memory.list_interactions(text, uuid, timestamptz, uuid, integer) TO authenticated, service_role;
