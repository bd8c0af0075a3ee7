-- Reading and retiring entities: get_entity(), list_entities() (the seed's listings: by type, by
-- importance, newest first; keyset pages), delete_entity() (soft: its links, facts and
-- interactions stay, and restore_entity() brings it back) and memories_of_entity().
-- A merged entity is followed to the entity it was merged into by get_entity(); listings show
-- live entities only. Another user's entity id looks like an unknown id (row-level security).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.live_entity_id(entity_id uuid)
RETURNS uuid
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH RECURSIVE chain (id, merged_into, hops) AS (
        SELECT e.id, e.merged_into, 0 FROM memory.entities AS e WHERE e.id = live_entity_id.entity_id
        UNION ALL
        SELECT e.id, e.merged_into, c.hops + 1
        FROM chain AS c JOIN memory.entities AS e ON e.id = c.merged_into
        WHERE c.hops < 100
    )
    SELECT c.id FROM chain AS c WHERE c.merged_into IS NULL
$$;

COMMENT ON FUNCTION memory.live_entity_id(uuid) IS
    'The entity an id stands for now: itself, or the end of its merged_into chain; NULL when unknown';

CREATE OR REPLACE FUNCTION memory.get_entity(entity_id uuid)
RETURNS TABLE (id uuid, user_id text, entity_type text, person_type text, name text, aliases text[],
               attributes jsonb, contact jsonb, importance real, has_embedding boolean,
               interaction_count integer, last_interaction_at timestamptz, is_deleted boolean,
               merged_from uuid, created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_live uuid;
BEGIN
    IF get_entity.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    v_live := memory.live_entity_id(get_entity.entity_id);
    RETURN QUERY
    SELECT e.id, e.user_id, e.entity_type, e.person_type, e.name, e.aliases, e.attributes, e.contact, e.importance,
           e.embedding IS NOT NULL, e.interaction_count, e.last_interaction_at, e.is_deleted,
           CASE WHEN v_live <> get_entity.entity_id THEN get_entity.entity_id END, e.created_at, e.updated_at
    FROM memory.entities AS e WHERE e.id = v_live;
END
$$;

COMMENT ON FUNCTION memory.get_entity(uuid) IS
    'One entity (followed through merges: merged_from names the id asked for); no row when unknown';

CREATE OR REPLACE FUNCTION memory.list_entities(
    user_id text,
    type_filter text DEFAULT NULL,
    order_by text DEFAULT 'importance',
    after_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS TABLE (id uuid, entity_type text, person_type text, name text, aliases text[], importance real,
               interaction_count integer, last_interaction_at timestamptz, created_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_after memory.entities;
BEGIN
    PERFORM memory.check_label(list_entities.user_id, 'user_id', (SELECT s.max_id_chars FROM memory.settings AS s), true);
    IF list_entities.type_filter IS NOT NULL THEN
        PERFORM memory.check_entity_type(list_entities.type_filter, 'type_filter');
    END IF;
    IF list_entities.order_by IS NULL OR list_entities.order_by NOT IN ('importance', 'created', 'type') THEN
        RAISE EXCEPTION 'order_by must be ''importance'', ''created'' or ''type'', got %',
            coalesce(quote_literal(list_entities.order_by), 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(list_entities.page_size, 'page_size');
    IF list_entities.after_id IS NOT NULL THEN
        SELECT * INTO v_after FROM memory.entities AS e
        WHERE e.id = list_entities.after_id AND e.user_id = list_entities.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'after_id % is not an entity of user %', list_entities.after_id, list_entities.user_id
                USING ERRCODE = '22023';
        END IF;
    END IF;
    -- one query per order, each the shape of its index (entities_user_importance, _created, _type)
    IF list_entities.order_by = 'importance' THEN
        RETURN QUERY
        SELECT e.id, e.entity_type, e.person_type, e.name, e.aliases, e.importance, e.interaction_count,
               e.last_interaction_at, e.created_at
        FROM memory.entities AS e
        WHERE e.user_id = list_entities.user_id AND NOT e.is_deleted AND e.merged_into IS NULL
          AND (list_entities.type_filter IS NULL OR e.entity_type = list_entities.type_filter)
          AND (v_after.id IS NULL OR (e.importance, e.id) < (v_after.importance, v_after.id))
        ORDER BY e.importance DESC, e.id DESC
        LIMIT list_entities.page_size;
    ELSIF list_entities.order_by = 'created' THEN
        RETURN QUERY
        SELECT e.id, e.entity_type, e.person_type, e.name, e.aliases, e.importance, e.interaction_count,
               e.last_interaction_at, e.created_at
        FROM memory.entities AS e
        WHERE e.user_id = list_entities.user_id AND NOT e.is_deleted AND e.merged_into IS NULL
          AND (list_entities.type_filter IS NULL OR e.entity_type = list_entities.type_filter)
          AND (v_after.id IS NULL OR (e.created_at, e.id) < (v_after.created_at, v_after.id))
        ORDER BY e.created_at DESC, e.id DESC
        LIMIT list_entities.page_size;
    ELSE
        RETURN QUERY
        SELECT e.id, e.entity_type, e.person_type, e.name, e.aliases, e.importance, e.interaction_count,
               e.last_interaction_at, e.created_at
        FROM memory.entities AS e
        WHERE e.user_id = list_entities.user_id AND NOT e.is_deleted AND e.merged_into IS NULL
          AND (list_entities.type_filter IS NULL OR e.entity_type = list_entities.type_filter)
          AND (v_after.id IS NULL OR (e.entity_type, e.id) > (v_after.entity_type, v_after.id))
        ORDER BY e.entity_type, e.id
        LIMIT list_entities.page_size;
    END IF;
END
$$;

COMMENT ON FUNCTION memory.list_entities(text, text, text, uuid, integer) IS
    'A user''s live entities by importance, newest first or by type; keyset pages (after_id = the last row''s id)';

CREATE OR REPLACE FUNCTION memory.delete_entity(entity_id uuid)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF delete_entity.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))  -- upsert_entity.sql (0020)
    FROM memory.entities AS e WHERE e.id = delete_entity.entity_id;
    RETURN QUERY
    UPDATE memory.entities AS e SET is_deleted = true, deleted_at = now(), updated_at = now()
    WHERE e.id = delete_entity.entity_id AND NOT e.is_deleted AND e.merged_into IS NULL
    RETURNING e.id, 'DELETE'::text;
END
$$;

COMMENT ON FUNCTION memory.delete_entity(uuid) IS
    'Soft-deletes a live entity (links, facts and interactions stay); no row when unknown or not live';

CREATE OR REPLACE FUNCTION memory.restore_entity(entity_id uuid)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF restore_entity.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))  -- upsert_entity.sql (0020)
    FROM memory.entities AS e WHERE e.id = restore_entity.entity_id;
    RETURN QUERY
    UPDATE memory.entities AS e SET is_deleted = false, deleted_at = NULL, updated_at = now()
    WHERE e.id = restore_entity.entity_id AND e.is_deleted
    RETURNING e.id, 'RESTORE'::text;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'entity % cannot be restored: a live entity of that type has its name now', restore_entity.entity_id
        USING ERRCODE = '23505', HINT = 'merge the two with memory.merge_entities(), or rename one first';
