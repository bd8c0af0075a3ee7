-- Links between memories and the entities they are about (memory.memory_entities).
-- memory.link_entities(memory_id, entities): entities is a JSON array; each element is an entity
-- id ("9f1c...": followed through merges), a name ("Caroline", role mention), or an object
-- {"id": ...} or {"name": ..., "type": ..., "aliases": [...], "role": ...}, resolved by
-- memory.upsert_entity(). A name without a type (from 0019) is the user's live entity of exactly
-- that name or alias whatever its type (memory.mentioned_entity: a typed one before one of type
-- other, then the most important, the oldest), else a new or matched entity of type other: a name
-- found in a text ("Caroline" in "Hey Caroline") is the person already known, not a second entity
-- beside her. memory.entity_references() gives such an element the type NULL.
-- Each link is added once (re-linking is a no-op); the whole call is checked before anything is
-- written, so a bad element adds no link and no entity.
-- Trigger memory_entities_10_check (BEFORE INSERT OR UPDATE): the memory belongs to the link's
-- user and the entity is live (the foreign key holds the entity to the same user).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.check_memory_entity_link()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = NEW.memory_id AND m.user_id = NEW.user_id) THEN
        RAISE EXCEPTION 'memory_id % is not a memory of user %', NEW.memory_id, NEW.user_id
            USING ERRCODE = '23503';
    END IF;
    IF TG_OP = 'INSERT' AND NOT EXISTS (SELECT 1 FROM memory.entities AS e
                                        WHERE e.id = NEW.entity_id AND e.user_id = NEW.user_id
                                          AND NOT e.is_deleted AND e.merged_into IS NULL) THEN
        RAISE EXCEPTION 'entity_id % is not a live entity of user %', NEW.entity_id, NEW.user_id
            USING ERRCODE = '23503';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.check_memory_entity_link() IS
    'Trigger: a link joins a memory and a live entity of the same user (23503 otherwise)';

DROP TRIGGER IF EXISTS memory_entities_10_check ON memory.memory_entities;
CREATE TRIGGER memory_entities_10_check
    BEFORE INSERT OR UPDATE ON memory.memory_entities
    FOR EACH ROW EXECUTE FUNCTION memory.check_memory_entity_link();

