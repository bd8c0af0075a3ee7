-- 0020_entity_locks_and_mentions: the entity writers of one user take one lock, first; names found
-- in text are read with fewer mistakes; the entities older extraction made of grammar can be put
-- right; the neighbourhood walk visits each entity once (issue 13; reviews of 0019 and of this
-- migration found each of the defects).
-- memory.entity_lock_key(user) replaces entity_lock_key(user, type), and every function that
-- writes an entity, its names or a row that locks one takes it before any entity row:
-- upsert_entity, the import's restore_entity, link_entities (for ids too), merge_entities,
-- unmerge_entity, delete_entity, restore_entity, assert_fact, retract_fact, record_interaction,
-- and add_memory when it links entities (before deduplication's scope lock). Before, a call that
-- named entities of two types took two locks in the order of its list, and two calls in opposite
-- orders deadlocked (40P01); link_entities looked a bare name's type up before any lock, so a
-- person being added or an entity being merged at that moment gave a second entity of type other.
-- memory.mentioned_entity() replaces mentioned_entity_type(): the same type as 0019 chose, and
-- within it the entity resolve_entity's exact step finds, linked directly.
-- memory.extract_entity_names() reads each span through the new memory.span_names() by where it
-- stands (sentence, clause, inside): greetings are dropped as often as they open a sentence or a
-- clause ("Oh Hey John" -> John, "Caroline: Hey Mel" -> Mel) and never inside one ("a Hello Kitty
-- bag"), two-word greetings whole ("Good Morning"), "Great", "Happy" and the like only in a
-- greeting ("Great Britain" stays whole), the numeral I stays after War, Part, Chapter and the
-- like ("World War I"), single names after a colon or on a line of their own stay, and a span no
-- longer runs across lines. The word lists are memory.name_words().
-- memory.repair_mention_entities(user, dry_run) merges or deletes the entities of type other that
-- extraction before 0020 named "Hey John", "I'm" or "Good Morning"; a dry run by default.
-- memory.entity_neighbourhood() walks breadth first (one hop of it is memory.facts_around()).
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

-- sql/memory/import_batch.sql
-- memory.import_batch(run_id, pad_embeddings): the one bulk path of `mempg import` (0016). It
-- turns the rows a batch sent by COPY into this session's staging tables (import_staging.sql)
-- into entities, memories, relations, interactions and history, in that order, in the caller's
-- transaction, and returns one outcome per staged row: what it became (object_id) and how (event),
-- or why it was rejected (error_code, error). No row is dropped silently.
-- Memories, in source order:
--   SKIP     imported from this source for this user by an earlier run (memory.import_sources):
--            nothing is written, so re-running an import adds nothing and an interrupted one
--            resumes (a source id met twice in one run is rejected, 23505, whatever the batches);
--   REJECT   a row add_memory would refuse, with add_memory's SQLSTATE and message: the checks
--            of memories_10_normalize (memory.import_problem(), over the same check functions
--            and settings) and add_memory's own (embedding dimension, expires_at in the future,
--            entity references); created_at in the future, a source id given twice;
--   ADD, NOOP, UPDATE, MERGE  through the deduplication trigger, row by row, against the
--            user's memories and the batch's earlier rows: the same code as add_memory, so an
--            import ends where the same rows added one by one would (same memories, same
--            history). A row's own created_at and updated_at are kept; a uuid source id becomes
--            the memory's id when it is free;
--   RESTORE  a line of a mempg export, restored verbatim (id, version, deletion, access counts,
--            timestamps, history): matched on exact text only (dedup_outcome.sql);
--   PENDING  a row without an embedding: kept in memory.pending_memories until
--            memory.embed_pending_memory() gives it one.
-- A row whose write fails after the checks (a merged result over the bounds, a quota) is rejected
-- with its error and its chunk of 50 rows is applied again without it: one subtransaction per
-- chunk and attempt, not per row, so a batch holds a few subtransaction ids (a thousand rows:
-- twenty) and a failure replays at most 49 rows.
-- Embeddings arrive as real[] of any length: memory.import_embedding() refuses another dimension
-- than the installed one (22023, naming both) unless pad_embeddings pads shorter ones with zeros,
-- which keeps every cosine similarity; a longer one is never truncated.
-- Other records (pg_temp.memory_import_records, kind and a JSON document):
--   entity       {"name", "type", "aliases", "attributes", "contact", "importance",
--                "person_type", "embedding", "restore"}: memory.upsert_entity() (resolution as
--                always), or for an exported one ("restore": true) memory.restore_entity() (its
--                exact name only); a type not yet known is registered in memory.entity_types;
--   relation     {"subject", "relation", "object" | "value", "fact", "valid_from", "valid_to",
--                "source_memory"}: memory.assert_fact() between entities of this import (source
--                ids); a relation not yet known is registered as multi-valued; with neither
--                valid_from nor a source memory (the MCP memory server keeps no times), the
--                fact holds from the start of the import run, which the run records;
--   interaction  {"entity", "summary", "occurred_at", "channel", "metadata", "memories"};
--   history      {"memory", "event", "old_memory", "new_memory", "created_at", "actor"}: a
--                source's own history of a memory imported from any source (for this user, or
--                for whichever user imported it when the record names none: Mem0's history
--                database has no user column), appended; an ADD is skipped when the memory
--                already has one.
-- Entity, memory and relation references in documents and in a memory's entities are the
-- source's ids, translated through memory.import_sources.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.import_embedding(embedding real[], pad_embeddings boolean DEFAULT false)
RETURNS vector
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_expected integer := memory.embedding_dim();
    v_dims integer := cardinality(import_embedding.embedding);
BEGIN
    IF import_embedding.embedding IS NULL THEN
        RETURN NULL;
    END IF;
    IF v_dims > v_expected OR (v_dims < v_expected AND NOT coalesce(import_embedding.pad_embeddings, false)) THEN
        RAISE EXCEPTION 'embedding has % dimensions; this database stores %-dimensional embeddings', v_dims, v_expected
            USING ERRCODE = '22023',
                  HINT = CASE WHEN v_dims < v_expected
                              THEN 'pad shorter embeddings with zeros (mempg import --pad-embeddings), which keeps cosine similarity, or import text only (--no-embeddings)'
                              ELSE 'import text only (mempg import --no-embeddings) and embed again with a model of the installed dimension' END;
    END IF;
    IF v_dims < v_expected THEN
        RETURN (import_embedding.embedding || array_fill(0::real, ARRAY[v_expected - v_dims]))::vector;
    END IF;
    RETURN import_embedding.embedding::vector;
END
$$;

COMMENT ON FUNCTION memory.import_embedding(real[], boolean) IS
    'A staged embedding as a vector of the installed dimension; 22023 for another one unless padding (never truncates)';