END
$$;

COMMENT ON FUNCTION memory.restore_entity(uuid) IS 'Restores a soft-deleted entity; 23505 when a live one has its name now';

-- memory.memories_of_entity(): the live memories linked to an entity, newest first, keyset pages
-- on (created_at, id) as list_memories has them.
CREATE OR REPLACE FUNCTION memory.memories_of_entity(
    entity_id uuid,
    role text DEFAULT NULL,
    after_created_at timestamptz DEFAULT NULL,
    after_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], roles text[],
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_live uuid;
BEGIN
    IF memories_of_entity.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF (memories_of_entity.after_created_at IS NULL) <> (memories_of_entity.after_id IS NULL) THEN
        RAISE EXCEPTION 'after_created_at and after_id form one cursor: give both or neither' USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(memories_of_entity.page_size, 'page_size');
    v_live := memory.live_entity_id(memories_of_entity.entity_id);
    RETURN QUERY
    SELECT m.id, m.memory, m.metadata, m.categories, l.roles, m.created_at, m.updated_at
    FROM (SELECT me.memory_id, array_agg(me.role ORDER BY me.role) AS roles
          FROM memory.memory_entities AS me
          WHERE me.entity_id = v_live AND (memories_of_entity.role IS NULL OR me.role = memories_of_entity.role)
          GROUP BY me.memory_id) AS l
    JOIN memory.memories AS m ON m.id = l.memory_id
    WHERE memory.is_live(m.is_deleted, m.expires_at)
      AND (memories_of_entity.after_created_at IS NULL
           OR (m.created_at, m.id) < (memories_of_entity.after_created_at, memories_of_entity.after_id))
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT memories_of_entity.page_size;
END
$$;

COMMENT ON FUNCTION memory.memories_of_entity(uuid, text, timestamptz, uuid, integer) IS
    'Live memories linked to an entity (followed through merges), newest first, with the link roles';

REVOKE ALL ON FUNCTION memory.live_entity_id(uuid), memory.get_entity(uuid),
    memory.list_entities(text, text, text, uuid, integer), memory.delete_entity(uuid), memory.restore_entity(uuid),
    memory.memories_of_entity(uuid, text, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.live_entity_id(uuid), memory.get_entity(uuid),
    memory.list_entities(text, text, text, uuid, integer), memory.delete_entity(uuid), memory.restore_entity(uuid),
    memory.memories_of_entity(uuid, text, timestamptz, uuid, integer) TO authenticated, service_role;