-- memory.entity_references(): the elements of an entities argument, checked and in one shape
-- (ordinal, id, name, type, aliases, role; type NULL when the element gives none); 22023 naming
-- the element for anything else.
CREATE OR REPLACE FUNCTION memory.entity_references(entities jsonb, parameter text DEFAULT 'entities')
RETURNS TABLE (ordinal bigint, id uuid, name text, entity_type text, aliases text[], role text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_element jsonb;
    v_ordinal bigint := 0;
    v_role text;
    v_aliases text[];
BEGIN
    IF entity_references.entities IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(entity_references.entities) <> 'array' THEN
        RAISE EXCEPTION '% must be a JSON array, got %', entity_references.parameter,
            jsonb_typeof(entity_references.entities) USING ERRCODE = '22023';
    END IF;
    IF jsonb_array_length(entity_references.entities) > 100 THEN
        RAISE EXCEPTION '% has % elements; at most 100 are allowed', entity_references.parameter,
            jsonb_array_length(entity_references.entities) USING ERRCODE = '22023';
    END IF;
    FOR v_element IN SELECT x FROM jsonb_array_elements(entity_references.entities) AS x LOOP
        v_ordinal := v_ordinal + 1;
        IF jsonb_typeof(v_element) = 'string' THEN
            v_element := CASE WHEN v_element #>> '{}' ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
                              THEN jsonb_build_object('id', v_element) ELSE jsonb_build_object('name', v_element) END;
        ELSIF jsonb_typeof(v_element) <> 'object' THEN
            RAISE EXCEPTION '%[%] must be an entity id, a name or an object, got %', entity_references.parameter,
                v_ordinal - 1, jsonb_typeof(v_element) USING ERRCODE = '22023';
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_object_keys(v_element) AS k WHERE k NOT IN ('id', 'name', 'type', 'aliases', 'role')) THEN
            RAISE EXCEPTION '%[%] has unknown keys (allowed: id, name, type, aliases, role)', entity_references.parameter,
                v_ordinal - 1 USING ERRCODE = '22023';
        END IF;
        IF (v_element ? 'id') = (v_element ? 'name') OR (v_element ? 'id' AND (v_element ? 'type' OR v_element ? 'aliases')) THEN
            RAISE EXCEPTION '%[%] needs either an id or a name (with an optional type and aliases)',
                entity_references.parameter, v_ordinal - 1 USING ERRCODE = '22023';
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_each(v_element - 'aliases') AS kv WHERE jsonb_typeof(kv.value) <> 'string')
           OR (v_element ? 'aliases' AND (jsonb_typeof(v_element -> 'aliases') <> 'array'
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_element -> 'aliases') AS a WHERE jsonb_typeof(a) <> 'string'))) THEN
            RAISE EXCEPTION '%[%]: id, name, type and role are strings, aliases an array of strings',
                entity_references.parameter, v_ordinal - 1 USING ERRCODE = '22023';
        END IF;
        IF v_element ? 'id' AND v_element ->> 'id' !~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN
            RAISE EXCEPTION '%[%].id is not a uuid: %', entity_references.parameter, v_ordinal - 1,
                quote_literal(v_element ->> 'id') USING ERRCODE = '22023';
        END IF;
        v_role := coalesce(v_element ->> 'role', 'mention');
        IF v_role !~ '^[a-z][a-z0-9_]{0,62}$' THEN
            RAISE EXCEPTION '%[%].role must be a lower-case word (speaker, subject, mention, ...), got %',
                entity_references.parameter, v_ordinal - 1, quote_literal(v_role) USING ERRCODE = '22023';
        END IF;
        v_aliases := ARRAY(SELECT jsonb_array_elements_text(coalesce(v_element -> 'aliases', '[]')));
        IF v_element ? 'name' THEN
            PERFORM memory.check_entity_name(v_element ->> 'name', format('%s[%s].name', entity_references.parameter, v_ordinal - 1));
            PERFORM memory.check_entity_type(coalesce(v_element ->> 'type', 'other'),
                                             format('%s[%s].type', entity_references.parameter, v_ordinal - 1));
            PERFORM memory.check_entity_fields(v_aliases, '{}', '{}', NULL, NULL, NULL, coalesce(v_element ->> 'type', 'other'));
        END IF;
        ordinal := v_ordinal;
        id := (v_element ->> 'id')::uuid;
        name := v_element ->> 'name';
        entity_type := v_element ->> 'type';
        aliases := v_aliases;
        role := v_role;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.entity_references(jsonb, text) IS
    'The elements of an entities argument checked and normalised to (ordinal, id, name, type, aliases, role)';