-- memory.import_kind_name(): a source's type or relation name as mempg's kind names are spelt
-- ("Works At" -> works_at); NULL when nothing usable is left.
CREATE OR REPLACE FUNCTION memory.import_kind_name(name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE WHEN k ~ '^[a-z][a-z0-9_]{0,62}$' THEN k END
    FROM (SELECT left(trim(BOTH '_' FROM regexp_replace(lower(import_kind_name.name), '[^a-z0-9]+', '_', 'g')), 63) AS k) AS s
$$;

COMMENT ON FUNCTION memory.import_kind_name(text) IS
    'A source''s type or relation name spelt as an entity type or relation kind (lower case, underscores)';

-- memory.import_object(): the id a record of an earlier batch or source became, or NULL.
CREATE OR REPLACE FUNCTION memory.import_object(run_id bigint, record_kind text, user_id text, source_id text)
RETURNS uuid
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT s.object_id
    FROM memory.import_sources AS s
    JOIN memory.import_runs AS r ON r.id = import_object.run_id
    WHERE s.source_kind = r.source_kind AND s.source_name = r.source_name
      AND s.record_kind = import_object.record_kind AND s.user_id = import_object.user_id
      AND s.source_id = import_object.source_id
      AND s.event NOT IN ('PENDING', 'REJECT')  -- a pending memory is not a memory yet
$$;

COMMENT ON FUNCTION memory.import_object(bigint, text, text, text) IS
    'What a record of this import''s source (kind, user, source id) became, or NULL';

-- memory.import_entity_refs(): a memory's entities argument with the source's entity ids
-- replaced by the ids they became; names pass through. 22023 for an id this source never imported.
CREATE OR REPLACE FUNCTION memory.import_entity_refs(run_id bigint, user_id text, entities jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_element jsonb;
    v_source_id text;
    v_id uuid;
    v_result jsonb := '[]';
BEGIN
    IF import_entity_refs.entities IS NULL OR jsonb_typeof(import_entity_refs.entities) <> 'array' THEN
        RETURN import_entity_refs.entities;  -- memory.entity_references() names the problem
    END IF;
    FOR v_element IN SELECT e FROM jsonb_array_elements(import_entity_refs.entities) AS e LOOP
        v_source_id := CASE jsonb_typeof(v_element) WHEN 'object' THEN v_element ->> 'id' END;
        IF v_source_id IS NOT NULL THEN
            v_id := memory.import_object(import_entity_refs.run_id, 'entity', import_entity_refs.user_id, v_source_id);
            IF v_id IS NULL THEN
                RAISE EXCEPTION 'entities: entity % was not imported from this source', v_source_id
                    USING ERRCODE = '22023';
            END IF;
            v_element := jsonb_set(v_element, '{id}', to_jsonb(v_id::text));
        END IF;
        v_result := v_result || jsonb_build_array(v_element);
    END LOOP;
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION memory.import_entity_refs(bigint, text, jsonb) IS
    'A staged memory''s entities with source entity ids translated to mempg ids (22023 for one never imported)';

-- memory.import_problem(): why add_memory would refuse a staged memory (its SQLSTATE and
-- message), or no row. The checks are memories_10_normalize's and add_memory's, through the same
-- functions and settings; a restored row (restore) may be deleted and may carry an expiry in the
-- past, as it was. Read-only: its subtransaction takes no transaction id.
CREATE OR REPLACE FUNCTION memory.import_problem(
    run_id bigint, user_id text, agent_id text, run_label text, memory text, embedding real[], metadata jsonb,
    categories text[], memory_type text, source text, relevance_score double precision, expires_at text,
    created_at text, updated_at text, entities jsonb, restore jsonb, pad_embeddings boolean)
RETURNS TABLE (error_code text, error text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
    v_embedding vector;
    v_expires_at timestamptz;
    v_created_at timestamptz;
    v_updated_at timestamptz;
BEGIN
    -- add_memory's own checks, in its order: the embedding, the expiry, the entity references
    v_embedding := memory.import_embedding(import_problem.embedding, import_problem.pad_embeddings);
    IF v_embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(v_embedding, 'embedding');
    ELSIF coalesce((import_problem.restore ->> 'is_deleted')::boolean, false) THEN
        RAISE EXCEPTION 'a deleted memory is restored with its embedding only (it cannot wait as a pending memory)'
            USING ERRCODE = '22004';
    END IF;
    v_expires_at := import_problem.expires_at::timestamptz;
    IF v_expires_at <= now() AND import_problem.restore IS NULL THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', v_expires_at USING ERRCODE = '22023';
    END IF;
    PERFORM count(*) FROM memory.entity_references(
        memory.import_entity_refs(import_problem.run_id, import_problem.user_id, import_problem.entities));
    -- then memories_10_normalize's, in its order
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_label(import_problem.user_id, 'user_id', v_settings.max_id_chars, true);
    PERFORM memory.check_label(import_problem.agent_id, 'agent_id', v_settings.max_id_chars);
    PERFORM memory.check_label(import_problem.run_label, 'run_id', v_settings.max_id_chars);
    PERFORM memory.check_label(import_problem.memory_type, 'memory_type', v_settings.max_memory_type_chars);
    PERFORM memory.check_label(import_problem.source, 'source', v_settings.max_source_chars);
    PERFORM memory.check_label(import_problem.memory, 'memory', v_settings.max_memory_chars, true);
    PERFORM memory.check_metadata(coalesce(import_problem.metadata, '{}'), 'metadata', v_settings.max_metadata_bytes,
                                  v_settings.max_metadata_depth);
    PERFORM memory.check_categories(memory.normalize_categories(coalesce(import_problem.categories, '{}')), 'categories',
                                    v_settings.max_categories, v_settings.max_category_chars);
    -- and what only an import brings: its own relevance, times and restore document
    IF import_problem.relevance_score IS NOT NULL AND NOT import_problem.relevance_score BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'relevance_score must lie between 0 and 1, got %', import_problem.relevance_score
            USING ERRCODE = '22023';
    END IF;
    v_created_at := import_problem.created_at::timestamptz;
    v_updated_at := import_problem.updated_at::timestamptz;
    IF v_created_at > now() THEN
        RAISE EXCEPTION 'created_at must not be in the future, got %', v_created_at USING ERRCODE = '22023';
    END IF;
    IF v_updated_at < v_created_at THEN
        RAISE EXCEPTION 'updated_at % is before created_at %', v_updated_at, v_created_at USING ERRCODE = '22023';
    END IF;
    IF import_problem.restore IS NOT NULL AND jsonb_typeof(import_problem.restore) <> 'object' THEN
        RAISE EXCEPTION 'restore must be a JSON object' USING ERRCODE = '22023';
    END IF;
    RETURN;
EXCEPTION WHEN data_exception OR integrity_constraint_violation OR no_data_found OR program_limit_exceeded THEN
    RETURN QUERY SELECT SQLSTATE::text, SQLERRM;
END
$$;

COMMENT ON FUNCTION memory.import_problem(bigint, text, text, text, text, real[], jsonb, text[], text, text,
    double precision, text, text, text, jsonb, jsonb, boolean) IS
    'Why add_memory would refuse a staged memory (SQLSTATE, message), or no row';

-- memory.import_memory_rows(): the memories of a batch (see the header); outcomes are written
-- to the staging rows.
CREATE OR REPLACE FUNCTION memory.import_memory_rows(run memory.import_runs, pad_embeddings boolean)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_chunk bigint;
    v_row record;
    v_current bigint;
    v_id uuid;
    v_event text;
    v_embedding vector;
    v_code text;
    v_message text;
BEGIN
    UPDATE pg_temp.memory_import_rows AS r
    SET event = CASE WHEN s.import_run = run.id THEN 'REJECT' ELSE 'SKIP' END,
        memory_id = CASE WHEN s.import_run <> run.id THEN s.object_id END,
        error_code = CASE WHEN s.import_run = run.id THEN '23505' END,
        error = CASE WHEN s.import_run = run.id
                     THEN format('source_id %s appears more than once for user %s in this source', r.source_id, r.user_id) END
    FROM memory.import_sources AS s
    WHERE s.source_kind = run.source_kind AND s.source_name = run.source_name AND s.record_kind = 'memory'
      AND s.user_id = r.user_id AND s.source_id = r.source_id;

    UPDATE pg_temp.memory_import_rows AS r
    SET event = 'REJECT', error_code = '23505',
        error = format('source_id %s appears more than once for user %s in this source', r.source_id, r.user_id)
    WHERE r.event IS NULL
      AND EXISTS (SELECT 1 FROM pg_temp.memory_import_rows AS e
                  WHERE e.ordinal < r.ordinal AND e.source_id = r.source_id AND e.user_id = r.user_id);

    UPDATE pg_temp.memory_import_rows AS r
    SET event = 'REJECT', error_code = p.error_code, error = p.error
    FROM pg_temp.memory_import_rows AS q
    CROSS JOIN LATERAL memory.import_problem(
        run.id, q.user_id, q.agent_id, q.run_id, q.memory, q.embedding, q.metadata, q.categories, q.memory_type,
        q.source, q.relevance_score, q.expires_at, q.created_at, q.updated_at, q.entities, q.restore,
        import_memory_rows.pad_embeddings) AS p
    WHERE q.ordinal = r.ordinal AND r.event IS NULL;

    FOR v_chunk IN SELECT DISTINCT r.ordinal / 50 FROM pg_temp.memory_import_rows AS r WHERE r.event IS NULL ORDER BY 1 LOOP
    <<attempts>>
    LOOP
        BEGIN
            FOR v_row IN SELECT * FROM pg_temp.memory_import_rows AS r
                         WHERE r.event IS NULL AND r.ordinal / 50 = v_chunk ORDER BY r.ordinal LOOP
                v_current := v_row.ordinal;
                v_embedding := memory.import_embedding(v_row.embedding, import_memory_rows.pad_embeddings);
                v_id := NULL;
                IF v_embedding IS NULL THEN
                    INSERT INTO memory.pending_memories AS p (user_id, agent_id, run_id, memory, metadata, categories,
                                                              memory_type, source, expires_at, entities, created_at,
                                                              import_run)
                    VALUES (v_row.user_id, v_row.agent_id, v_row.run_id, v_row.memory, coalesce(v_row.metadata, '{}'),
                            memory.normalize_categories(coalesce(v_row.categories, '{}')), v_row.memory_type,
                            v_row.source, v_row.expires_at::timestamptz,
                            memory.import_entity_refs(run.id, v_row.user_id, v_row.entities),
                            coalesce(v_row.created_at::timestamptz, now()), run.id)
                    RETURNING p.id INTO v_id;
                    v_event := 'PENDING';
                ELSE
                    PERFORM memory.set_dedup_outcome(NULL, NULL);
                    PERFORM memory.set_import_restore(v_row.restore IS NOT NULL);
                    INSERT INTO memory.memories AS m (
                        id, user_id, agent_id, run_id, memory, embedding, metadata, categories, memory_type, source,
                        relevance_score, expires_at, created_at, updated_at, version, is_deleted, deleted_at,
                        access_count, last_accessed_at)
                    SELECT coalesce(c.id, gen_random_uuid()), v_row.user_id, v_row.agent_id, v_row.run_id, v_row.memory,
                           v_embedding, coalesce(v_row.metadata, '{}'), coalesce(v_row.categories, '{}'),
                           v_row.memory_type, v_row.source, coalesce(v_row.relevance_score, 1),
                           v_row.expires_at::timestamptz, coalesce(v_row.created_at::timestamptz, now()),
                           coalesce(v_row.updated_at::timestamptz, v_row.created_at::timestamptz, now()),
                           coalesce((v_row.restore ->> 'version')::integer, 1),
                           coalesce((v_row.restore ->> 'is_deleted')::boolean, false),
                           (v_row.restore ->> 'deleted_at')::timestamptz,
                           coalesce((v_row.restore ->> 'access_count')::integer, 0),
                           coalesce((v_row.restore ->> 'last_accessed_at')::timestamptz, now())
                    FROM (SELECT coalesce((v_row.restore ->> 'id')::uuid, v_row.preferred_id) AS id) AS wanted
                    LEFT JOIN memory.memories AS taken ON taken.id = wanted.id
                    CROSS JOIN LATERAL (SELECT CASE WHEN taken.id IS NULL THEN wanted.id END AS id) AS c
                    RETURNING m.id INTO v_id;
                    PERFORM memory.set_import_restore(false);
                    IF v_row.restore IS NOT NULL AND v_id IS NOT NULL THEN
                        v_event := 'RESTORE';
                        INSERT INTO memory.memory_history (memory_id, user_id, event, old_memory, new_memory, old_version,
                                                           new_version, db_role, app_user_id, created_at)
                        SELECT v_id, v_row.user_id, h.doc ->> 'event', h.doc ->> 'old_memory', h.doc ->> 'new_memory',
                               (h.doc ->> 'old_version')::integer, (h.doc ->> 'new_version')::integer,
                               coalesce(h.doc ->> 'db_role', current_user), h.doc ->> 'app_user_id',
                               coalesce((h.doc ->> 'created_at')::timestamptz, now())
                        FROM jsonb_array_elements(coalesce(v_row.restore -> 'history', '[]')) WITH ORDINALITY AS h (doc, n)
                        ORDER BY h.n;
                    ELSE
                        SELECT o.id, o.event INTO v_id, v_event FROM memory.dedup_outcome() AS o;
                    END IF;
                    IF v_row.entities IS NOT NULL THEN
                        PERFORM count(*) FROM memory.link_entities(v_id,
                            memory.import_entity_refs(run.id, v_row.user_id, v_row.entities));
                    END IF;
                END IF;
                UPDATE pg_temp.memory_import_rows AS r SET memory_id = v_id, event = v_event
                WHERE r.ordinal = v_row.ordinal;
                INSERT INTO memory.import_sources (source_kind, source_name, record_kind, user_id, source_id,
                                                   object_id, event, import_run)
                VALUES (run.source_kind, run.source_name, 'memory', v_row.user_id, v_row.source_id, v_id, v_event, run.id);
            END LOOP;
            EXIT attempts;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR no_data_found OR program_limit_exceeded
                       OR SQLSTATE 'PGRST' THEN
            GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
            UPDATE pg_temp.memory_import_rows AS r SET event = 'REJECT', error_code = v_code, error = v_message
            WHERE r.ordinal = v_current;
        END;
    END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.import_memory_rows(memory.import_runs, boolean) IS
    'Applies the staged memories of a batch through deduplication (memory.import_batch)';

-- memory.restore_entity(): an entity of a mempg export, resolved by its exact name and type only
-- (upsert_entity's trigram and cosine steps could fold two exported entities into one), with
-- upsert_entity's checks and lock; returns the id and MATCH or RESTORE.
CREATE OR REPLACE FUNCTION memory.restore_entity(user_id text, name text, entity_type text, aliases text[],
                                                 attributes jsonb, contact jsonb, importance double precision,
                                                 embedding vector, person_type text)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM memory.check_label(restore_entity.user_id, 'user_id', (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_entity_name(restore_entity.name, 'name');
    PERFORM memory.check_entity_type(restore_entity.entity_type);
    PERFORM memory.check_entity_fields(restore_entity.aliases, restore_entity.attributes, restore_entity.contact,
                                       restore_entity.importance, restore_entity.embedding, restore_entity.person_type,
                                       restore_entity.entity_type);
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(restore_entity.user_id));
    SELECT e.id INTO v_id
    FROM memory.entities AS e
    WHERE e.user_id = restore_entity.user_id AND e.entity_type = restore_entity.entity_type
      AND e.normalized_name = memory.normalize_entity_name(restore_entity.name)
      AND NOT e.is_deleted AND e.merged_into IS NULL;
    IF FOUND THEN
        RETURN QUERY SELECT v_id, 'MATCH'::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT memory.insert_entity(restore_entity.user_id, restore_entity.entity_type, restore_entity.name,
                                             restore_entity.aliases, restore_entity.attributes, restore_entity.contact,
                                             restore_entity.importance, restore_entity.embedding,
                                             restore_entity.person_type), 'RESTORE'::text;
END
$$;

COMMENT ON FUNCTION memory.restore_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text) IS
    'An exported entity by exact name and type (MATCH), else inserted (RESTORE); never a fuzzy match';

-- memory.import_record(): one entity, relation, interaction or history record (see the
-- header); returns the id it became and how.
CREATE OR REPLACE FUNCTION memory.import_record(run memory.import_runs, kind text, user_id text, doc jsonb,
                                                pad_embeddings boolean, OUT object_id uuid, OUT event text,
                                                OUT owner text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_kind text;
    v_subject uuid;
    v_object uuid;
    v_memory uuid;
    v_memories uuid[];
    v_owner text;
    v_users bigint;
BEGIN
    IF jsonb_typeof(import_record.doc) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION '% record must be a JSON object', import_record.kind USING ERRCODE = '22023';
    END IF;
    CASE import_record.kind
    WHEN 'entity' THEN
        v_kind := coalesce(memory.import_kind_name(coalesce(import_record.doc ->> 'type', 'other')), 'other');
        INSERT INTO memory.entity_types (name, description)
        VALUES (v_kind, format('registered by import run %s', run.id))
        ON CONFLICT DO NOTHING;
        IF coalesce((import_record.doc ->> 'restore')::boolean, false) THEN
            -- an exported entity: the same name and type only, never a fuzzy match with another
            SELECT r.id, r.event INTO import_record.object_id, import_record.event
            FROM memory.restore_entity(import_record.user_id, import_record.doc ->> 'name', v_kind,
                coalesce(ARRAY(SELECT jsonb_array_elements_text(import_record.doc -> 'aliases')), '{}'),
                coalesce(import_record.doc -> 'attributes', '{}'), coalesce(import_record.doc -> 'contact', '{}'),
                (import_record.doc ->> 'importance')::double precision,
                CASE WHEN jsonb_typeof(import_record.doc -> 'embedding') = 'array' THEN
                    memory.import_embedding(ARRAY(SELECT e::real FROM jsonb_array_elements_text(import_record.doc -> 'embedding') AS e),
                                            import_record.pad_embeddings) END,
                import_record.doc ->> 'person_type') AS r;
            RETURN;
        END IF;
        SELECT u.id, u.event INTO import_record.object_id, import_record.event
        FROM memory.upsert_entity(
            import_record.user_id, import_record.doc ->> 'name', v_kind,
            coalesce(ARRAY(SELECT jsonb_array_elements_text(import_record.doc -> 'aliases')), '{}'),
            coalesce(import_record.doc -> 'attributes', '{}'), coalesce(import_record.doc -> 'contact', '{}'),
            (import_record.doc ->> 'importance')::double precision,
            CASE WHEN jsonb_typeof(import_record.doc -> 'embedding') = 'array' THEN
                memory.import_embedding(ARRAY(SELECT e::real FROM jsonb_array_elements_text(import_record.doc -> 'embedding') AS e),
                                        import_record.pad_embeddings) END,
            import_record.doc ->> 'person_type') AS u;
    WHEN 'relation' THEN
        v_subject := memory.import_object(run.id, 'entity', import_record.user_id, import_record.doc ->> 'subject');
        IF v_subject IS NULL THEN
            RAISE EXCEPTION 'relation: subject % was not imported from this source', import_record.doc ->> 'subject'
                USING ERRCODE = '22023';
        END IF;
        IF import_record.doc ->> 'object' IS NOT NULL THEN
            v_object := memory.import_object(run.id, 'entity', import_record.user_id, import_record.doc ->> 'object');
            IF v_object IS NULL THEN
                RAISE EXCEPTION 'relation: object % was not imported from this source', import_record.doc ->> 'object'
                    USING ERRCODE = '22023';
            END IF;
        END IF;
        IF import_record.doc ->> 'source_memory' IS NOT NULL THEN
            v_memory := memory.import_object(run.id, 'memory', import_record.user_id, import_record.doc ->> 'source_memory');
        END IF;
        v_kind := memory.import_kind_name(import_record.doc ->> 'relation');
        IF v_kind IS NULL THEN
            RAISE EXCEPTION 'relation: % is not a usable relation name', import_record.doc ->> 'relation'
                USING ERRCODE = '22023';
        END IF;
        INSERT INTO memory.relation_kinds (name, single_valued, description)
        VALUES (v_kind, false, format('registered by import run %s', run.id))
        ON CONFLICT DO NOTHING;
        SELECT f.id, f.event INTO import_record.object_id, import_record.event
        FROM memory.assert_fact(v_subject, v_kind, v_object, import_record.doc ->> 'value', import_record.doc ->> 'fact',
                                coalesce((import_record.doc ->> 'valid_from')::timestamptz,
                                         CASE WHEN import_record.doc ->> 'source_memory' IS NULL THEN run.started_at END),
                                (import_record.doc ->> 'valid_to')::timestamptz, v_memory) AS f;
    WHEN 'interaction' THEN
        v_subject := memory.import_object(run.id, 'entity', import_record.user_id, import_record.doc ->> 'entity');
        IF v_subject IS NULL THEN
            RAISE EXCEPTION 'interaction: entity % was not imported from this source', import_record.doc ->> 'entity'
                USING ERRCODE = '22023';
        END IF;
        SELECT coalesce(array_agg(o.id), '{}') INTO v_memories
        FROM jsonb_array_elements_text(coalesce(import_record.doc -> 'memories', '[]')) AS s (source_id)
        CROSS JOIN LATERAL (SELECT memory.import_object(run.id, 'memory', import_record.user_id, s.source_id) AS id) AS o
        WHERE o.id IS NOT NULL;
        import_record.object_id := memory.record_interaction(
            v_subject, import_record.doc ->> 'summary',
            coalesce((import_record.doc ->> 'occurred_at')::timestamptz, now()),
            coalesce(memory.import_kind_name(import_record.doc ->> 'channel'), 'other'),
            coalesce(import_record.doc -> 'metadata', '{}'), v_memories);
        import_record.event := 'ADD';
    WHEN 'history' THEN
        SELECT min(m.id::text)::uuid, min(m.user_id), count(DISTINCT m.user_id)
        INTO v_memory, v_owner, v_users
        FROM memory.import_sources AS s
        JOIN memory.memories AS m ON m.id = s.object_id
        WHERE s.record_kind = 'memory' AND s.source_id = import_record.doc ->> 'memory'
          AND (import_record.user_id IS NULL OR s.user_id = import_record.user_id);
        IF v_users > 1 THEN
            RAISE EXCEPTION 'history: memory % was imported for % users', import_record.doc ->> 'memory', v_users
                USING ERRCODE = '22023', HINT = 'import the history once per user, with --user';
        ELSIF v_memory IS NULL THEN
            RAISE EXCEPTION 'history: memory % was not imported (for user %)', import_record.doc ->> 'memory',
                coalesce(import_record.user_id, 'any') USING ERRCODE = 'P0002';
        END IF;
        import_record.object_id := v_memory;
        import_record.owner := v_owner;
        IF import_record.doc ->> 'event' = 'ADD'
           AND EXISTS (SELECT 1 FROM memory.memory_history AS h WHERE h.memory_id = v_memory AND h.event = 'ADD') THEN
            import_record.event := 'SKIP';
            RETURN;
        END IF;
        INSERT INTO memory.memory_history (memory_id, user_id, event, old_memory, new_memory, app_user_id, created_at)
        VALUES (v_memory, v_owner, import_record.doc ->> 'event', import_record.doc ->> 'old_memory',
                import_record.doc ->> 'new_memory', import_record.doc ->> 'actor',
                coalesce((import_record.doc ->> 'created_at')::timestamptz, now()));
        import_record.event := 'ADD';
    ELSE
        RAISE EXCEPTION 'kind must be entity, relation, interaction or history, got %', import_record.kind
            USING ERRCODE = '22023';
    END CASE;
END
$$;

COMMENT ON FUNCTION memory.import_record(memory.import_runs, text, text, jsonb, boolean) IS
    'Applies one staged entity, relation, interaction or history record (memory.import_batch)';

-- memory.import_records(): the records of one kind, in source order, with the same
-- reject-and-retry as the memories.
CREATE OR REPLACE FUNCTION memory.import_records(run memory.import_runs, kind text, pad_embeddings boolean)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_chunk bigint;
    v_row record;
    v_current bigint;
    v_result record;
    v_code text;
    v_message text;
BEGIN
    -- a history record names no user (Mem0's history): its key is the user of the memory it went to
    UPDATE pg_temp.memory_import_records AS r
    SET event = CASE WHEN s.import_run = run.id THEN 'REJECT' ELSE 'SKIP' END,
        object_id = CASE WHEN s.import_run <> run.id THEN s.object_id END,
        error_code = CASE WHEN s.import_run = run.id THEN '23505' END,
        error = CASE WHEN s.import_run = run.id
                     THEN format('%s %s appears more than once in this source', r.kind, r.source_id) END
    FROM memory.import_sources AS s
    WHERE r.kind = import_records.kind AND s.source_kind = run.source_kind AND s.source_name = run.source_name
      AND s.record_kind = r.kind AND s.user_id = coalesce(r.user_id, s.user_id) AND s.source_id = r.source_id
      AND (r.user_id IS NOT NULL OR r.kind = 'history');
    UPDATE pg_temp.memory_import_records AS r
    SET event = 'REJECT', error_code = '23505', error = format('%s %s appears more than once in this source', r.kind, r.source_id)
    WHERE r.kind = import_records.kind AND r.event IS NULL
      AND EXISTS (SELECT 1 FROM pg_temp.memory_import_records AS e
                  WHERE e.kind = r.kind AND e.ordinal < r.ordinal AND e.source_id = r.source_id
                    AND e.user_id IS NOT DISTINCT FROM r.user_id);
    UPDATE pg_temp.memory_import_records AS r
    SET event = 'REJECT', error_code = '22004', error = 'user_id must not be NULL'
    WHERE r.kind = import_records.kind AND r.kind <> 'history' AND r.event IS NULL AND r.user_id IS NULL;

    FOR v_chunk IN SELECT DISTINCT r.ordinal / 50 FROM pg_temp.memory_import_records AS r
                   WHERE r.kind = import_records.kind AND r.event IS NULL ORDER BY 1 LOOP
    <<attempts>>
    LOOP
        BEGIN
            FOR v_row IN SELECT * FROM pg_temp.memory_import_records AS r
                         WHERE r.kind = import_records.kind AND r.event IS NULL AND r.ordinal / 50 = v_chunk
                         ORDER BY r.ordinal LOOP
                v_current := v_row.ordinal;
                v_result := memory.import_record(run, v_row.kind, v_row.user_id, v_row.doc, import_records.pad_embeddings);
                UPDATE pg_temp.memory_import_records AS r SET object_id = v_result.object_id, event = v_result.event
                WHERE r.ordinal = v_row.ordinal;
                INSERT INTO memory.import_sources (source_kind, source_name, record_kind, user_id, source_id,
                                                   object_id, event, import_run)
                VALUES (run.source_kind, run.source_name, v_row.kind, coalesce(v_row.user_id, v_result.owner),
                        v_row.source_id, v_result.object_id, v_result.event, run.id);
            END LOOP;
            EXIT attempts;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR no_data_found OR program_limit_exceeded
                       OR SQLSTATE 'PGRST' THEN
            GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
            UPDATE pg_temp.memory_import_records AS r SET event = 'REJECT', error_code = v_code, error = v_message
            WHERE r.ordinal = v_current;
        END;
    END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.import_records(memory.import_runs, text, boolean) IS
    'Applies the staged records of one kind (memory.import_batch)';

CREATE OR REPLACE FUNCTION memory.import_batch(run_id bigint, pad_embeddings boolean DEFAULT false)
RETURNS TABLE (kind text, ordinal bigint, source_id text, object_id uuid, event text, error_code text, error text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_run memory.import_runs;
BEGIN
    SELECT * INTO v_run FROM memory.import_runs AS r WHERE r.id = import_batch.run_id;
    IF NOT FOUND OR v_run.status <> 'running' THEN
        RAISE EXCEPTION 'import run % is not running', import_batch.run_id USING ERRCODE = 'P0002',
            HINT = 'open one with memory.start_import(source_kind, source_name)';
    END IF;
    IF to_regclass('pg_temp.memory_import_rows') IS NULL THEN
        RAISE EXCEPTION 'this session has no import staging tables' USING ERRCODE = '55000',
            HINT = 'SELECT memory.create_import_staging(), then COPY the batch into pg_temp.memory_import_rows';
    END IF;
    PERFORM memory.import_records(v_run, 'entity', import_batch.pad_embeddings);
    PERFORM memory.import_memory_rows(v_run, import_batch.pad_embeddings);
    PERFORM memory.import_records(v_run, 'relation', import_batch.pad_embeddings);
    PERFORM memory.import_records(v_run, 'interaction', import_batch.pad_embeddings);
    PERFORM memory.import_records(v_run, 'history', import_batch.pad_embeddings);
    UPDATE pg_temp.memory_import_records AS r
    SET event = 'REJECT', error_code = '22023',
        error = format('kind must be entity, relation, interaction or history, got %s', r.kind)
    WHERE r.event IS NULL;
    RETURN QUERY
    SELECT 'memory'::text, r.ordinal, r.source_id, r.memory_id, r.event, r.error_code, r.error
    FROM pg_temp.memory_import_rows AS r
    UNION ALL
    SELECT r.kind, r.ordinal, r.source_id, r.object_id, r.event, r.error_code, r.error
    FROM pg_temp.memory_import_records AS r
    ORDER BY 2;
END
$$;

COMMENT ON FUNCTION memory.import_batch(bigint, boolean) IS
    'Applies the staged batch of an import run: entities, memories (deduplicated), relations, interactions, history';

REVOKE ALL ON FUNCTION memory.import_embedding(real[], boolean), memory.import_kind_name(text),
    memory.restore_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.import_object(bigint, text, text, text), memory.import_entity_refs(bigint, text, jsonb),
    memory.import_problem(bigint, text, text, text, text, real[], jsonb, text[], text, text, double precision,
                          text, text, text, jsonb, jsonb, boolean),
    memory.import_memory_rows(memory.import_runs, boolean),
    memory.import_record(memory.import_runs, text, text, jsonb, boolean),
    memory.import_records(memory.import_runs, text, boolean), memory.import_batch(bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.import_embedding(real[], boolean), memory.import_kind_name(text),
    memory.restore_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.import_object(bigint, text, text, text), memory.import_entity_refs(bigint, text, jsonb),
    memory.import_problem(bigint, text, text, text, text, real[], jsonb, text[], text, text, double precision,
                          text, text, text, jsonb, jsonb, boolean),
    memory.import_memory_rows(memory.import_runs, boolean),
    memory.import_record(memory.import_runs, text, text, jsonb, boolean),
    memory.import_records(memory.import_runs, text, boolean), memory.import_batch(bigint, boolean) TO service_role;

-- sql/memory/merge_entities.sql
-- memory.merge_entities(into_id, from_id): two entities found to be one ("NYC" and "New York
-- City"). Everything of from_id moves to into_id in one transaction: its links (a memory linked
-- to both keeps one link per role), its facts as subject and as object, its interactions; its
-- name and aliases become aliases of into_id; attributes and contact are merged (into_id's keys
-- win); importance is the higher. A fact of from_id that into_id already holds over an
-- overlapping interval is retracted rather than duplicated, and a fact between the two becomes
-- a fact about itself and is retracted too. Two different objects of a single-valued relation
-- at the same time (two employers) are a contradiction: the merge is refused (23P01) and
-- nothing changes; retract or close one of them first.
-- from_id is kept with merged_into = into_id, and the MERGE history row of from_id records what
-- moved; memory.unmerge_entity(from_id) moves it back and restores into_id's names and
-- attributes as they were before the merge. Ids of from_id keep working: get_entity, linking and
-- asserting follow merged_into. Both take the user's entity lock (memory.entity_lock_key, from
-- 0020) before the rows, so a name resolved at the same time sees the merge whole or not at all.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.merge_entities(into_id uuid, from_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_into memory.entities;
    v_from memory.entities;
    v_moved_links jsonb;
    v_dropped_links jsonb;
    v_folded uuid[];
    v_subjects uuid[];
    v_objects uuid[];
    v_interactions uuid[];
    v_details jsonb;
    v_constraint text;
BEGIN
    IF merge_entities.into_id IS NULL OR merge_entities.from_id IS NULL THEN
        RAISE EXCEPTION 'into_id and from_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF merge_entities.into_id = merge_entities.from_id THEN
        RAISE EXCEPTION 'into_id and from_id are the same entity' USING ERRCODE = '22023';
    END IF;
    -- the user's entity lock first (as upsert_entity: no name is resolved against a half-made
    -- merge), then both rows, in id order so that two opposite merges cannot deadlock
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))
    FROM memory.entities AS e WHERE e.id = merge_entities.into_id;
    PERFORM 1 FROM memory.entities AS e WHERE e.id IN (merge_entities.into_id, merge_entities.from_id)
    ORDER BY e.id FOR UPDATE;
    SELECT * INTO v_into FROM memory.entities AS e WHERE e.id = merge_entities.into_id;
    SELECT * INTO v_from FROM memory.entities AS e WHERE e.id = merge_entities.from_id;
    IF v_into.id IS NULL OR v_into.is_deleted OR v_into.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'into_id % is not a known live entity', merge_entities.into_id USING ERRCODE = '22023';
    END IF;
    IF v_from.id IS NULL OR v_from.is_deleted OR v_from.merged_into IS NOT NULL OR v_from.user_id <> v_into.user_id THEN
        RAISE EXCEPTION 'from_id % is not a known live entity of the same user', merge_entities.from_id
            USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('memory.entity_event', 'MERGE', true);

    -- links: moved, or dropped where into_id already has the same memory in the same role
    WITH moved AS (
        UPDATE memory.memory_entities AS me SET entity_id = v_into.id
        WHERE me.entity_id = v_from.id
          AND NOT EXISTS (SELECT 1 FROM memory.memory_entities AS x
                          WHERE x.entity_id = v_into.id AND x.memory_id = me.memory_id AND x.role = me.role)
        RETURNING me.memory_id, me.role
    )
    SELECT coalesce(jsonb_agg(jsonb_build_array(m.memory_id, m.role)), '[]') INTO v_moved_links FROM moved AS m;
    WITH dropped AS (
        DELETE FROM memory.memory_entities AS me WHERE me.entity_id = v_from.id RETURNING me.memory_id, me.role
    )
    SELECT coalesce(jsonb_agg(jsonb_build_array(d.memory_id, d.role)), '[]') INTO v_dropped_links FROM dropped AS d;

    -- facts: copies of into_id's facts and facts between the two are retracted, the rest move
    WITH folded AS (
        UPDATE memory.entity_relations AS r SET expired_at = now()
        WHERE r.expired_at IS NULL
          AND ((r.subject_id = v_from.id AND r.object_id = v_into.id)
               OR (r.subject_id = v_into.id AND r.object_id = v_from.id)
               OR (r.subject_id = v_from.id AND EXISTS (
                       SELECT 1 FROM memory.entity_relations AS x
                       WHERE x.subject_id = v_into.id AND x.expired_at IS NULL AND x.relation = r.relation
                         AND x.fact_key = r.fact_key AND x.valid && r.valid)))
        RETURNING r.id
    )
    SELECT coalesce(array_agg(f.id), '{}') INTO v_folded FROM folded AS f;
    BEGIN
        WITH moved AS (
            UPDATE memory.entity_relations AS r SET subject_id = v_into.id
            WHERE r.subject_id = v_from.id AND r.expired_at IS NULL RETURNING r.id
        )
        SELECT coalesce(array_agg(m.id), '{}') INTO v_subjects FROM moved AS m;
    EXCEPTION WHEN exclusion_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        RAISE EXCEPTION 'cannot merge: a single-valued fact of from_id overlaps a different one of into_id (%)', v_constraint
            USING ERRCODE = '23P01',
                  HINT = 'see memory.entity_facts() of both; retract or close one of the two facts, then merge again';
    END;
    WITH moved AS (
        UPDATE memory.entity_relations AS r SET object_id = v_into.id
        WHERE r.object_id = v_from.id AND r.expired_at IS NULL RETURNING r.id
    )
    SELECT coalesce(array_agg(m.id), '{}') INTO v_objects FROM moved AS m;

    -- the counters of both entities follow by the interactions trigger
    WITH moved AS (
        UPDATE memory.interactions AS i SET entity_id = v_into.id WHERE i.entity_id = v_from.id RETURNING i.id
    )
    SELECT coalesce(array_agg(m.id), '{}') INTO v_interactions FROM moved AS m;

    UPDATE memory.entities AS e
    SET merged_into = v_into.id, updated_at = now()
    WHERE e.id = v_from.id;
    UPDATE memory.entities AS e
    SET aliases = memory.merge_aliases(e.aliases, v_from.name, v_from.aliases,
                                       (SELECT s.max_aliases FROM memory.entity_resolution_settings AS s), e.name),
        attributes = v_from.attributes || e.attributes,
        contact = v_from.contact || e.contact,
        importance = greatest(e.importance, v_from.importance),
        embedding = coalesce(e.embedding, v_from.embedding),
        updated_at = now()
    WHERE e.id = v_into.id;

    v_details := jsonb_build_object(
        'into_id', v_into.id, 'from_id', v_from.id,
        'moved_links', v_moved_links, 'dropped_links', v_dropped_links,
        'moved_subject_facts', to_jsonb(v_subjects), 'moved_object_facts', to_jsonb(v_objects),
        'retracted_facts', to_jsonb(v_folded), 'moved_interactions', to_jsonb(v_interactions),
        'into_before', jsonb_build_object('aliases', to_jsonb(v_into.aliases), 'attributes', v_into.attributes,
                                          'contact', v_into.contact, 'importance', v_into.importance,
                                          'had_embedding', v_into.embedding IS NOT NULL));
    INSERT INTO memory.entity_history (entity_id, user_id, event, old_row, new_row, details)
    VALUES (v_from.id, v_from.user_id, 'MERGE', memory.entity_snapshot(v_from),
            (SELECT memory.entity_snapshot(e) FROM memory.entities AS e WHERE e.id = v_from.id), v_details),
           (v_into.id, v_into.user_id, 'MERGE', memory.entity_snapshot(v_into),
            (SELECT memory.entity_snapshot(e) FROM memory.entities AS e WHERE e.id = v_into.id), v_details);
    PERFORM set_config('memory.entity_event', '', true);
    RETURN v_details;
END
$$;

COMMENT ON FUNCTION memory.merge_entities(uuid, uuid) IS
    'Merges from_id into into_id (links, facts, interactions, names); from_id keeps merged_into; returns what moved';

CREATE OR REPLACE FUNCTION memory.unmerge_entity(from_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_from memory.entities;
    v_into memory.entities;
    v_details jsonb;
    v_interactions uuid[];
BEGIN
    IF unmerge_entity.from_id IS NULL THEN
        RAISE EXCEPTION 'from_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))
    FROM memory.entities AS e WHERE e.id = unmerge_entity.from_id;
    SELECT * INTO v_from FROM memory.entities AS e WHERE e.id = unmerge_entity.from_id FOR UPDATE;
    IF v_from.id IS NULL OR v_from.merged_into IS NULL THEN
        RAISE EXCEPTION 'from_id % is not a merged entity', unmerge_entity.from_id USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_into FROM memory.entities AS e WHERE e.id = v_from.merged_into FOR UPDATE;
    IF v_into.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'entity % was merged into % since: undo that merge first', v_into.id, v_into.merged_into
            USING ERRCODE = '55000';
    END IF;
    SELECT h.details INTO v_details FROM memory.entity_history AS h
    WHERE h.entity_id = v_from.id AND h.event = 'MERGE' ORDER BY h.id DESC LIMIT 1;
    PERFORM set_config('memory.entity_event', 'UNMERGE', true);

    BEGIN
        UPDATE memory.entities AS e SET merged_into = NULL, updated_at = now() WHERE e.id = v_from.id;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'entity % cannot come back: a live entity of that type has its name now', v_from.id
            USING ERRCODE = '23505', HINT = 'merge or rename that entity first';
    END;
    UPDATE memory.memory_entities AS me SET entity_id = v_from.id
    FROM jsonb_array_elements(v_details -> 'moved_links') AS l
    WHERE me.entity_id = v_into.id AND me.memory_id = (l ->> 0)::uuid AND me.role = l ->> 1;
    INSERT INTO memory.memory_entities (memory_id, entity_id, user_id, role)
    SELECT (l ->> 0)::uuid, v_from.id, v_from.user_id, l ->> 1
    FROM jsonb_array_elements(v_details -> 'dropped_links') AS l
    WHERE EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = (l ->> 0)::uuid)
    ON CONFLICT DO NOTHING;
    UPDATE memory.entity_relations AS r SET subject_id = v_from.id
    WHERE r.subject_id = v_into.id
      AND r.id IN (SELECT x::uuid FROM jsonb_array_elements_text(v_details -> 'moved_subject_facts') AS x);
    UPDATE memory.entity_relations AS r SET object_id = v_from.id
    WHERE r.object_id = v_into.id
      AND r.id IN (SELECT x::uuid FROM jsonb_array_elements_text(v_details -> 'moved_object_facts') AS x);
    UPDATE memory.entity_relations AS r SET expired_at = NULL
    WHERE r.id IN (SELECT x::uuid FROM jsonb_array_elements_text(v_details -> 'retracted_facts') AS x);
    WITH moved AS (
        UPDATE memory.interactions AS i SET entity_id = v_from.id
        WHERE i.entity_id = v_into.id
          AND i.id IN (SELECT x::uuid FROM jsonb_array_elements_text(v_details -> 'moved_interactions') AS x)
        RETURNING i.id
    )
    SELECT coalesce(array_agg(m.id), '{}') INTO v_interactions FROM moved AS m;
    UPDATE memory.entities AS e
    SET aliases = ARRAY(SELECT jsonb_array_elements_text(v_details #> '{into_before,aliases}')),
        attributes = v_details #> '{into_before,attributes}',
        contact = v_details #> '{into_before,contact}',
        importance = (v_details #>> '{into_before,importance}')::real,
        embedding = CASE WHEN (v_details #>> '{into_before,had_embedding}')::boolean THEN e.embedding END,
        updated_at = now()
    WHERE e.id = v_into.id;
    INSERT INTO memory.entity_history (entity_id, user_id, event, old_row, new_row, details)
    SELECT x.id, x.user_id, 'UNMERGE', NULL, memory.entity_snapshot(x), v_details
    FROM memory.entities AS x WHERE x.id IN (v_from.id, v_into.id);
    PERFORM set_config('memory.entity_event', '', true);
    RETURN v_details;
END
$$;

COMMENT ON FUNCTION memory.unmerge_entity(uuid) IS
    'Undoes the last merge of from_id: moves its links, facts and interactions back, restores the survivor''s names';

REVOKE ALL ON FUNCTION memory.merge_entities(uuid, uuid), memory.unmerge_entity(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.merge_entities(uuid, uuid), memory.unmerge_entity(uuid) TO authenticated, service_role;

-- sql/memory/list_entities.sql
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

-- sql/memory/assert_fact.sql
-- Facts about entities, with time (memory.entity_relations). valid_from/valid_to is when the fact
-- held in the world ([valid_from, valid_to), NULL: still holds); recorded_at when mempg learnt it;
-- expired_at when the record was retracted (a correction: it never held). The temporal keys
-- refuse, for one subject, two overlapping objects of a single-valued relation
-- (one_object_at_a_time) and two overlapping copies of one fact (one_copy_of_a_fact).
-- memory.assert_fact() states a fact and keeps the timeline consistent in one call, under an
-- advisory lock per (subject, relation):
--   the same fact already holding over the whole interval      -> NOOP (its id)
--   the same fact overlapping or adjacent                     -> EXTEND: those records are
--                                                                 retracted and one record of
--                                                                 the union is written
--   single-valued, another object holding since before        -> SUPERSEDE: its interval is
--                                                                 closed at the new valid_from
--                                                                 (and continues after a
--                                                                 bounded new fact)
--   single-valued, another object starting later              -> the new fact ends where it starts
--   single-valued, another object starting at the same time   -> it is retracted (a correction)
--   otherwise                                                 -> ADD
-- Facts of other relations and other subjects are never touched; disjoint intervals of one fact
-- stay separate records. valid_from defaults to the source memory's created_at, never to now():
-- without either, the call is refused.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
-- memory.fact_key(): what "the same fact" means: its relation and its object, or its value as
-- memory text is compared (memory.normalize_text). The trigger stores it (fact_key), assert_fact()
-- looks a fact up by it, and merge_entities() folds the copies it finds by it.
CREATE OR REPLACE FUNCTION memory.fact_key(relation text, object_id uuid, value text)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT fact_key.relation || chr(31) || coalesce(fact_key.object_id::text, chr(31) || memory.normalize_text(fact_key.value))
$$;

COMMENT ON FUNCTION memory.fact_key(text, uuid, text) IS 'Key of a fact: relation and object, or relation and normalised value';

CREATE OR REPLACE FUNCTION memory.prepare_entity_relation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF NEW.source_memory_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.source_memory_id IS DISTINCT FROM OLD.source_memory_id)
       AND NOT EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = NEW.source_memory_id AND m.user_id = NEW.user_id) THEN
        RAISE EXCEPTION 'source_memory_id % is not a memory of user %', NEW.source_memory_id, NEW.user_id
            USING ERRCODE = '23503';
    END IF;
    NEW.single_key := CASE WHEN NEW.expired_at IS NULL
                                AND (SELECT k.single_valued FROM memory.relation_kinds AS k WHERE k.name = NEW.relation)
                           THEN NEW.relation END;
    NEW.fact_key := CASE WHEN NEW.expired_at IS NULL THEN memory.fact_key(NEW.relation, NEW.object_id, NEW.value) END;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.prepare_entity_relation() IS
    'Trigger: the temporal keys of a fact (single_key, fact_key) and its source memory''s owner';

DROP TRIGGER IF EXISTS entity_relations_10_prepare ON memory.entity_relations;
CREATE TRIGGER entity_relations_10_prepare
    BEFORE INSERT OR UPDATE ON memory.entity_relations
    FOR EACH ROW EXECUTE FUNCTION memory.prepare_entity_relation();

-- A relation kind in use cannot change between single- and multi-valued: the facts already
-- recorded were checked against the other rule.
CREATE OR REPLACE FUNCTION memory.guard_relation_kind()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF NEW.single_valued IS DISTINCT FROM OLD.single_valued
       AND EXISTS (SELECT 1 FROM memory.entity_relations AS r WHERE r.relation = OLD.name) THEN
        RAISE EXCEPTION 'relation kind % is in use: single_valued cannot change', OLD.name
            USING ERRCODE = '55000', HINT = 'add a new relation kind instead';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.guard_relation_kind() IS 'Trigger: single_valued of a relation kind in use is fixed (55000)';

DROP TRIGGER IF EXISTS relation_kinds_10_guard ON memory.relation_kinds;
CREATE TRIGGER relation_kinds_10_guard
    BEFORE UPDATE ON memory.relation_kinds
    FOR EACH ROW EXECUTE FUNCTION memory.guard_relation_kind();

CREATE OR REPLACE FUNCTION memory.assert_fact(
    subject_id uuid,
    relation text,
    object_id uuid DEFAULT NULL,
    value text DEFAULT NULL,
    fact text DEFAULT NULL,
    valid_from timestamptz DEFAULT NULL,
    valid_to timestamptz DEFAULT NULL,
    source_memory_id uuid DEFAULT NULL,
    embedding vector DEFAULT NULL)
RETURNS TABLE (id uuid, event text, closed uuid[])
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_subject memory.entities;
    v_object_id uuid;
    v_single boolean;
    v_from timestamptz := assert_fact.valid_from;
    v_to timestamptz := assert_fact.valid_to;
    v_key text;
    v_same uuid[];
    v_closed uuid[] := '{}';
    v_covering uuid;
    v_conflict memory.entity_relations;
    v_id uuid;
    v_event text := 'ADD';
BEGIN
    IF assert_fact.subject_id IS NULL THEN
        RAISE EXCEPTION 'subject_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- the user's entity lock before any entity row (upsert_entity.sql; from 0020)
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))
    FROM memory.entities AS e WHERE e.id = assert_fact.subject_id;
    SELECT * INTO v_subject FROM memory.entities AS e
    WHERE e.id = memory.live_entity_id(assert_fact.subject_id) AND NOT e.is_deleted;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subject_id % is not a known live entity', assert_fact.subject_id USING ERRCODE = '22023';
    END IF;
    SELECT k.single_valued INTO v_single FROM memory.relation_kinds AS k WHERE k.name = assert_fact.relation;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation % is not a known relation kind', coalesce(quote_literal(assert_fact.relation), 'NULL')
            USING ERRCODE = '22023', HINT = 'the kinds are the rows of memory.relation_kinds; service_role adds more';
    END IF;
    IF (assert_fact.object_id IS NULL) = (assert_fact.value IS NULL) THEN
        RAISE EXCEPTION 'give exactly one of object_id (an entity) and value (a text)' USING ERRCODE = '22023';
    END IF;
    IF assert_fact.object_id IS NOT NULL THEN
        SELECT e.id INTO v_object_id FROM memory.entities AS e
        WHERE e.id = memory.live_entity_id(assert_fact.object_id) AND NOT e.is_deleted AND e.user_id = v_subject.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'object_id % is not a known live entity of the subject''s user', assert_fact.object_id
                USING ERRCODE = '22023';
        END IF;
        IF v_object_id = v_subject.id THEN
            RAISE EXCEPTION 'object_id is the subject itself' USING ERRCODE = '22023';
        END IF;
    ELSE
        PERFORM memory.check_label(assert_fact.value, 'value', 1000, true);
    END IF;
    PERFORM memory.check_label(assert_fact.fact, 'fact', (SELECT s.max_memory_chars FROM memory.settings AS s));
    IF assert_fact.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(assert_fact.embedding, 'embedding');
    END IF;
    IF assert_fact.source_memory_id IS NOT NULL THEN
        SELECT coalesce(v_from, m.created_at) INTO v_from FROM memory.memories AS m
        WHERE m.id = assert_fact.source_memory_id AND m.user_id = v_subject.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'source_memory_id % is not a memory of the subject''s user', assert_fact.source_memory_id
                USING ERRCODE = '22023';
        END IF;
    END IF;
    IF v_from IS NULL THEN
        RAISE EXCEPTION 'valid_from is required when no source_memory_id is given'
            USING ERRCODE = '22023', HINT = 'a fact''s start is when it became true, not when it was recorded';
    END IF;
    IF NOT isfinite(v_from) AND v_from > 'epoch' THEN
        RAISE EXCEPTION 'valid_from must not be infinity' USING ERRCODE = '22023';
    END IF;
    IF v_to IS NOT NULL AND v_to <= v_from THEN
        RAISE EXCEPTION 'valid_to (%) must be after valid_from (%)', v_to, v_from USING ERRCODE = '22023';
    END IF;
    IF v_to = 'infinity' THEN
        v_to := NULL;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtextextended('memory.fact' || chr(31) || v_subject.id::text || chr(31)
                                                   || assert_fact.relation, 0));
    v_key := memory.fact_key(assert_fact.relation, v_object_id, assert_fact.value);

    -- the same fact: already holding over the whole interval, or overlapping / adjacent
    SELECT r.id INTO v_covering FROM memory.entity_relations AS r
    WHERE r.subject_id = v_subject.id AND r.relation = assert_fact.relation AND r.fact_key = v_key
      AND r.expired_at IS NULL AND r.valid @> tstzrange(v_from, v_to, '[)');
    IF FOUND THEN
        RETURN QUERY SELECT v_covering, 'NOOP'::text, '{}'::uuid[];
        RETURN;
    END IF;
    SELECT array_agg(r.id), least(min(r.valid_from), v_from),
           CASE WHEN bool_or(r.valid_to IS NULL) OR v_to IS NULL THEN NULL ELSE greatest(max(r.valid_to), v_to) END
    INTO v_same, v_from, v_to
    FROM memory.entity_relations AS r
    WHERE r.subject_id = v_subject.id AND r.relation = assert_fact.relation AND r.fact_key = v_key
      AND r.expired_at IS NULL AND (r.valid && tstzrange(v_from, v_to, '[)') OR r.valid -|- tstzrange(v_from, v_to, '[)'));
    IF v_same IS NOT NULL THEN
        UPDATE memory.entity_relations AS r SET expired_at = now() WHERE r.id = ANY (v_same);
        v_closed := v_same;
        v_event := 'EXTEND';
    END IF;

    IF v_single THEN
        -- another object starting later: the new fact ends where the first of them starts
        SELECT least(v_to, min(r.valid_from)) INTO v_to FROM memory.entity_relations AS r
        WHERE r.subject_id = v_subject.id AND r.single_key = assert_fact.relation
          AND r.valid_from > v_from AND (v_to IS NULL OR r.valid_from < v_to);
        -- another object starting at the same time: a correction, the old record is retracted
        FOR v_conflict IN
            UPDATE memory.entity_relations AS r SET expired_at = now()
            WHERE r.subject_id = v_subject.id AND r.single_key = assert_fact.relation AND r.valid_from = v_from
            RETURNING r.*
        LOOP
            v_closed := v_closed || v_conflict.id;
            v_event := 'SUPERSEDE';
        END LOOP;
        -- another object holding since before: closed at v_from, continued after a bounded fact
        FOR v_conflict IN
            SELECT r.* FROM memory.entity_relations AS r
            WHERE r.subject_id = v_subject.id AND r.single_key = assert_fact.relation
              AND r.valid && tstzrange(v_from, v_to, '[)') AND r.valid_from < v_from
            FOR UPDATE
        LOOP
            UPDATE memory.entity_relations AS r SET valid_to = v_from WHERE r.id = v_conflict.id;
            IF v_to IS NOT NULL AND (v_conflict.valid_to IS NULL OR v_conflict.valid_to > v_to) THEN
                INSERT INTO memory.entity_relations (user_id, subject_id, relation, object_id, value, fact, embedding,
                                                     valid_from, valid_to, recorded_at, source_memory_id)
                VALUES (v_conflict.user_id, v_conflict.subject_id, v_conflict.relation, v_conflict.object_id,
                        v_conflict.value, v_conflict.fact, v_conflict.embedding, v_to, v_conflict.valid_to,
                        v_conflict.recorded_at, v_conflict.source_memory_id);
            END IF;
            v_closed := v_closed || v_conflict.id;
            v_event := 'SUPERSEDE';
        END LOOP;
    END IF;

    INSERT INTO memory.entity_relations AS r (user_id, subject_id, relation, object_id, value, fact, embedding,
                                              valid_from, valid_to, source_memory_id)
    VALUES (v_subject.user_id, v_subject.id, assert_fact.relation, v_object_id, btrim(assert_fact.value),
            assert_fact.fact, assert_fact.embedding, v_from, v_to, assert_fact.source_memory_id)
    RETURNING r.id INTO v_id;
    RETURN QUERY SELECT v_id, v_event, v_closed;
END
$$;

COMMENT ON FUNCTION memory.assert_fact(uuid, text, uuid, text, text, timestamptz, timestamptz, uuid, vector) IS
    'States a fact about an entity with its validity; closes what it supersedes; returns id, ADD/NOOP/EXTEND/SUPERSEDE and the closed ids';

CREATE OR REPLACE FUNCTION memory.retract_fact(fact_id uuid)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF retract_fact.fact_id IS NULL THEN
        RAISE EXCEPTION 'fact_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(r.user_id))
    FROM memory.entity_relations AS r WHERE r.id = retract_fact.fact_id;
    RETURN QUERY
    UPDATE memory.entity_relations AS r SET expired_at = now()
    WHERE r.id = retract_fact.fact_id AND r.expired_at IS NULL
    RETURNING r.id, 'RETRACT'::text;
END
$$;

COMMENT ON FUNCTION memory.retract_fact(uuid) IS
    'Marks a fact record as wrong (expired_at): it leaves every timeline; no row when unknown or already retracted';

-- memory.current_facts: the facts holding now, between live entities: what search reads.
CREATE OR REPLACE VIEW memory.current_facts WITH (security_invoker = true) AS
SELECT r.id, r.user_id, r.subject_id, s.name AS subject, r.relation, r.object_id, o.name AS object, r.value,
       r.fact, r.valid_from, r.valid_to, r.recorded_at, r.source_memory_id
FROM memory.entity_relations AS r
JOIN memory.entities AS s ON s.id = r.subject_id AND NOT s.is_deleted AND s.merged_into IS NULL
LEFT JOIN memory.entities AS o ON o.id = r.object_id
WHERE r.expired_at IS NULL AND r.valid @> now()
  AND (r.object_id IS NULL OR (NOT o.is_deleted AND o.merged_into IS NULL));
COMMENT ON VIEW memory.current_facts IS 'Facts holding now between live entities (not retracted, valid now)';

-- memory.entity_facts(): the facts about an entity (as subject or object) holding at as_of
-- (default now), or its whole timeline with include_past; retracted records never.
CREATE OR REPLACE FUNCTION memory.entity_facts(entity_id uuid, as_of timestamptz DEFAULT NULL,
                                               include_past boolean DEFAULT false)
RETURNS TABLE (id uuid, subject_id uuid, subject text, relation text, object_id uuid, object text, value text,
               fact text, valid_from timestamptz, valid_to timestamptz, recorded_at timestamptz,
               source_memory_id uuid)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_live uuid;
BEGIN
    IF entity_facts.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    v_live := memory.live_entity_id(entity_facts.entity_id);
    RETURN QUERY
    SELECT r.id, r.subject_id, s.name, r.relation, r.object_id, o.name, r.value, r.fact, r.valid_from, r.valid_to,
           r.recorded_at, r.source_memory_id
    FROM (SELECT * FROM memory.entity_relations AS x WHERE x.subject_id = v_live AND x.expired_at IS NULL
          UNION ALL
          SELECT * FROM memory.entity_relations AS x WHERE x.object_id = v_live AND x.expired_at IS NULL) AS r
    JOIN memory.entities AS s ON s.id = r.subject_id
    LEFT JOIN memory.entities AS o ON o.id = r.object_id
    WHERE entity_facts.include_past OR r.valid @> coalesce(entity_facts.as_of, now())
    ORDER BY r.relation, r.valid_from, r.id;
END
$$;

COMMENT ON FUNCTION memory.entity_facts(uuid, timestamptz, boolean) IS
    'Facts about an entity holding at as_of (default now), or its whole timeline with include_past';

REVOKE ALL ON FUNCTION memory.fact_key(text, uuid, text), memory.prepare_entity_relation(), memory.guard_relation_kind(),
    memory.assert_fact(uuid, text, uuid, text, text, timestamptz, timestamptz, uuid, vector),
    memory.retract_fact(uuid), memory.entity_facts(uuid, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.fact_key(text, uuid, text), memory.assert_fact(uuid, text, uuid, text, text, timestamptz, timestamptz, uuid, vector),
    memory.retract_fact(uuid), memory.entity_facts(uuid, timestamptz, boolean) TO authenticated, service_role;

-- sql/memory/interactions.sql
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

-- sql/memory/link_entities.sql
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

-- sql/memory/add_memory.sql
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

-- memory.span_names(span, place, followed_by): the names one capitalised span holds (the rules
-- of extract_entity_names, one span at a time). place is where the span stands:
--   'sentence'  it opens a sentence (the text's start, after . ! ?): greetings are dropped from
--               its front, and a single word left alone is not a name ("Thanks!", "Yesterday")
--               unless a greeting came before it ("Thanks Nate" -> "Nate")
--   'clause'    after a comma, a colon or at the start of a line: greetings are dropped, single
--               words stay names ("Attendees: Caroline", "so, Hey John" -> "John")
--   'inside'    anywhere else: nothing is dropped ("a Hello Kitty bag", "Good Morning America")
-- Greetings are dropped as often as they come ("Oh Hey John" -> "John"), and two-word greetings
-- whole ("Good Morning", "Happy Birthday"); a word that only sometimes greets ("Great", "Happy",
-- "Nice") is dropped only before a single word that ends the clause ("Great Caroline, thanks",
-- "Awesome Caroline!" -> "Caroline"; "Great Britain voted" keeps it). The pronoun I and its
-- contractions split a span, except the numeral I after a word that numbers things ("World War
-- I", "Part I"); spans that are only stop words are not names. The word lists are
-- memory.name_words() (from 0020; 0019 dropped one greeting, and at any position).
CREATE OR REPLACE FUNCTION memory.name_words(list text)
RETURNS text[]
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE name_words.list
        -- words that open a sentence by grammar, before a name: "Hey John", "Thanks Nate"
        WHEN 'greeting' THEN ARRAY['hey', 'hi', 'hello', 'bye', 'goodbye', 'thanks', 'thank', 'congrats',
                                   'congratulations', 'sorry', 'welcome', 'cheers', 'dear', 'yes', 'yeah', 'yep',
                                   'no', 'nope', 'ok', 'okay', 'oh', 'ah', 'aw', 'aww', 'wow', 'whoa', 'hmm',
                                   'haha', 'lol', 'omg', 'well', 'so', 'and', 'but', 'glad', 'sure', 'please',
                                   'morning', 'afternoon', 'evening']
        -- words that greet only in a phrase ("Good Morning") or before one word ("Great, Caroline!")
        WHEN 'weak greeting' THEN ARRAY['good', 'great', 'happy', 'nice', 'cool', 'awesome', 'merry', 'thank',
                                        'thanks']
        -- what follows a weak greeting in a two-word greeting
        WHEN 'greeting tail' THEN ARRAY['morning', 'afternoon', 'evening', 'night', 'day', 'luck', 'job', 'work',
                                        'news', 'birthday', 'weekend', 'holidays', 'christmas', 'easter',
                                        'thanksgiving', 'anniversary', 'year', 'monday', 'tuesday', 'wednesday',
                                        'thursday', 'friday', 'saturday', 'sunday', 'idea', 'point', 'question',
                                        'you']
        -- words after which I is the numeral one
        WHEN 'numbered' THEN ARRAY['war', 'part', 'chapter', 'phase', 'volume', 'book', 'season', 'episode',
                                   'type', 'title', 'section', 'article', 'appendix', 'schedule']
    END
$$;

COMMENT ON FUNCTION memory.name_words(text) IS
    'Word lists of name extraction: greeting, weak greeting, greeting tail, numbered';

CREATE OR REPLACE FUNCTION memory.span_names(span text, place text, followed_by text DEFAULT '')
RETURNS text[]
LANGUAGE plpgsql
STABLE STRICT
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    c_greetings constant text[] := memory.name_words('greeting');
    c_weak constant text[] := memory.name_words('weak greeting');
    c_tails constant text[] := memory.name_words('greeting tail');
    c_numbered constant text[] := memory.name_words('numbered');
    v_words text[] := regexp_split_to_array(btrim(span_names.span), '\s+');
    v_word text;
    v_span text[] := '{}';
    v_strips boolean := span_names.place IN ('sentence', 'clause');
    v_opens boolean := span_names.place = 'sentence';
    v_greeted boolean := false;
    v_names text[] := '{}';
BEGIN
    IF span_names.place NOT IN ('sentence', 'clause', 'inside') THEN
        RAISE EXCEPTION 'place must be sentence, clause or inside, got %', quote_literal(span_names.place)
            USING ERRCODE = '22023';
    END IF;
    -- a trailing 'I' flushes the last span: the pronoun ends every span
    FOREACH v_word IN ARRAY v_words || 'I'::text LOOP
        CONTINUE WHEN v_word = '';
        IF v_word !~ '^I([''’][[:alpha:]]+)?$'
           OR (v_word = 'I' AND cardinality(v_span) > 0 AND lower(v_span[cardinality(v_span)]) = ANY (c_numbered)) THEN
            v_span := v_span || v_word;
            CONTINUE;
        END IF;
        WHILE v_strips AND cardinality(v_span) > 0 LOOP
            IF cardinality(v_span) > 1 AND lower(v_span[1]) = ANY (c_weak) AND lower(v_span[2]) = ANY (c_tails) THEN
                v_span := v_span[3:];
            ELSIF lower(v_span[1]) = ANY (c_greetings) THEN
                v_span := v_span[2:];
            ELSIF cardinality(v_span) = 2 AND lower(v_span[1]) = ANY (c_weak) AND v_word = 'I'
                  AND span_names.followed_by IN (',', '!') AND cardinality(v_words) = 2 THEN
                v_span := v_span[2:];  -- "Great Caroline, thanks": the whole span, then the clause ends
            ELSE
                EXIT;
            END IF;
            v_greeted := true;
        END LOOP;
        IF cardinality(v_span) > 1 OR (cardinality(v_span) = 1 AND (NOT v_opens OR v_greeted)) THEN
            v_names := v_names || array_to_string(v_span, ' ');
        END IF;
        v_span := '{}';
        v_strips := false;
        v_opens := false;
    END LOOP;
    RETURN ARRAY(SELECT n FROM unnest(v_names) WITH ORDINALITY AS x(n, i)
                 WHERE to_tsvector(memory.text_search_config(), x.n)::text <> ''
                   AND memory.normalize_entity_name(x.n) <> ''
                 ORDER BY x.i);
END
$$;

COMMENT ON FUNCTION memory.span_names(text, text, text) IS
    'The names in one capitalised span by where it stands (sentence, clause, inside): greetings dropped, split at the pronoun I, stop words left out';

-- memory.extract_entity_names(text): the capitalised spans of a text, each through
-- memory.span_names with its place: 'sentence' at the start and after . ! ?, 'clause' after a
-- comma, a colon, a semicolon or at the start of a line, else 'inside'; a span never crosses a
-- line. The span's closing punctuation is consumed with it (the weak-greeting rule reads it), so
-- the next span's place comes from that punctuation when nothing else stands between them.
CREATE OR REPLACE FUNCTION memory.extract_entity_names(content text)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_match text[];
    v_before text;
    v_after text := '';
    v_first boolean := true;
    v_names text[] := '{}';
BEGIN
    FOR v_match IN
        SELECT m FROM regexp_matches(coalesce(extract_entity_names.content, ''),
                                     '(^|[.!?]\s+|[^.!?\s]\s*|\s+)(\m[[:upper:]][[:alnum:]''’&-]*(?:[[:blank:]]+[[:upper:]][[:alnum:]''’&-]*)*)([,;:.!?]?)',
                                     'g') AS m
    LOOP
        -- the character before the span; when the previous span consumed it, that span's closing
        v_before := CASE WHEN v_match[1] ~ '^\s+$' THEN v_after ELSE left(v_match[1], 1) END;
        v_names := v_names || memory.span_names(
            v_match[2],
            CASE WHEN v_match[1] = '' OR v_before ~ '^[.!?]$' OR (v_first AND v_match[1] ~ '^\s+$') THEN 'sentence'
                 WHEN v_before ~ '^[,;:]$' OR v_match[1] ~ '\n' THEN 'clause'
                 ELSE 'inside' END,
            v_match[3]);
        v_after := v_match[3];
        v_first := false;
    END LOOP;
    RETURN coalesce((SELECT array_agg(DISTINCT n ORDER BY n) FROM unnest(v_names) AS n), '{}');
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
    memory.name_words(text), memory.span_names(text, text, text), memory.extract_entity_names(text), memory.query_entities(text, text),
    memory.search_entities(text, vector, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.rrf_share(double precision, integer, bigint), memory.entity_boost_weight(bigint),
    memory.name_words(text), memory.span_names(text, text, text), memory.extract_entity_names(text), memory.query_entities(text, text),
    memory.search_entities(text, vector, text, text, integer) TO authenticated, service_role;

-- sql/memory/repair_mention_entities.sql
-- memory.repair_mention_entities(user_id, dry_run): entities that extract_entity_names made of
-- grammar before 0019 and 0020, put right. Before them, "Hey John", "Thanks Nate", "I'm" and
-- "Good Morning" were names, linked as entities of type other (link_entities gives a bare name
-- that type), beside the John and Nate they meant.
-- A candidate is a live entity of type other that nothing but the extraction can have made: its
-- name is a capitalised span (every word capitalised), it is as its ADD left it (no aliases,
-- attributes, contact, embedding or person type, the default importance, no history row but its
-- ADD) and it has no facts and no interactions. Its name is read by today's rules
-- (memory.span_names, as a clause: greetings dropped, a single word kept):
--   MERGE   the name holds one other name ("Hey John" -> John): merged (memory.merge_entities,
--           so memory.unmerge_entity() undoes it) into the user's entity of that name
--           (memory.mentioned_entity), else into a new entity of type other; with no links it is
--           deleted instead, and no entity is made
--   DELETE  the name is only greetings and the pronoun I ("I'm", "Good Morning", "Thank You"):
--           soft-deleted (memory.delete_entity; its links stay, so restore_entity undoes it)
--   SKIP    the name holds several names: merge_entities() it by hand
-- Names today's rules read as they are, names that are only stop words ("The Who") and names
-- with the numeral I ("Elizabeth I") are not candidates. dry_run (the default) only lists the
-- actions, with the entity each MERGE would go into (NULL: a new one).
-- It takes the user's entity lock (upsert_entity.sql) and runs as the caller; a user the caller
-- may not read is refused (42501) before any lock.
-- search_path is pinned (pg_catalog, extensions, pg_temp), so a caller's own search_path never
-- changes what a name means.
CREATE OR REPLACE FUNCTION memory.repair_mention_entities(user_id text, dry_run boolean DEFAULT true)
RETURNS TABLE (entity_id uuid, name text, action text, names text[], into_id uuid, links bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    c_grammar constant text[] := memory.name_words('greeting') || memory.name_words('weak greeting')
                                 || memory.name_words('greeting tail');
    v_entity record;
BEGIN
    PERFORM memory.check_label(repair_mention_entities.user_id, 'user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    IF repair_mention_entities.dry_run IS NULL THEN
        RAISE EXCEPTION 'dry_run must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF memory.lookup_scope(repair_mention_entities.user_id) IS NULL THEN
        RAISE EXCEPTION 'user_id % is not a user whose entities this session may change',
            quote_literal(repair_mention_entities.user_id) USING ERRCODE = '42501';
    END IF;
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(repair_mention_entities.user_id));
    FOR v_entity IN
        SELECT e.id, e.name, memory.span_names(e.name, 'clause') AS names,
               (SELECT count(*) FROM memory.memory_entities AS me WHERE me.entity_id = e.id) AS links
        FROM memory.entities AS e
        WHERE e.user_id = repair_mention_entities.user_id AND e.entity_type = 'other'
          AND NOT e.is_deleted AND e.merged_into IS NULL
          AND e.name ~ '^[[:upper:]][[:alnum:]''’&-]*([[:blank:]]+[[:upper:]][[:alnum:]''’&-]*)*$'
          AND e.name !~ '(^|[[:blank:]])I($|[[:blank:]])'
          AND e.aliases = '{}' AND e.attributes = '{}' AND e.contact = '{}' AND e.importance = 0.5
          AND e.embedding IS NULL AND e.person_type IS NULL
          AND NOT EXISTS (SELECT 1 FROM memory.entity_history AS h WHERE h.entity_id = e.id AND h.event <> 'ADD')
          AND NOT EXISTS (SELECT 1 FROM memory.entity_relations AS r WHERE r.subject_id = e.id OR r.object_id = e.id)
          AND NOT EXISTS (SELECT 1 FROM memory.interactions AS i WHERE i.entity_id = e.id)
        ORDER BY e.created_at, e.id
    LOOP
        CONTINUE WHEN cardinality(v_entity.names) = 1
                      AND memory.normalize_entity_name(v_entity.names[1]) = memory.normalize_entity_name(v_entity.name);
        CONTINUE WHEN cardinality(v_entity.names) = 0
                      AND EXISTS (SELECT 1 FROM regexp_split_to_table(v_entity.name, '\s+') AS w
                                  WHERE lower(w) <> ALL (c_grammar) AND w !~ '^I([''’][[:alpha:]]+)?$');
        entity_id := v_entity.id;
        name := v_entity.name;
        names := v_entity.names;
        links := v_entity.links;
        into_id := NULL;
        action := CASE WHEN cardinality(v_entity.names) > 1 THEN 'SKIP'
                       WHEN cardinality(v_entity.names) = 0 OR v_entity.links = 0 THEN 'DELETE'
                       ELSE 'MERGE' END;
        IF action = 'MERGE' THEN
            into_id := (SELECT m.id FROM memory.mentioned_entity(repair_mention_entities.user_id,
                                                                 v_entity.names[1], '{}') AS m);
        END IF;
        IF NOT repair_mention_entities.dry_run AND action = 'MERGE' THEN
            IF into_id IS NULL THEN
                SELECT u.id INTO into_id FROM memory.upsert_entity(repair_mention_entities.user_id, v_entity.names[1]) AS u;
            END IF;
            PERFORM memory.merge_entities(into_id, v_entity.id);
        ELSIF NOT repair_mention_entities.dry_run AND action = 'DELETE' THEN
            PERFORM memory.delete_entity(v_entity.id);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.repair_mention_entities(text, boolean) IS
    'Entities of type other that older extraction named by grammar ("Hey John", "I''m"): merged into the name they hold, or deleted; a dry run by default';

REVOKE ALL ON FUNCTION memory.repair_mention_entities(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.repair_mention_entities(text, boolean) TO authenticated, service_role;

-- sql/memory/entity_neighbourhood.sql
-- memory.entity_neighbourhood(): the entities reachable from one entity through facts holding at
-- as_of (default now), up to depth hops (1 to 3), in both directions, each with its shortest
-- distance, the fact and relation that first reached it (least distance, then relation, then
-- fact id) and the path. Walked breadth first (from 0020; before, a recursive CTE with a CYCLE
-- clause walked every path): an entity is walked on once, from the hop that first reaches it,
-- and only if it is live (retracted facts, deleted and merged entities are not walked); one
-- DISTINCT ON over all hops picks each entity's row, and the entities are read once, for the rows
-- kept. The same entities, distances, facts and paths as before, except that where two paths of
-- one length end with the same fact (depth 3 only) the path kept is the one through the middle
-- entity's own first fact (the CTE kept either). Depth 2 does a fifth less work, depth 3 half
-- (docs/entities.md, "Measurements").
-- It runs as the caller, so row-level security applies at every hop: another user's entity is
-- never reached (nor is an unknown id). Its plan does not depend on the values (the same indexes
-- whatever the entity), so it is generic (plan_cache_mode): a custom plan of this statement took
-- 3 ms to make, on each of a session's first five calls.
-- memory.facts_around(): the facts holding at as_of that join an entity to another, both
-- directions, the one hop both functions walk. It has no SET clause, so that the planner inlines
-- it into the walk's LATERAL joins (a function call per hop cost more than the hop); its body
-- names every table and operator by schema.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every other function here, so a
-- caller's own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.facts_around(entity_id uuid, as_of timestamptz, relations text[])
RETURNS TABLE (other uuid, relation text, direction text, fact_id uuid)
LANGUAGE sql
STABLE
AS $$
    SELECT r.object_id, r.relation, 'out'::text, r.id
    FROM memory.entity_relations AS r
    WHERE r.subject_id OPERATOR(pg_catalog.=) facts_around.entity_id AND r.object_id IS NOT NULL
      AND r.expired_at IS NULL AND r.valid OPERATOR(pg_catalog.@>) facts_around.as_of
      AND (facts_around.relations IS NULL OR r.relation OPERATOR(pg_catalog.=) ANY (facts_around.relations))
    UNION ALL
    SELECT r.subject_id, r.relation, 'in'::text, r.id
    FROM memory.entity_relations AS r
    WHERE r.object_id OPERATOR(pg_catalog.=) facts_around.entity_id
      AND r.expired_at IS NULL AND r.valid OPERATOR(pg_catalog.@>) facts_around.as_of
      AND (facts_around.relations IS NULL OR r.relation OPERATOR(pg_catalog.=) ANY (facts_around.relations))
$$;

COMMENT ON FUNCTION memory.facts_around(uuid, timestamptz, text[]) IS
    'Facts holding at as_of that join an entity to another, in both directions (one hop of entity_neighbourhood)';

CREATE OR REPLACE FUNCTION memory.entity_neighbourhood(
    entity_id uuid,
    depth integer DEFAULT 1,
    as_of timestamptz DEFAULT NULL,
    relations text[] DEFAULT NULL)
RETURNS TABLE (id uuid, name text, entity_type text, distance integer, relation text, direction text,
               fact_id uuid, path uuid[])
LANGUAGE plpgsql
STABLE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_start uuid;
    v_as_of timestamptz := coalesce(entity_neighbourhood.as_of, now());
BEGIN
    IF entity_neighbourhood.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF entity_neighbourhood.depth IS NULL OR entity_neighbourhood.depth NOT BETWEEN 1 AND 3 THEN
        RAISE EXCEPTION 'depth must be between 1 and 3, got %', coalesce(entity_neighbourhood.depth::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF array_position(entity_neighbourhood.relations, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'relations must not contain NULL' USING ERRCODE = '22023';
    END IF;
    v_start := memory.live_entity_id(entity_neighbourhood.entity_id);
    RETURN QUERY
    WITH hop1 AS (  -- the live entities one fact away, each by its least relation, then fact id
        SELECT DISTINCT ON (n.other) n.other AS node, n.relation, n.direction, n.fact_id,
               ARRAY[v_start, n.other] AS path
        FROM memory.entities AS s
        CROSS JOIN LATERAL memory.facts_around(s.id, v_as_of, entity_neighbourhood.relations) AS n
        JOIN memory.entities AS e ON e.id = n.other AND NOT e.is_deleted AND e.merged_into IS NULL
        WHERE s.id = v_start AND NOT s.is_deleted
        ORDER BY n.other, n.relation, n.fact_id
    ), reach2 AS (  -- every fact from there (depth 2 and 3)
        SELECT n.other AS node, n.relation, n.direction, n.fact_id, w.path || n.other AS path
        FROM hop1 AS w
        CROSS JOIN LATERAL memory.facts_around(w.node, v_as_of, entity_neighbourhood.relations) AS n
        WHERE entity_neighbourhood.depth >= 2 AND n.other <> v_start
    ), hop2 AS (  -- the live entities first reached at hop 2 (depth 3 only)
        SELECT DISTINCT ON (c.node) c.node, c.path
        FROM reach2 AS c
        JOIN memory.entities AS e ON e.id = c.node AND NOT e.is_deleted AND e.merged_into IS NULL
        WHERE entity_neighbourhood.depth >= 3 AND NOT EXISTS (SELECT FROM hop1 AS x WHERE x.node = c.node)
        ORDER BY c.node, c.relation, c.fact_id
    ), reach3 AS (
        SELECT n.other AS node, n.relation, n.direction, n.fact_id, w.path || n.other AS path
        FROM hop2 AS w
        CROSS JOIN LATERAL memory.facts_around(w.node, v_as_of, entity_neighbourhood.relations) AS n
        WHERE n.other <> v_start
    )
    SELECT w.node, e.name, e.entity_type, w.hops, w.relation, w.direction, w.fact_id, w.path
    FROM (
        SELECT DISTINCT ON (a.node) a.node, a.hops, a.relation, a.direction, a.fact_id, a.path
        FROM (SELECT h.node, 1 AS hops, h.relation, h.direction, h.fact_id, h.path FROM hop1 AS h
              UNION ALL
              SELECT c.node, 2, c.relation, c.direction, c.fact_id, c.path FROM reach2 AS c
              UNION ALL
              SELECT c.node, 3, c.relation, c.direction, c.fact_id, c.path FROM reach3 AS c) AS a
        ORDER BY a.node, a.hops, a.relation, a.fact_id
    ) AS w
    JOIN memory.entities AS e ON e.id = w.node AND NOT e.is_deleted AND e.merged_into IS NULL
    ORDER BY w.node;
END
$$;

COMMENT ON FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) IS
    'Entities reachable through current facts (or as of a time) within depth 1-3, with distance, relation and path';

REVOKE ALL ON FUNCTION memory.facts_around(uuid, timestamptz, text[]),
    memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.facts_around(uuid, timestamptz, text[]),
    memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) TO authenticated, service_role;

-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.entity_lock_key(text, text);
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.mentioned_entity_type(text, text, text[]);
