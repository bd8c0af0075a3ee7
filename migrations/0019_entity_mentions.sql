-- 0019_entity_mentions: entities named in text are linked as the entities they are (issue 13).
-- memory.extract_entity_names() no longer takes grammar's capitals for names: a greeting or
-- interjection that opens a span is dropped from it ("Hey John" -> "John") and the pronoun I
-- ends a span ("I'm" was the most linked "name" of every development conversation).
-- memory.link_entities() resolves a name given without a type (a JSON string, or an object
-- without "type") to the user's live entity of exactly that name or alias whatever its type
-- (new memory.mentioned_entity_type()), else as type other: before, "Caroline" said by another
-- speaker became an entity of type other beside the person Caroline, and the entity boost
-- favoured the memories where others addressed her.
-- memory.upsert_entity() no longer makes the spelling of a trigram or cosine match an alias: a
-- fuzzy match is a guess, and a wrong one kept as an alias became an exact match.
-- Extension types by name, whatever search_path the runner's session started with:
SET LOCAL search_path = pg_catalog, extensions, public;

-- sql/memory/upsert_entity.sql
-- memory.upsert_entity(): finds the entity a name stands for, or creates it, in one call and
-- without an LLM. Within one user and entity type, in this order:
--   exact   the normalised name (memory.normalize_entity_name) or an alias of an entity equals
--           the given name or one of the given aliases          -> MATCH, matched_by name | alias
--   trigram pg_trgm similarity of the normalised names >= entity_resolution_settings.trigram_threshold
--           (default 0.7: 'Christopher Nolan' ~ 'Christoper Nolan'; 'Caroline' and 'Carolina',
--           0.64, stay two people)                             -> MATCH, matched_by trigram
--   vector  cosine similarity of the embeddings, when one is given, >= embedding_threshold
--           (default 0.95, Mem0's)                             -> MATCH, matched_by embedding
--   else    a new entity                                       -> ADD
-- A match takes what the call asserts: its aliases are added (up to max_aliases), and so is the
-- given name when the match was exact (upsert('NYC', aliases => '{New York City}') says the two
-- are one), attributes and contact are merged (the given keys win), importance rises to the
-- given one, and a missing embedding or person type is filled in. A trigram or cosine match does
-- not make the spelling an alias (from 0019; before, it did): a fuzzy match is a guess, found
-- again by the same step next time, and a wrong guess kept as an alias would become an exact
-- match that no later entity of that name could escape. Nothing changes (no UPDATE, no history
-- row) when the call brings nothing new.
-- Writers of one (user, type) are serialised by a transaction-level advisory lock, so 16
-- concurrent upserts of one new name make one entity. Under REPEATABLE READ and SERIALIZABLE a
-- concurrent writer's entity may be invisible to this snapshot: its insert then meets the unique
-- index and gets 40001 (retry), as add_memory does.
-- The exact and trigram steps are index lookups as the table's owner (entity_lookup.sql says why);
-- the vector step reads the HNSW index with an iterative scan (hnsw.* settings restored on return).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.entity_lock_key(user_id text, entity_type text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT hashtextextended('memory.entity' || chr(31) || entity_lock_key.user_id || chr(31)
                            || entity_lock_key.entity_type, 0)
$$;

COMMENT ON FUNCTION memory.entity_lock_key(text, text) IS
    'Advisory lock key that serialises the entity resolution of one user and entity type';

-- memory.check_entity_name(): a name or alias as resolution needs it: given, at most
-- max_name_chars long, and something left after normalisation.
CREATE OR REPLACE FUNCTION memory.check_entity_name(name text, parameter text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM memory.check_label(check_entity_name.name, check_entity_name.parameter,
                               (SELECT s.max_name_chars FROM memory.entity_resolution_settings AS s), true);
    IF memory.normalize_entity_name(check_entity_name.name) = '' THEN
        RAISE EXCEPTION '% must contain a letter or digit, got %', check_entity_name.parameter,
            quote_literal(check_entity_name.name) USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_entity_name(text, text) IS
    'Raises 22004 for NULL, 22001 over max_name_chars, 22023 for a name with no letter or digit';

-- memory.check_entity_type(): a known entity type (memory.entity_types).
CREATE OR REPLACE FUNCTION memory.check_entity_type(entity_type text, parameter text DEFAULT 'entity_type')
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF check_entity_type.entity_type IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', check_entity_type.parameter USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM memory.entity_types AS t WHERE t.name = check_entity_type.entity_type) THEN
        RAISE EXCEPTION '% % is not a known entity type', check_entity_type.parameter,
            quote_literal(check_entity_type.entity_type) USING ERRCODE = '22023',
            HINT = 'the types are the rows of memory.entity_types; service_role adds more';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_entity_type(text, text) IS 'Raises 22004 for NULL, 22023 for a type not in memory.entity_types';

-- memory.check_entity_fields(): everything else an entity carries, checked before anything is read.
CREATE OR REPLACE FUNCTION memory.check_entity_fields(aliases text[], attributes jsonb, contact jsonb,
                                                      importance double precision, embedding vector, person_type text,
                                                      entity_type text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
    v_max_aliases integer;
    v_alias text;
BEGIN
    IF coalesce(cardinality(check_entity_fields.aliases), 0) = 0 AND check_entity_fields.attributes = '{}'
       AND check_entity_fields.contact = '{}' AND check_entity_fields.importance IS NULL
       AND check_entity_fields.embedding IS NULL AND check_entity_fields.person_type IS NULL THEN
        RETURN;  -- the defaults: nothing to check (most calls name an entity and nothing more)
    END IF;
    SELECT * INTO v_settings FROM memory.settings;
    v_max_aliases := (SELECT s.max_aliases FROM memory.entity_resolution_settings AS s);
    IF check_entity_fields.aliases IS NOT NULL THEN
        IF cardinality(check_entity_fields.aliases) > v_max_aliases THEN
            RAISE EXCEPTION 'aliases has % entries; at most % are allowed', cardinality(check_entity_fields.aliases),
                v_max_aliases USING ERRCODE = '22023';
        END IF;
        FOREACH v_alias IN ARRAY check_entity_fields.aliases LOOP
            PERFORM memory.check_entity_name(v_alias, 'aliases');
        END LOOP;
    END IF;
    PERFORM memory.check_metadata(check_entity_fields.attributes, 'attributes', v_settings.max_metadata_bytes,
                                  v_settings.max_metadata_depth),
            memory.check_metadata(check_entity_fields.contact, 'contact', v_settings.max_metadata_bytes,
                                  v_settings.max_metadata_depth);
    IF check_entity_fields.importance IS NOT NULL AND NOT check_entity_fields.importance BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'importance must be between 0 and 1, got %', check_entity_fields.importance
            USING ERRCODE = '22023';
    END IF;
    IF check_entity_fields.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(check_entity_fields.embedding, 'embedding');
    END IF;
    PERFORM memory.check_label(check_entity_fields.person_type, 'person_type', v_settings.max_memory_type_chars);
    IF check_entity_fields.person_type IS NOT NULL AND check_entity_fields.entity_type <> 'person' THEN
        RAISE EXCEPTION 'person_type is for entities of type person, not %', check_entity_fields.entity_type
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_entity_fields(text[], jsonb, jsonb, double precision, vector, text, text) IS
    'Raises 22023/22001/22004 for bad aliases, attributes, contact, importance, embedding or person_type';

-- memory.resolve_entity(): the resolution steps alone, read-only: the entity a name stands for
-- within (user, type), how it was found and the score; no row when it is new.
CREATE OR REPLACE FUNCTION memory.resolve_entity(user_id text, entity_type text, name text,
                                                 aliases text[] DEFAULT '{}', embedding vector DEFAULT NULL)
RETURNS TABLE (id uuid, matched_by text, score double precision)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = '40'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.entity_resolution_settings;
    v_normalized text := memory.normalize_entity_name(resolve_entity.name);
    v_keys text[];
BEGIN
    SELECT * INTO v_settings FROM memory.entity_resolution_settings;
    SELECT array_agg(memory.entity_name_key(resolve_entity.user_id, n))
    INTO v_keys
    FROM unnest(resolve_entity.name || coalesce(resolve_entity.aliases, '{}')) AS n;

    RETURN QUERY
    SELECT n.id, CASE WHEN n.normalized_name = v_normalized THEN 'name' ELSE 'alias' END, 1::double precision
    FROM memory.entities_named(resolve_entity.user_id, v_keys, resolve_entity.entity_type) AS n
    ORDER BY n.normalized_name = v_normalized DESC, n.importance DESC, n.created_at, n.id
    LIMIT 1;
    IF FOUND THEN
        RETURN;
    END IF;

    RETURN QUERY
    SELECT t.id, 'trigram', t.similarity
    FROM memory.entities_like(resolve_entity.user_id, v_normalized, resolve_entity.entity_type, 1,
                              v_settings.trigram_threshold) AS t
    WHERE t.similarity >= v_settings.trigram_threshold;
    IF FOUND OR resolve_entity.embedding IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    SELECT c.id, 'embedding', 1 - c.distance
    FROM (SELECT e.id, e.embedding <=> resolve_entity.embedding AS distance
          FROM memory.entities AS e
          WHERE e.user_id = resolve_entity.user_id AND e.entity_type = resolve_entity.entity_type
            AND e.embedding IS NOT NULL AND NOT e.is_deleted AND e.merged_into IS NULL
          ORDER BY e.embedding <=> resolve_entity.embedding
          LIMIT 5) AS c  -- relaxed order: take a margin, re-sort
    WHERE memory.meets_threshold(1 - c.distance, v_settings.embedding_threshold)
    ORDER BY c.distance + 0, c.id  -- + 0: a real re-sort of the relaxed order (search_paths.sql)
    LIMIT 1;
END
$$;

COMMENT ON FUNCTION memory.resolve_entity(text, text, text, text[], vector) IS
    'The entity a name stands for within (user, type): exact name or alias, then trigram, then cosine; no row if new';

-- memory.merge_aliases(): an alias list with more names added: each name whose normalised form is
-- not already the entity's name or an alias, in order, up to max_aliases.
CREATE OR REPLACE FUNCTION memory.merge_aliases(aliases text[], name text, more text[], max_aliases integer,
                                                entity_name text DEFAULT NULL)
RETURNS text[]
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_result text[] := coalesce(merge_aliases.aliases, '{}');
    v_seen text[];
    v_candidate text;
BEGIN
    v_seen := ARRAY(SELECT memory.normalize_entity_name(a)
                    FROM unnest(coalesce(merge_aliases.entity_name, merge_aliases.name) || v_result) AS a);
    FOREACH v_candidate IN ARRAY merge_aliases.name || coalesce(merge_aliases.more, '{}') LOOP
        EXIT WHEN cardinality(v_result) >= merge_aliases.max_aliases;
        CONTINUE WHEN memory.normalize_entity_name(v_candidate) = ANY (v_seen);
        v_result := v_result || btrim(v_candidate);
        v_seen := v_seen || memory.normalize_entity_name(v_candidate);
    END LOOP;
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION memory.merge_aliases(text[], text, text[], integer, text) IS
    'Aliases with new names appended, skipping any that normalise like the name or an alias, up to max_aliases';

-- memory.insert_entity(): the one INSERT of a new entity; its aliases are the given ones that
-- normalise differently from the name and from each other.
CREATE OR REPLACE FUNCTION memory.insert_entity(user_id text, entity_type text, name text, aliases text[],
                                                attributes jsonb, contact jsonb, importance double precision,
                                                embedding vector, person_type text)
RETURNS uuid
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    INSERT INTO memory.entities AS e (user_id, entity_type, name, aliases, attributes, contact, importance,
                                      embedding, person_type)
    VALUES (insert_entity.user_id, insert_entity.entity_type, btrim(insert_entity.name),
            memory.merge_aliases('{}', insert_entity.name, insert_entity.aliases,
                                 (SELECT s.max_aliases FROM memory.entity_resolution_settings AS s)),
            coalesce(insert_entity.attributes, '{}'), coalesce(insert_entity.contact, '{}'),
            coalesce(insert_entity.importance, 0.5), insert_entity.embedding, insert_entity.person_type)
    RETURNING e.id
$$;

COMMENT ON FUNCTION memory.insert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text) IS
    'INSERT of one new entity (upsert_entity decided it is new)';

CREATE OR REPLACE FUNCTION memory.upsert_entity(
    user_id text,
    name text,
    entity_type text DEFAULT 'other',
    aliases text[] DEFAULT '{}',
    attributes jsonb DEFAULT '{}',
    contact jsonb DEFAULT '{}',
    importance double precision DEFAULT NULL,
    embedding vector DEFAULT NULL,
    person_type text DEFAULT NULL)
RETURNS TABLE (id uuid, event text, matched_by text, score double precision)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_match record;
    v_entity memory.entities;
    v_aliases text[];
    v_max_aliases integer := (SELECT s.max_aliases FROM memory.entity_resolution_settings AS s);
    v_id uuid;
BEGIN
    PERFORM memory.check_label(upsert_entity.user_id, 'user_id', (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_entity_name(upsert_entity.name, 'name');
    PERFORM memory.check_entity_type(upsert_entity.entity_type);
    PERFORM memory.check_entity_fields(upsert_entity.aliases, upsert_entity.attributes, upsert_entity.contact,
                                       upsert_entity.importance, upsert_entity.embedding, upsert_entity.person_type,
                                       upsert_entity.entity_type);
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(upsert_entity.user_id, upsert_entity.entity_type));

    SELECT * INTO v_match
    FROM memory.resolve_entity(upsert_entity.user_id, upsert_entity.entity_type, upsert_entity.name,
                               upsert_entity.aliases, upsert_entity.embedding);
    IF v_match.id IS NULL THEN
        IF current_setting('transaction_isolation') = 'read committed' THEN
            v_id := memory.insert_entity(upsert_entity.user_id, upsert_entity.entity_type, upsert_entity.name,
                                         upsert_entity.aliases, upsert_entity.attributes, upsert_entity.contact,
                                         upsert_entity.importance, upsert_entity.embedding, upsert_entity.person_type);
        ELSE
            BEGIN
                v_id := memory.insert_entity(upsert_entity.user_id, upsert_entity.entity_type, upsert_entity.name,
                                             upsert_entity.aliases, upsert_entity.attributes, upsert_entity.contact,
                                             upsert_entity.importance, upsert_entity.embedding, upsert_entity.person_type);
            EXCEPTION WHEN unique_violation THEN
                RAISE EXCEPTION 'a concurrent transaction added entity % after this transaction''s snapshot was taken',
                    quote_literal(upsert_entity.name)
                    USING ERRCODE = '40001', HINT = 'retry the transaction: the entity is then found (MATCH)';
            END;
        END IF;
        RETURN QUERY SELECT v_id, 'ADD'::text, NULL::text, NULL::double precision;
        RETURN;
    END IF;

    SELECT * INTO v_entity FROM memory.entities AS e WHERE e.id = v_match.id;
    v_aliases := memory.merge_aliases(v_entity.aliases,
                                      CASE WHEN v_match.matched_by IN ('name', 'alias') THEN upsert_entity.name
                                           ELSE v_entity.name END,
                                      upsert_entity.aliases, v_max_aliases, v_entity.name);
    UPDATE memory.entities AS e
    SET aliases = v_aliases,
        attributes = e.attributes || coalesce(upsert_entity.attributes, '{}'),
        contact = e.contact || coalesce(upsert_entity.contact, '{}'),
        importance = greatest(e.importance, coalesce(upsert_entity.importance, e.importance)),
        embedding = coalesce(e.embedding, upsert_entity.embedding),
        person_type = coalesce(upsert_entity.person_type, e.person_type),
        updated_at = now()
    WHERE e.id = v_entity.id
      AND (e.aliases IS DISTINCT FROM v_aliases
           OR e.attributes IS DISTINCT FROM e.attributes || coalesce(upsert_entity.attributes, '{}')
           OR e.contact IS DISTINCT FROM e.contact || coalesce(upsert_entity.contact, '{}')
           OR e.importance < coalesce(upsert_entity.importance, e.importance)
           OR (e.embedding IS NULL AND upsert_entity.embedding IS NOT NULL)
           OR e.person_type IS DISTINCT FROM coalesce(upsert_entity.person_type, e.person_type));
    RETURN QUERY SELECT v_entity.id, 'MATCH'::text, v_match.matched_by, v_match.score;
END
$$;

COMMENT ON FUNCTION memory.upsert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text) IS
    'Finds the entity a name stands for (exact name or alias, trigram, cosine) or adds it; returns id, ADD or MATCH, how and score';

REVOKE ALL ON FUNCTION memory.entity_lock_key(text, text), memory.check_entity_name(text, text),
    memory.check_entity_type(text, text),
    memory.check_entity_fields(text[], jsonb, jsonb, double precision, vector, text, text),
    memory.resolve_entity(text, text, text, text[], vector),
    memory.upsert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.merge_aliases(text[], text, text[], integer, text),
    memory.insert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_lock_key(text, text), memory.check_entity_name(text, text),
    memory.check_entity_type(text, text),
    memory.check_entity_fields(text[], jsonb, jsonb, double precision, vector, text, text),
    memory.resolve_entity(text, text, text, text[], vector),
    memory.upsert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.merge_aliases(text[], text, text[], integer, text),
    memory.insert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text) TO authenticated, service_role;

-- sql/memory/link_entities.sql
-- Links between memories and the entities they are about (memory.memory_entities).
-- memory.link_entities(memory_id, entities): entities is a JSON array; each element is an entity
-- id ("9f1c...": followed through merges), a name ("Caroline", role mention), or an object
-- {"id": ...} or {"name": ..., "type": ..., "aliases": [...], "role": ...}, resolved by
-- memory.upsert_entity(). A name without a type (from 0019) is the user's live entity of exactly
-- that name or alias whatever its type (memory.mentioned_entity_type: a typed one before one of
-- type other, then the most important, the oldest), else type other: a name found in a text
-- ("Caroline" in "Hey Caroline") is the person already known, not a second entity beside her.
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

-- memory.mentioned_entity_type(): the type of the user's live entity a name without a type stands
-- for: exactly that name or one of the aliases (memory.entities_named, by the keys of
-- memory.entity_name_keys), a type other than 'other' first, then the most important, the
-- oldest; NULL when there is none.
CREATE OR REPLACE FUNCTION memory.mentioned_entity_type(user_id text, name text, aliases text[])
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT n.entity_type
    FROM memory.entities_named(mentioned_entity_type.user_id,
                               memory.entity_name_keys(mentioned_entity_type.user_id, mentioned_entity_type.name,
                                                       mentioned_entity_type.aliases)) AS n
    ORDER BY n.entity_type = 'other', n.importance DESC, n.created_at, n.id
    LIMIT 1
$$;

COMMENT ON FUNCTION memory.mentioned_entity_type(text, text, text[]) IS
    'Type of the user''s live entity named exactly so (name or alias), typed before other; NULL if none';

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
            SELECT u.id INTO v_entity_id
            FROM memory.upsert_entity(v_user_id, v_reference.name,
                                      coalesce(v_reference.entity_type,
                                               memory.mentioned_entity_type(v_user_id, v_reference.name,
                                                                            v_reference.aliases),
                                               'other'),
                                      v_reference.aliases) AS u;
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
    memory.mentioned_entity_type(text, text, text[]),
    memory.link_entities(uuid, jsonb), memory.unlink_entity(uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_references(jsonb, text), memory.mentioned_entity_type(text, text, text[]),
    memory.link_entities(uuid, jsonb),
    memory.unlink_entity(uuid, uuid, text) TO authenticated, service_role;

-- sql/memory/search_entities.sql
-- Entity-aware search without an LLM.
-- memory.extract_entity_names(text): the names a text mentions, as capitalised spans
-- ("Caroline", "New York City", "LGBTQ"): runs of words that start with an upper-case letter.
-- Capitals that grammar puts there are not names: a single word that opens a sentence ("Hey",
-- "Thanks") is left out, the greeting or interjection that opens a longer span is dropped from
-- it ("Hey John" -> "John", "Thanks Nate" -> "Nate"; the words are in the function), the
-- pronoun I and its contractions end a span ("Sometimes I'm" -> nothing, "Glad I" -> nothing),
-- and spans that are stop words of the text-search configuration are left out (from 0019; before
-- it, "Hey John" and "I'm" were names).
-- The caller links what it wants (add_memory's entities: a bare name links to the user's entity
-- of that name whatever its type, link_entities.sql); the speakers of a conversation are known
-- to the caller and are linked as such.
-- memory.query_entities(query_text, user): the user's live entities whose normalised name or
-- alias is one of the query's word n-grams (1 to 4 words), at most max_query_entities, the
-- most selective first (fewest linked memories, counted up to 1,000).
-- memory.entity_boost_weight(links): Mem0's damping of an entity linked to n memories,
-- 1 / (1 + 0.001 (n - 1)^2): a name that is on every memory tells nothing.
-- memory.search_entities(): a user's entities for a query, three rankings fused by reciprocal
-- rank (memory.rrf_share, k 10 as in hybrid_search_memories): by name (an exact name or alias
-- among the query's n-grams first, then pg_trgm similarity of the whole query to the name), by
-- full text over names, aliases and string attributes (any term), and by the cosine similarity
-- of the embeddings when one is given. Each row carries its current facts (memory.current_facts).
-- The name and text lookups are memory.entities_named / _like / _matching (entity_lookup.sql).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.rrf_share(weight double precision, k integer, rank bigint)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(rrf_share.weight / (rrf_share.k + rrf_share.rank), 0)
$$;

COMMENT ON FUNCTION memory.rrf_share(double precision, integer, bigint) IS
    'One ranking''s share of a reciprocal rank fusion: weight / (k + rank), 0 when the row is not in it';

CREATE OR REPLACE FUNCTION memory.entity_boost_weight(links bigint)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT 1.0 / (1 + 0.001 * power(greatest(entity_boost_weight.links - 1, 0), 2))
$$;

COMMENT ON FUNCTION memory.entity_boost_weight(bigint) IS
    'Weight of an entity linked to n memories in the entity boost: 1 / (1 + 0.001 (n - 1)^2) (Mem0''s)';

CREATE OR REPLACE FUNCTION memory.extract_entity_names(content text)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    -- words that open a sentence by grammar, before a name: "Hey John", "Thanks Nate"
    c_openers constant text[] := ARRAY['hey', 'hi', 'hello', 'bye', 'goodbye', 'thanks', 'thank', 'congrats',
                                       'congratulations', 'sorry', 'welcome', 'cheers', 'dear', 'yes', 'yeah',
                                       'yep', 'no', 'nope', 'ok', 'okay', 'oh', 'ah', 'aw', 'aww', 'wow', 'whoa',
                                       'hmm', 'haha', 'lol', 'omg', 'well', 'so', 'and', 'but', 'glad', 'great',
                                       'good', 'nice', 'cool', 'awesome', 'sure', 'happy', 'morning', 'evening'];
    v_match text[];
    v_word text;
    v_span text[];
    v_opens boolean;
    v_names text[] := '{}';
BEGIN
    FOR v_match IN
        SELECT m FROM regexp_matches(coalesce(extract_entity_names.content, ''),
                                     '(^|[.!?]\s+|[^.!?\s]\s*)(\m[[:upper:]][[:alnum:]''’&-]*(?:\s+[[:upper:]][[:alnum:]''’&-]*)*)',
                                     'g') AS m
    LOOP
        v_opens := v_match[1] = '' OR v_match[1] ~ '^[.!?]';
        v_span := '{}';
        -- a trailing 'I' flushes the last span: the pronoun ends every span
        FOREACH v_word IN ARRAY regexp_split_to_array(v_match[2], '\s+') || 'I'::text LOOP
            IF v_word !~ '^I([''’][[:alpha:]]+)?$' THEN
                v_span := v_span || v_word;
                CONTINUE;
            END IF;
            IF v_opens AND cardinality(v_span) > 1 AND lower(v_span[1]) = ANY (c_openers) THEN
                v_span := v_span[2:];
                v_opens := false;
            END IF;
            IF cardinality(v_span) > 1 OR (cardinality(v_span) = 1 AND NOT v_opens) THEN
                v_names := v_names || array_to_string(v_span, ' ');
            END IF;
            v_span := '{}';
            v_opens := false;
        END LOOP;
    END LOOP;
    RETURN coalesce((SELECT array_agg(DISTINCT n ORDER BY n)
                     FROM unnest(v_names) AS n
                     WHERE to_tsvector(memory.text_search_config(), n)::text <> ''
                       AND memory.normalize_entity_name(n) <> ''), '{}');
END
$$;

COMMENT ON FUNCTION memory.extract_entity_names(text) IS
    'Capitalised spans of a text (candidate entity names), without sentence openers, greetings, the pronoun I and stop words';

CREATE OR REPLACE FUNCTION memory.query_entities(query_text text, query_user_id text)
RETURNS TABLE (entity_id uuid, name text, entity_type text, links bigint)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_words text[] := regexp_split_to_array(memory.normalize_entity_name(query_entities.query_text), ' ');
    v_keys text[] := '{}';
    v_limit integer := (SELECT s.max_query_entities FROM memory.entity_resolution_settings AS s);
BEGIN
    IF query_entities.query_text IS NULL OR query_entities.query_user_id IS NULL THEN
        RETURN;
    END IF;
    FOR n IN 1 .. 4 LOOP
        FOR i IN 1 .. cardinality(v_words) - n + 1 LOOP
            EXIT WHEN cardinality(v_keys) >= 400;
            v_keys := v_keys || (query_entities.query_user_id || chr(31) || array_to_string(v_words[i:i + n - 1], ' '));
        END LOOP;
    END LOOP;
    RETURN QUERY
    SELECT e.id, e.name, e.entity_type,
           (SELECT count(*) FROM (SELECT 1 FROM memory.memory_entities AS me WHERE me.entity_id = e.id LIMIT 1000) AS l)
    FROM memory.entities_named(query_entities.query_user_id, v_keys) AS n
    JOIN memory.entities AS e ON e.id = n.id
    ORDER BY 4, e.id
    LIMIT v_limit;
END
$$;

COMMENT ON FUNCTION memory.query_entities(text, text) IS
    'The user''s entities named in a query (exact name or alias among its 1-4 word n-grams), most selective first';

CREATE OR REPLACE FUNCTION memory.search_entities(
    query_text text,
    query_embedding vector DEFAULT NULL,
    query_user_id text DEFAULT NULL,
    type_filter text DEFAULT NULL,
    match_count integer DEFAULT 10)
RETURNS TABLE (id uuid, name text, entity_type text, aliases text[], importance real, score double precision,
               name_rank bigint, text_rank bigint, semantic_rank bigint, name_similarity double precision,
               similarity double precision, facts jsonb)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_normalized text;
    v_query tsquery;
    v_lexeme text;
    v_exact uuid[];
    v_depth integer;
BEGIN
    PERFORM memory.check_query_text(search_entities.query_text);
    IF search_entities.query_embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(search_entities.query_embedding, 'query_embedding');
    END IF;
    PERFORM memory.check_label(search_entities.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    IF search_entities.type_filter IS NOT NULL THEN
        PERFORM memory.check_entity_type(search_entities.type_filter, 'type_filter');
    END IF;
    PERFORM memory.check_count(search_entities.match_count, 'match_count');
    PERFORM memory.take_token('search', search_entities.query_user_id);  -- rate limit: rate_limits.sql
    v_depth := greatest(20, search_entities.match_count);
    v_normalized := memory.normalize_entity_name(search_entities.query_text);
    FOR v_lexeme IN SELECT l FROM unnest(tsvector_to_array(to_tsvector(memory.text_search_config(), search_entities.query_text))) AS l LOOP
        v_query := CASE WHEN v_query IS NULL THEN memory.lexeme_query(v_lexeme) ELSE v_query || memory.lexeme_query(v_lexeme) END;
    END LOOP;
    SELECT array_agg(q.entity_id) INTO v_exact FROM memory.query_entities(search_entities.query_text, search_entities.query_user_id) AS q
    WHERE search_entities.type_filter IS NULL OR q.entity_type = search_entities.type_filter;

    RETURN QUERY
    WITH by_name AS (
        SELECT n.id, n.name_similarity, row_number() OVER (ORDER BY n.name_similarity DESC, n.id) AS rank
        FROM (SELECT x.id, max(x.name_similarity) AS name_similarity
              FROM (SELECT unnest(v_exact) AS id, 1::double precision AS name_similarity
                    UNION ALL
                    SELECT l.id, l.similarity
                    FROM memory.entities_like(search_entities.query_user_id, v_normalized, search_entities.type_filter,
                                              v_depth) AS l) AS x
              GROUP BY x.id
              ORDER BY 2 DESC, x.id
              LIMIT v_depth) AS n
    ), by_text AS (
        SELECT t.id, row_number() OVER (ORDER BY t.text_score DESC, t.id) AS rank
        FROM memory.entities_matching(search_entities.query_user_id, v_query, search_entities.type_filter, v_depth) AS t
        WHERE v_query IS NOT NULL
    ), by_vector AS (
        SELECT v.id, v.similarity, row_number() OVER (ORDER BY v.similarity DESC, v.id) AS rank
        FROM (SELECT e.id, 1 - (e.embedding <=> search_entities.query_embedding) AS similarity
              FROM memory.entities AS e
              WHERE search_entities.query_embedding IS NOT NULL AND e.embedding IS NOT NULL
                AND e.user_id = search_entities.query_user_id AND NOT e.is_deleted AND e.merged_into IS NULL
                AND (search_entities.type_filter IS NULL OR e.entity_type = search_entities.type_filter)
              ORDER BY e.embedding <=> search_entities.query_embedding
              LIMIT v_depth) AS v
    ), fused AS (
        SELECT coalesce(n.id, t.id, v.id) AS id, n.rank AS name_rank, t.rank AS text_rank, v.rank AS semantic_rank,
               n.name_similarity, v.similarity,
               memory.rrf_share(1, 10, n.rank) + memory.rrf_share(1, 10, t.rank) + memory.rrf_share(1, 10, v.rank) AS score
        FROM by_name AS n
        FULL JOIN by_text AS t ON t.id = n.id
        FULL JOIN by_vector AS v ON v.id = coalesce(n.id, t.id)
    )
    SELECT e.id, e.name, e.entity_type, e.aliases, e.importance, f.score, f.name_rank, f.text_rank, f.semantic_rank,
           f.name_similarity, f.similarity,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'subject', c.subject, 'relation', c.relation,
                                                         'object', coalesce(c.object, c.value), 'valid_from', c.valid_from)
                                      ORDER BY c.relation, c.valid_from), '[]')
            FROM memory.current_facts AS c WHERE c.subject_id = e.id OR c.object_id = e.id)
    FROM fused AS f
    JOIN memory.entities AS e ON e.id = f.id
    ORDER BY f.score DESC, e.importance DESC, e.id
    LIMIT search_entities.match_count;
END
$$;

COMMENT ON FUNCTION memory.search_entities(text, vector, text, text, integer) IS
    'A user''s entities for a query: name (exact n-gram, trigram), full text and vector rankings fused by RRF, with current facts';

REVOKE ALL ON FUNCTION memory.rrf_share(double precision, integer, bigint), memory.entity_boost_weight(bigint),
    memory.extract_entity_names(text), memory.query_entities(text, text),
    memory.search_entities(text, vector, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.rrf_share(double precision, integer, bigint), memory.entity_boost_weight(bigint),
    memory.extract_entity_names(text), memory.query_entities(text, text),
    memory.search_entities(text, vector, text, text, integer) TO authenticated, service_role;