-- memory.mentioned_entity(): the user's live entity a name without a type stands for: exactly
-- that name or one of the aliases (memory.entities_named, by the keys of
-- memory.entity_name_keys). Its type is that of the first of them by type other than 'other'
-- first, then the most important, the oldest (0019's rule); within that type, the entity is the
-- one resolve_entity's exact step picks (the name before an alias, then the most important, the
-- oldest), so that linking it directly links what upsert_entity would. No row when there is none.
-- From 0020; 0019's mentioned_entity_type() returned the type and link_entities resolved again.
CREATE OR REPLACE FUNCTION memory.mentioned_entity(user_id text, name text, aliases text[])
RETURNS TABLE (id uuid, entity_type text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH named AS (
        SELECT n.id, n.entity_type, n.normalized_name, n.importance, n.created_at
        FROM memory.entities_named(mentioned_entity.user_id,
                                   memory.entity_name_keys(mentioned_entity.user_id, mentioned_entity.name,
                                                           mentioned_entity.aliases)) AS n
    ), chosen_type AS (  -- 0019's choice of the type
        SELECT n.entity_type FROM named AS n
        ORDER BY n.entity_type = 'other', n.importance DESC, n.created_at, n.id
        LIMIT 1
    )
    SELECT n.id, n.entity_type  -- then resolve_entity's exact step within it
    FROM named AS n JOIN chosen_type AS t ON t.entity_type = n.entity_type
    ORDER BY n.normalized_name = memory.normalize_entity_name(mentioned_entity.name) DESC, n.importance DESC,
             n.created_at, n.id
    LIMIT 1
$$;

COMMENT ON FUNCTION memory.mentioned_entity(text, text, text[]) IS
    'The user''s live entity named exactly so (name or alias), typed before other; no row if none';

CREATE OR REPLACE FUNCTION memory.link_entities(memory_id uuid, entities jsonb)
RETURNS TABLE (entity_id uuid, role text, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_user_id text;
    v_reference record;
    v_entity_id uuid;
    v_event text;
    v_references jsonb;
    v_mentioned_id uuid;
    v_mentioned_type text;
BEGIN
    IF link_entities.memory_id IS NULL THEN
        RAISE EXCEPTION 'memory_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT m.user_id INTO v_user_id FROM memory.memories AS m WHERE m.id = link_entities.memory_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory_id % is not a known memory', link_entities.memory_id USING ERRCODE = '22023';
    END IF;
    -- every element is checked before the first entity is resolved or linked
    SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.ordinal), '[]') INTO v_references
    FROM memory.entity_references(link_entities.entities) AS r;
    -- the user's entity lock (upsert_entity.sql) before the first lookup and the first entity row
    -- the links lock: an entity another transaction is adding or merging is then seen whole, and
    -- the lock comes before any row lock, as in every entity writer
    IF jsonb_array_length(v_references) > 0 THEN
        PERFORM pg_advisory_xact_lock(memory.entity_lock_key(v_user_id));
    END IF;
    FOR v_reference IN
        SELECT * FROM jsonb_to_recordset(v_references)
            AS r(ordinal bigint, id uuid, name text, entity_type text, aliases text[], role text)
        ORDER BY r.ordinal
    LOOP
        IF v_reference.id IS NOT NULL THEN
            v_entity_id := memory.live_entity_id(v_reference.id);
            IF v_entity_id IS NULL OR NOT EXISTS (SELECT 1 FROM memory.entities AS e
                                                  WHERE e.id = v_entity_id AND e.user_id = v_user_id
                                                    AND NOT e.is_deleted) THEN
                RAISE EXCEPTION 'entities[%].id % is not a live entity of the memory''s user', v_reference.ordinal - 1,
                    v_reference.id USING ERRCODE = '22023';
            END IF;
        ELSE
            v_mentioned_id := NULL;
            v_mentioned_type := NULL;
            IF v_reference.entity_type IS NULL THEN
                SELECT m.id, m.entity_type INTO v_mentioned_id, v_mentioned_type
                FROM memory.mentioned_entity(v_user_id, v_reference.name, v_reference.aliases) AS m;
            END IF;
            IF v_mentioned_id IS NOT NULL AND cardinality(v_reference.aliases) = 0 THEN
                v_entity_id := v_mentioned_id;  -- found by its name: upsert_entity would change nothing
            ELSE
                SELECT u.id INTO v_entity_id
                FROM memory.upsert_entity(v_user_id, v_reference.name,
                                          coalesce(v_reference.entity_type, v_mentioned_type, 'other'),
                                          v_reference.aliases) AS u;
            END IF;
        END IF;
        INSERT INTO memory.memory_entities AS me (memory_id, entity_id, user_id, role)
        VALUES (link_entities.memory_id, v_entity_id, v_user_id, v_reference.role)
        ON CONFLICT DO NOTHING;
        v_event := CASE WHEN FOUND THEN 'LINK' ELSE 'NOOP' END;
        entity_id := v_entity_id;
        role := v_reference.role;
        event := v_event;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.link_entities(uuid, jsonb) IS
    'Links a memory to entities given by id or name (resolved or created); returns each entity, role and LINK or NOOP';

CREATE OR REPLACE FUNCTION memory.unlink_entity(memory_id uuid, entity_id uuid, role text DEFAULT NULL)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM memory.memory_entities AS me
        WHERE me.memory_id = unlink_entity.memory_id AND me.entity_id = memory.live_entity_id(unlink_entity.entity_id)
          AND (unlink_entity.role IS NULL OR me.role = unlink_entity.role)
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;

COMMENT ON FUNCTION memory.unlink_entity(uuid, uuid, text) IS 'Removes the links of a memory to an entity (in one role, or all); how many';

REVOKE ALL ON FUNCTION memory.check_memory_entity_link(), memory.entity_references(jsonb, text),
    memory.mentioned_entity(text, text, text[]),
    memory.link_entities(uuid, jsonb), memory.unlink_entity(uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_references(jsonb, text), memory.mentioned_entity(text, text, text[]),
    memory.link_entities(uuid, jsonb),
    memory.unlink_entity(uuid, uuid, text) TO authenticated, service_role;
