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
-- The entity writers of one user are serialised by a transaction-level advisory lock
-- (memory.entity_lock_key(user); from 0020, before it one lock per (user, type)), so 16
-- concurrent upserts of one new name make one entity, and a transaction that names entities of
-- several types holds one lock, not several in an order that another one may reverse (40P01).
-- Every function that writes an entity, its names or a row that locks one (a link, a fact, an
-- interaction) takes it first, before any entity row: link_entities, merge_entities,
-- unmerge_entity, delete_entity, restore_entity, assert_fact, retract_fact,
-- record_interaction, the import's restore_entity, and add_memory when it links entities
-- (before deduplication's scope lock). One order, user lock -> scope lock -> rows, so that no
-- two such calls wait for each other in a circle. A transaction that adds a memory without
-- entities (scope lock) and then resolves a name (user lock) takes them the other way round and
-- can meet 40P01 against a call that links entities: resolve names first, or pass them to
-- add_memory.
-- Under REPEATABLE READ and SERIALIZABLE a concurrent writer's entity may be invisible to this
-- snapshot: its insert then meets the unique index and gets 40001 (retry), as add_memory does.
-- The exact and trigram steps are index lookups as the table's owner (entity_lookup.sql says why);
-- the vector step reads the HNSW index with an iterative scan (hnsw.* settings restored on return).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.entity_lock_key(user_id text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT hashtextextended('memory.entity' || chr(31) || entity_lock_key.user_id, 0)
$$;

COMMENT ON FUNCTION memory.entity_lock_key(text) IS
    'Advisory lock key that serialises the entity writers (resolution, merges) of one user';

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
    v_stored_query memory.memories.embedding%TYPE;  -- the embedding, cast once: stored_embedding.sql
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
    v_stored_query := resolve_entity.embedding;  -- only now: a name match needs no usable embedding

    RETURN QUERY
    SELECT c.id, 'embedding', 1 - c.distance
    FROM (SELECT e.id, e.embedding <=> v_stored_query AS distance
          FROM memory.entities AS e
          WHERE e.user_id = resolve_entity.user_id AND e.entity_type = resolve_entity.entity_type
            AND e.embedding IS NOT NULL AND NOT e.is_deleted AND e.merged_into IS NULL
          ORDER BY e.embedding <=> v_stored_query
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
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(upsert_entity.user_id));

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

REVOKE ALL ON FUNCTION memory.entity_lock_key(text), memory.check_entity_name(text, text),
    memory.check_entity_type(text, text),
    memory.check_entity_fields(text[], jsonb, jsonb, double precision, vector, text, text),
    memory.resolve_entity(text, text, text, text[], vector),
    memory.upsert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.merge_aliases(text[], text, text[], integer, text),
    memory.insert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_lock_key(text), memory.check_entity_name(text, text),
    memory.check_entity_type(text, text),
    memory.check_entity_fields(text[], jsonb, jsonb, double precision, vector, text, text),
    memory.resolve_entity(text, text, text, text[], vector),
    memory.upsert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.merge_aliases(text[], text, text[], integer, text),
    memory.insert_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text) TO authenticated, service_role;
