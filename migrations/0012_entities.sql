-- 0012_entities: the people, organisations, projects and places a user's memories are about
-- (issue 13), resolved in SQL without an LLM, with facts that change over time.
-- * memory.entity_types and memory.relation_kinds: the kinds, extensible by service_role; a
--   relation kind declared single_valued holds one object per subject at any time.
-- * memory.entities (per user; name, aliases, attributes, contact, importance, an optional
--   embedding of the installed dimension, interaction counters, soft delete, merged_into), and
--   memory.entity_history (ADD, UPDATE, MERGE, UNMERGE, DELETE, RESTORE with what moved).
-- * memory.memory_entities: links between memories and entities, with a role.
-- * memory.entity_relations: facts with a validity interval (valid_from, valid_to), the time they
--   were recorded and the time they were retracted (expired_at). A UNIQUE ... WITHOUT OVERLAPS
--   temporal key (PostgreSQL 18, btree_gist) refuses two overlapping objects of a single-valued
--   relation for one subject, and two overlapping copies of the same fact.
-- * memory.interactions and memory.interaction_memories (seed 003), counters kept by trigger.
-- * Settings for resolution: entity_trigram_threshold, entity_embedding_threshold.
-- Extensions btree_gist (the temporal keys) and btree_gin (user-scoped trigram index) are created
-- in schema extensions where missing, and recorded so that the rollback drops only those.
-- Extension types by name, whatever search_path the runner's session started with:
SET LOCAL search_path = pg_catalog, extensions, public;

DO $$
BEGIN
    IF current_setting('server_version_num')::integer < 180000 THEN
        RAISE EXCEPTION 'mempg 0012_entities needs PostgreSQL 18 or later (temporal keys: UNIQUE ... WITHOUT OVERLAPS), this is %',
            current_setting('server_version') USING ERRCODE = '0A000';
    END IF;
END
$$;

CREATE TABLE mempg.extensions_created (
    name       text PRIMARY KEY,
    created_by text NOT NULL
);
COMMENT ON TABLE mempg.extensions_created IS
    'Extensions a migration after 0001 created (not found installed), so that its rollback drops exactly those';
REVOKE ALL ON mempg.extensions_created FROM PUBLIC;

DO $$
DECLARE
    v_extension text;
BEGIN
    FOREACH v_extension IN ARRAY ARRAY['btree_gist', 'btree_gin'] LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = v_extension);
        EXECUTE format('CREATE EXTENSION %I WITH SCHEMA extensions', v_extension);
        INSERT INTO mempg.extensions_created (name, created_by) VALUES (v_extension, '0012_entities');
    END LOOP;
END
$$;

-- sql/memory/entity_names.sql
-- What "the same name" means for entities. normalize_entity_name(): Unicode-decomposed, accents
-- and a possessive 's dropped, dots and apostrophes removed inside words (D.G.I.A. -> dgia,
-- O'Brien -> obrien), every other run of non-alphanumerics one space, lower case, trimmed.
-- It has no SET clause so that the planner can inline it into the generated column
-- entities.normalized_name; its body uses built-in functions only.
-- entity_name_keys(): the keys of the exact-name index, one per (user, normalised name or
-- alias); chr(31) cannot survive normalisation, so keys of two users never meet.
CREATE OR REPLACE FUNCTION memory.normalize_entity_name(name text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
               lower(normalize(normalize_entity_name.name, NFKD)),
               '[\u0300-\u036f]', '', 'g'),
               '[''\u2019]s\M', '', 'g'),
               '(\w)[.''\u2019]+(?=\w|\s|$)', '\1', 'g'),
               '[^[:alnum:]]+', ' ', 'g'))
$$;

COMMENT ON FUNCTION memory.normalize_entity_name(text) IS
    'Entity name as compared for exact matches: accents, possessives and inner punctuation dropped, lower case';

CREATE OR REPLACE FUNCTION memory.entity_name_keys(user_id text, name text, aliases text[])
RETURNS text[]
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT array_agg(DISTINCT entity_name_keys.user_id || chr(31) || n.normalized)
    FROM unnest(entity_name_keys.name || coalesce(entity_name_keys.aliases, '{}')) AS raw(name),
         memory.normalize_entity_name(raw.name) AS n(normalized)
    WHERE n.normalized <> ''
$$;

COMMENT ON FUNCTION memory.entity_name_keys(text, text, text[]) IS
    'Index keys of an entity''s normalised name and aliases, one per (user, name): the exact-name index expression';

CREATE OR REPLACE FUNCTION memory.entity_name_key(user_id text, name text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT entity_name_key.user_id || chr(31) || memory.normalize_entity_name(entity_name_key.name)
$$;

COMMENT ON FUNCTION memory.entity_name_key(text, text) IS 'The exact-name index key of one (user, name)';

-- memory.entity_names_text(): an entity's name and aliases as one text, for its tsvector
-- (array_to_string is only STABLE in general; for text[] it is immutable, so this wrapper is).
CREATE OR REPLACE FUNCTION memory.entity_names_text(name text, aliases text[])
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT entity_names_text.name || ' ' || array_to_string(entity_names_text.aliases, ' ')
$$;

COMMENT ON FUNCTION memory.entity_names_text(text, text[]) IS 'An entity''s name and aliases as one text: its tsvector''s input';

REVOKE ALL ON FUNCTION memory.normalize_entity_name(text), memory.entity_name_keys(text, text, text[]),
    memory.entity_name_key(text, text), memory.entity_names_text(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.normalize_entity_name(text), memory.entity_name_keys(text, text, text[]),
    memory.entity_name_key(text, text), memory.entity_names_text(text, text[]) TO authenticated, service_role;

CREATE TABLE memory.entity_types (
    name        text PRIMARY KEY CONSTRAINT entity_type_name CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    description text NOT NULL DEFAULT ''
);
COMMENT ON TABLE memory.entity_types IS 'Kinds of entities (person, organization, ...); service_role adds more';
INSERT INTO memory.entity_types (name, description) VALUES
    ('person', 'A person'),
    ('organization', 'A company, institution, team or group'),
    ('project', 'A project, product or piece of work'),
    ('place', 'A city, country, address or venue'),
    ('other', 'Anything else a memory is about');

CREATE TABLE memory.relation_kinds (
    name          text PRIMARY KEY CONSTRAINT relation_kind_name CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    single_valued boolean NOT NULL DEFAULT false,
    description   text NOT NULL DEFAULT ''
);
COMMENT ON TABLE memory.relation_kinds IS
    'Kinds of relations between entities; a single_valued kind holds one object per subject at any time';
INSERT INTO memory.relation_kinds (name, single_valued, description) VALUES
    ('works_at', true, 'employer of a person'),
    ('lives_in', true, 'where a person or organisation lives or is based'),
    ('married_to', true, 'spouse'),
    ('reports_to', true, 'manager'),
    ('located_in', true, 'where a place or organisation is'),
    ('role', true, 'job title or role (a value)'),
    ('knows', false, 'acquaintance'),
    ('member_of', false, 'membership of a group or organisation'),
    ('works_on', false, 'project a person works on'),
    ('likes', false, 'preference'),
    ('related_to', false, 'any other relation');

CREATE TABLE memory.entity_resolution_settings (
    singleton                  boolean PRIMARY KEY DEFAULT true CONSTRAINT one_row CHECK (singleton),
    trigram_threshold          real NOT NULL DEFAULT 0.7
        CONSTRAINT trigram_threshold_range CHECK (trigram_threshold BETWEEN 0.3 AND 1),
    embedding_threshold        double precision NOT NULL DEFAULT 0.95
        CONSTRAINT embedding_threshold_range CHECK (embedding_threshold BETWEEN 0 AND 1),
    max_aliases                integer NOT NULL DEFAULT 50
        CONSTRAINT max_aliases_range CHECK (max_aliases BETWEEN 0 AND 1000),
    max_name_chars             integer NOT NULL DEFAULT 200
        CONSTRAINT max_name_chars_range CHECK (max_name_chars BETWEEN 1 AND 1000),
    max_query_entities         integer NOT NULL DEFAULT 8
        CONSTRAINT max_query_entities_range CHECK (max_query_entities BETWEEN 1 AND 100)
);
INSERT INTO memory.entity_resolution_settings DEFAULT VALUES;
COMMENT ON TABLE memory.entity_resolution_settings IS
    'How memory.upsert_entity() resolves a name (one row; service_role changes it)';

DO $$
DECLARE
    v_dim integer := memory.embedding_dim();
    v_config text := memory.text_search_config()::text;
BEGIN
    EXECUTE format($ddl$
        CREATE TABLE memory.entities (
            id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            user_id             text NOT NULL CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
            entity_type         text NOT NULL REFERENCES memory.entity_types ON UPDATE CASCADE,
            person_type         text CONSTRAINT person_type_valid CHECK (person_type <> '' AND length(person_type) <= 64),
            name                text NOT NULL CONSTRAINT name_valid CHECK (length(name) <= 1000),
            normalized_name     text NOT NULL GENERATED ALWAYS AS (memory.normalize_entity_name(name)) STORED
                                CONSTRAINT normalized_name_not_empty CHECK (normalized_name <> ''),
            aliases             text[] NOT NULL DEFAULT '{}'
                                CONSTRAINT aliases_valid CHECK (array_position(aliases, NULL) IS NULL AND cardinality(aliases) <= 1000),
            attributes          jsonb NOT NULL DEFAULT '{}' CONSTRAINT attributes_is_object CHECK (jsonb_typeof(attributes) = 'object'),
            contact             jsonb NOT NULL DEFAULT '{}' CONSTRAINT contact_is_object CHECK (jsonb_typeof(contact) = 'object'),
            importance          real NOT NULL DEFAULT 0.5 CONSTRAINT importance_range CHECK (importance BETWEEN 0 AND 1),
            embedding           vector(%s) CONSTRAINT embedding_not_zero CHECK (vector_norm(embedding) > 0),
            interaction_count   integer NOT NULL DEFAULT 0 CONSTRAINT interaction_count_not_negative CHECK (interaction_count >= 0),
            last_interaction_at timestamptz,
            is_deleted          boolean NOT NULL DEFAULT false,
            deleted_at          timestamptz,
            merged_into         uuid,
            created_at          timestamptz NOT NULL DEFAULT now(),
            updated_at          timestamptz NOT NULL DEFAULT now(),
            fts                 tsvector NOT NULL GENERATED ALWAYS AS (
                                    to_tsvector(%L::regconfig, memory.entity_names_text(name, aliases))
                                    || jsonb_to_tsvector(%L::regconfig, attributes, '["string"]')) STORED,
            CONSTRAINT entities_id_user UNIQUE (id, user_id),
            CONSTRAINT merged_into_same_user FOREIGN KEY (merged_into, user_id) REFERENCES memory.entities (id, user_id),
            CONSTRAINT not_merged_into_itself CHECK (merged_into <> id),
            CONSTRAINT deleted_at_when_deleted CHECK (is_deleted = (deleted_at IS NOT NULL))
        )$ddl$, v_dim, v_config, v_config);
    IF v_dim <= 2000 THEN
        CREATE INDEX entities_embedding_ann ON memory.entities USING hnsw (embedding vector_cosine_ops)
            WITH (m = 16, ef_construction = 128) WHERE embedding IS NOT NULL AND NOT is_deleted AND merged_into IS NULL;
    END IF;
END
$$;
COMMENT ON TABLE memory.entities IS
    'People, organisations, projects and places a user''s memories are about; resolved by memory.upsert_entity()';
COMMENT ON COLUMN memory.entities.merged_into IS 'The entity this one was merged into (memory.merge_entities); undone by memory.unmerge_entity()';
COMMENT ON COLUMN memory.entities.normalized_name IS 'memory.normalize_entity_name(name): what exact resolution compares';

-- The indexes of entities and entity_relations: those tables are created a moment before, in DO
-- blocks (for the installed dimension) that squawk cannot read, so it asks for CONCURRENTLY.
-- One live entity per (user, type, normalised name): resolution is serialised per (user, type),
-- and this index is what a concurrent writer under REPEATABLE READ meets.
-- squawk-ignore require-concurrent-index-creation
CREATE UNIQUE INDEX entities_live_name_unique ON memory.entities (user_id, entity_type, normalized_name)
    WHERE NOT is_deleted AND merged_into IS NULL;
-- Exact name-or-alias lookups (upsert, the entities named in a search query): one GIN key per
-- user and normalised name or alias (memory.entity_name_keys).
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entities_name_keys ON memory.entities USING gin (memory.entity_name_keys(user_id, name, aliases))
    WITH (fastupdate = off) WHERE NOT is_deleted AND merged_into IS NULL;
-- Trigram similarity within one user and type (btree_gin for the two equality columns).
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entities_name_trigram ON memory.entities
    USING gin (user_id, entity_type, normalized_name gin_trgm_ops)
    WITH (fastupdate = off) WHERE NOT is_deleted AND merged_into IS NULL;
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entities_fts ON memory.entities USING gin (fts) WHERE NOT is_deleted AND merged_into IS NULL;
-- The seed's listings (by importance, newest first; by type: entities_live_name_unique) and the
-- merge chain.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entities_user_importance ON memory.entities (user_id, importance DESC, id) WHERE NOT is_deleted AND merged_into IS NULL;
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entities_user_created ON memory.entities (user_id, created_at DESC, id DESC) WHERE NOT is_deleted AND merged_into IS NULL;
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entities_merged_into ON memory.entities (merged_into) WHERE merged_into IS NOT NULL;
-- A hop's liveness check on the entity it reaches, index-only.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entities_live ON memory.entities (id, user_id) WHERE NOT is_deleted AND merged_into IS NULL;

CREATE TABLE memory.entity_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id  uuid NOT NULL,
    user_id    text NOT NULL,
    event      text NOT NULL CONSTRAINT event_known CHECK (event IN ('ADD', 'UPDATE', 'MERGE', 'UNMERGE', 'DELETE', 'RESTORE')),
    old_row    jsonb,
    new_row    jsonb,
    details    jsonb,
    actor      text NOT NULL DEFAULT current_user,
    app_user   text DEFAULT app.current_user_id(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entity_history_entity ON memory.entity_history (entity_id, id);
CREATE INDEX entity_history_user ON memory.entity_history (user_id, created_at DESC);
COMMENT ON TABLE memory.entity_history IS
    'Every change of an entity; a MERGE row''s details record what moved, so memory.unmerge_entity() can undo it';

CREATE TABLE memory.memory_entities (
    memory_id  uuid NOT NULL REFERENCES memory.memories ON DELETE CASCADE,
    entity_id  uuid NOT NULL,
    user_id    text NOT NULL,
    role       text NOT NULL DEFAULT 'mention' CONSTRAINT role_valid CHECK (role ~ '^[a-z][a-z0-9_]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, memory_id, role),
    CONSTRAINT entity_of_same_user FOREIGN KEY (entity_id, user_id) REFERENCES memory.entities (id, user_id) ON DELETE CASCADE
);
CREATE INDEX memory_entities_memory ON memory.memory_entities (memory_id);
COMMENT ON TABLE memory.memory_entities IS 'Which entities a memory is about, and in what role (speaker, subject, mention, ...)';

DO $$
DECLARE
    v_dim integer := memory.embedding_dim();
BEGIN
    EXECUTE format($ddl$
        CREATE TABLE memory.entity_relations (
            id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            user_id          text NOT NULL,
            subject_id       uuid NOT NULL,
            relation         text NOT NULL REFERENCES memory.relation_kinds ON UPDATE CASCADE,
            object_id        uuid,
            value            text CONSTRAINT value_valid CHECK (value ~ '[^[:space:]]' AND length(value) <= 1000),
            fact             text CONSTRAINT fact_valid CHECK (length(fact) <= 10000),
            embedding        vector(%s) CONSTRAINT embedding_not_zero CHECK (vector_norm(embedding) > 0),
            valid_from       timestamptz NOT NULL,
            valid_to         timestamptz,
            valid            tstzrange NOT NULL GENERATED ALWAYS AS (tstzrange(valid_from, valid_to, '[)')) STORED,
            recorded_at      timestamptz NOT NULL DEFAULT now(),
            expired_at       timestamptz,
            source_memory_id uuid REFERENCES memory.memories ON DELETE SET NULL,
            single_key       text,
            fact_key         text,
            CONSTRAINT object_or_value CHECK ((object_id IS NULL) <> (value IS NULL)),
            CONSTRAINT not_about_itself CHECK (object_id <> subject_id),
            CONSTRAINT valid_interval CHECK (valid_to > valid_from),
            CONSTRAINT subject_of_same_user FOREIGN KEY (subject_id, user_id) REFERENCES memory.entities (id, user_id) ON DELETE CASCADE,
            CONSTRAINT object_of_same_user FOREIGN KEY (object_id, user_id) REFERENCES memory.entities (id, user_id) ON DELETE CASCADE,
            CONSTRAINT one_object_at_a_time UNIQUE (user_id, subject_id, single_key, valid WITHOUT OVERLAPS),
            CONSTRAINT one_copy_of_a_fact UNIQUE (user_id, subject_id, fact_key, valid WITHOUT OVERLAPS)
        )$ddl$, v_dim);
END
$$;
COMMENT ON TABLE memory.entity_relations IS
    'Facts about entities with a validity interval [valid_from, valid_to); expired_at marks a retracted record';
COMMENT ON COLUMN memory.entity_relations.single_key IS
    'The relation, when it is single-valued and the fact not retracted (else NULL): the temporal key one_object_at_a_time';
COMMENT ON COLUMN memory.entity_relations.fact_key IS
    'relation and object (or normalised value) of a fact not retracted: the temporal key one_copy_of_a_fact';
-- The walks of entity_neighbourhood() (and assert_fact's lookups) read these alone, index-only:
-- every column a hop needs, row-level security's user_id included.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entity_relations_subject ON memory.entity_relations (subject_id, relation)
    INCLUDE (object_id, valid, id, user_id) WHERE expired_at IS NULL;
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entity_relations_object ON memory.entity_relations (object_id)
    INCLUDE (subject_id, relation, valid, id, user_id) WHERE expired_at IS NULL AND object_id IS NOT NULL;
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entity_relations_source ON memory.entity_relations (source_memory_id) WHERE source_memory_id IS NOT NULL;
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX entity_relations_user_recorded ON memory.entity_relations (user_id, recorded_at DESC);

CREATE TABLE memory.interactions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     text NOT NULL,
    entity_id   uuid NOT NULL,
    channel     text NOT NULL DEFAULT 'other' CONSTRAINT channel_valid CHECK (channel ~ '^[a-z][a-z0-9_]{0,62}$'),
    summary     text NOT NULL CONSTRAINT summary_valid CHECK (summary ~ '[^[:space:]]' AND length(summary) <= 10000),
    metadata    jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT interactions_id_user UNIQUE (id, user_id),
    CONSTRAINT entity_of_same_user FOREIGN KEY (entity_id, user_id) REFERENCES memory.entities (id, user_id) ON DELETE CASCADE
);
CREATE INDEX interactions_user_occurred ON memory.interactions (user_id, occurred_at DESC, id DESC);
CREATE INDEX interactions_entity_occurred ON memory.interactions (entity_id, occurred_at DESC, id DESC);
COMMENT ON TABLE memory.interactions IS 'Conversations and meetings with an entity (seed 003); the entity''s counters follow by trigger';

CREATE TABLE memory.interaction_memories (
    interaction_id uuid NOT NULL,
    memory_id      uuid NOT NULL REFERENCES memory.memories ON DELETE CASCADE,
    user_id        text NOT NULL,
    PRIMARY KEY (interaction_id, memory_id),
    CONSTRAINT interaction_of_same_user FOREIGN KEY (interaction_id, user_id)
        REFERENCES memory.interactions (id, user_id) ON DELETE CASCADE
);
CREATE INDEX interaction_memories_memory ON memory.interaction_memories (memory_id);
COMMENT ON TABLE memory.interaction_memories IS 'Memories that came out of an interaction';

-- Links and relations churn with memories; interactions are append-mostly.
ALTER TABLE memory.entities SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE memory.memory_entities SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02,
                                        autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE memory.entity_relations SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE memory.interactions SET (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);

-- sql/memory/lookup_scope.sql
-- memory.lookup_scope(user_id): the user whose rows a SECURITY DEFINER index lookup may read for
-- this caller, as row-level security would decide it: for authenticated (and any role other than
-- the ones below) the given user only when it is the caller's own identity
-- (app.current_user_id()), else NULL; for service_role, superusers and BYPASSRLS roles the given
-- user. It reads the role the request runs as from the `role` setting, which a SECURITY DEFINER
-- function does not change (as memory.quota_subject() does). The lookups that need it:
-- entity_lookup.sql, and memory.full_text_candidates() (0015): under row-level security
-- PostgreSQL evaluates a query's own conditions after the policy's unless their operators are
-- LEAKPROOF, so the operators of those indexes (&& and @> on text[], pg_trgm's %, @@) cannot be
-- index conditions for the application's role.
-- search_path is pinned (pg_catalog, extensions, pg_temp), so a caller's own search_path never
-- changes what a name means.
CREATE OR REPLACE FUNCTION memory.lookup_scope(user_id text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_role text := current_setting('role');
BEGIN
    IF v_role = 'none' THEN
        v_role := session_user;
    END IF;
    IF v_role = 'service_role'
       OR EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_role AND (r.rolsuper OR r.rolbypassrls)) THEN
        RETURN lookup_scope.user_id;
    END IF;
    RETURN CASE WHEN lookup_scope.user_id = app.current_user_id() THEN lookup_scope.user_id END;
END
$$;

COMMENT ON FUNCTION memory.lookup_scope(text) IS
    'The user whose rows the caller may look up: its own identity (authenticated), any user (service_role); else NULL';

REVOKE ALL ON FUNCTION memory.lookup_scope(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.lookup_scope(text) TO authenticated, service_role;

-- sql/memory/entity_lookup.sql
-- Index lookups of entities by name, by trigram and by full text, as their owner.
-- Why SECURITY DEFINER: under row-level security PostgreSQL evaluates a query's own conditions
-- after the policy's, unless their operators are LEAKPROOF, and the operators these indexes
-- serve (&& on text[], pg_trgm's %, @@) are not: as the application's role every lookup became a
-- scan of all the user's entities (620 ms for one exact name among 10,000 in bench/entities.py).
-- Each function reads one user's live entities only: memory.lookup_scope() (lookup_scope.sql) is
-- that user when the caller may see them, else NULL, and NULL matches no row. They return ids
-- and match scores; the callers read the rows themselves, under row-level security.
-- search_path is pinned on every function here, so a caller's own search_path never changes what
-- a name means. Their plans do not depend on the values (the same index whatever the name), so
-- they are generic (plan_cache_mode): planning the trigram lookup took twice as long as running it.
CREATE OR REPLACE FUNCTION memory.entities_named(user_id text, keys text[], type_filter text DEFAULT NULL)
RETURNS TABLE (id uuid, entity_type text, normalized_name text, importance real, created_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(entities_named.user_id);
BEGIN
    RETURN QUERY
    SELECT e.id, e.entity_type, e.normalized_name, e.importance, e.created_at
    FROM memory.entities AS e
    WHERE memory.entity_name_keys(e.user_id, e.name, e.aliases) && entities_named.keys
      AND NOT e.is_deleted AND e.merged_into IS NULL AND e.user_id = v_user
      AND (entities_named.type_filter IS NULL OR e.entity_type = entities_named.type_filter);
END
$$;

COMMENT ON FUNCTION memory.entities_named(text, text[], text) IS
    'Live entities of a user whose normalised name or alias has one of the given index keys (memory.entity_name_key)';

CREATE OR REPLACE FUNCTION memory.entities_like(user_id text, normalized_name text, type_filter text DEFAULT NULL,
                                                max_count integer DEFAULT 1, min_similarity real DEFAULT 0.3)
RETURNS TABLE (id uuid, similarity double precision)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET pg_trgm.similarity_threshold = '0.3'
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(entities_like.user_id);
BEGIN
    -- the index itself skips names below min_similarity (undone on return, by the SET clause)
    PERFORM set_config('pg_trgm.similarity_threshold', greatest(entities_like.min_similarity, 0.01)::text, true);
    RETURN QUERY
    SELECT e.id, extensions.similarity(e.normalized_name, entities_like.normalized_name)::double precision
    FROM memory.entities AS e
    WHERE e.user_id = v_user AND NOT e.is_deleted AND e.merged_into IS NULL
      AND (entities_like.type_filter IS NULL OR e.entity_type = entities_like.type_filter)
      AND e.normalized_name OPERATOR(extensions.%) entities_like.normalized_name
    ORDER BY 2 DESC, e.id
    LIMIT entities_like.max_count;
END
$$;

COMMENT ON FUNCTION memory.entities_like(text, text, text, integer, real) IS
    'A user''s live entities by pg_trgm similarity of the normalised names (at least min_similarity), best first';

CREATE OR REPLACE FUNCTION memory.entities_matching(user_id text, query tsquery, type_filter text DEFAULT NULL,
                                                    max_count integer DEFAULT 20)
RETURNS TABLE (id uuid, text_score double precision)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(entities_matching.user_id);
BEGIN
    RETURN QUERY
    SELECT e.id, ts_rank(e.fts, entities_matching.query)::double precision
    FROM memory.entities AS e
    WHERE e.fts @@ entities_matching.query AND e.user_id = v_user AND NOT e.is_deleted AND e.merged_into IS NULL
      AND (entities_matching.type_filter IS NULL OR e.entity_type = entities_matching.type_filter)
    ORDER BY 2 DESC, e.id
    LIMIT entities_matching.max_count;
END
$$;

COMMENT ON FUNCTION memory.entities_matching(text, tsquery, text, integer) IS
    'A user''s live entities whose names, aliases or string attributes match a tsquery, by ts_rank';

REVOKE ALL ON FUNCTION memory.entities_named(text, text[], text),
    memory.entities_like(text, text, text, integer, real), memory.entities_matching(text, tsquery, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entities_named(text, text[], text),
    memory.entities_like(text, text, text, integer, real), memory.entities_matching(text, tsquery, text, integer)
    TO authenticated, service_role;

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
-- A match learns from the call: the given name becomes an alias when it differs, the aliases are
-- added (up to max_aliases), attributes and contact are merged (the given keys win), importance
-- rises to the given one, and a missing embedding or person type is filled in. Nothing changes
-- (no UPDATE, no history row) when the call brings nothing new.
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
    v_max_aliases integer := (SELECT s.max_aliases FROM memory.entity_resolution_settings AS s);
    v_alias text;
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
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
    ORDER BY c.distance, c.id
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
    v_aliases := memory.merge_aliases(v_entity.aliases, upsert_entity.name, upsert_entity.aliases, v_max_aliases,
                                      v_entity.name);
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

-- sql/memory/entity_history.sql
-- Trigger entities_30_history (AFTER INSERT OR UPDATE): one memory.entity_history row per ADD,
-- UPDATE, DELETE and RESTORE of an entity, in the same transaction, with the database role and
-- the app user. The old and new rows are recorded without the embedding and the tsvector.
-- Changes of the interaction counters alone (kept by the interactions trigger) do not fire it (the
-- trigger lists the columns it records), and an UPDATE that changes none of them writes nothing;
-- merges and their undo write their own MERGE and UNMERGE rows, with what moved, and say so in
-- the transaction-local setting memory.entity_event.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.entity_snapshot(entity memory.entities)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT to_jsonb(entity_snapshot.entity) - ARRAY['embedding', 'fts', 'interaction_count', 'last_interaction_at']
           || jsonb_build_object('has_embedding', (entity_snapshot.entity).embedding IS NOT NULL)
$$;

COMMENT ON FUNCTION memory.entity_snapshot(memory.entities) IS
    'An entity as its history records it: without embedding, tsvector and counters';

CREATE OR REPLACE FUNCTION memory.record_entity_history()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_event text;
    v_old jsonb;
    v_new jsonb := memory.entity_snapshot(NEW);
BEGIN
    IF coalesce(current_setting('memory.entity_event', true), '') <> '' THEN
        RETURN NULL;  -- merge_entities() / unmerge_entity() record the change themselves
    END IF;
    IF TG_OP = 'INSERT' THEN
        v_event := 'ADD';
    ELSE
        v_old := memory.entity_snapshot(OLD);
        IF (v_old - 'updated_at') = (v_new - 'updated_at') THEN
            RETURN NULL;  -- counters or updated_at alone
        END IF;
        v_event := CASE WHEN NOT OLD.is_deleted AND NEW.is_deleted THEN 'DELETE'
                        WHEN OLD.is_deleted AND NOT NEW.is_deleted THEN 'RESTORE'
                        ELSE 'UPDATE' END;
    END IF;
    INSERT INTO memory.entity_history (entity_id, user_id, event, old_row, new_row)
    VALUES (NEW.id, NEW.user_id, v_event, v_old, v_new);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.record_entity_history() IS
    'Trigger: writes entity_history rows for ADD, UPDATE, DELETE and RESTORE of an entity';

-- memory.entity_history_of(): an entity's history, oldest first, as its user sees it.
CREATE OR REPLACE FUNCTION memory.entity_history_of(entity_id uuid)
RETURNS SETOF memory.entity_history
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT h.* FROM memory.entity_history AS h WHERE h.entity_id = entity_history_of.entity_id ORDER BY h.id
$$;

COMMENT ON FUNCTION memory.entity_history_of(uuid) IS 'The history of one entity, oldest first';

REVOKE ALL ON FUNCTION memory.entity_snapshot(memory.entities), memory.record_entity_history(),
    memory.entity_history_of(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_snapshot(memory.entities), memory.entity_history_of(uuid)
    TO authenticated, service_role;

DROP TRIGGER IF EXISTS entities_30_history ON memory.entities;
CREATE TRIGGER entities_30_history
    AFTER INSERT OR UPDATE OF entity_type, person_type, name, aliases, attributes, contact, importance, embedding,
                              is_deleted, deleted_at, merged_into ON memory.entities
    FOR EACH ROW EXECUTE FUNCTION memory.record_entity_history();

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

-- sql/memory/link_entities.sql
-- Links between memories and the entities they are about (memory.memory_entities).
-- memory.link_entities(memory_id, entities): entities is a JSON array; each element is an entity
-- id ("9f1c...": followed through merges), a name ("Caroline": type other, role mention), or an
-- object {"id": ...} or {"name": ..., "type": ..., "aliases": [...], "role": ...}, resolved by
-- memory.upsert_entity(). Each link is added once (re-linking is a no-op); the whole call is
-- checked before anything is written, so a bad element adds no link and no entity.
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
-- (ordinal, id, name, type, aliases, role); 22023 naming the element for anything else.
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
        entity_type := coalesce(v_element ->> 'type', 'other');
        aliases := v_aliases;
        role := v_role;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.entity_references(jsonb, text) IS
    'The elements of an entities argument checked and normalised to (ordinal, id, name, type, aliases, role)';

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
            FROM memory.upsert_entity(v_user_id, v_reference.name, v_reference.entity_type, v_reference.aliases) AS u;
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
    memory.link_entities(uuid, jsonb), memory.unlink_entity(uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_references(jsonb, text), memory.link_entities(uuid, jsonb),
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
-- The signature changes (a new argument): the old one is dropped, not left as an overload.
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz);
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
    entities jsonb DEFAULT NULL)
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

    PERFORM memory.set_dedup_outcome(NULL, NULL);
    IF current_setting('transaction_isolation') = 'read committed' THEN
        PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                     add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                     add_memory.run_id, add_memory.memory_type, add_memory.expires_at);
    ELSE
        BEGIN
            PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                         add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                         add_memory.run_id, add_memory.memory_type, add_memory.expires_at);
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

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';

-- memory.insert_memory(): the one INSERT behind add_memory; NULL when deduplication cancelled it.
CREATE OR REPLACE FUNCTION memory.insert_memory(
    user_id text, memory text, embedding vector, metadata jsonb, categories text[], agent_id text,
    run_id text, memory_type text, expires_at timestamptz)
RETURNS uuid
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    INSERT INTO memory.memories AS m (user_id, memory, embedding, metadata, categories, agent_id, run_id,
                                      memory_type, expires_at)
    VALUES (insert_memory.user_id, insert_memory.memory, insert_memory.embedding,
            coalesce(insert_memory.metadata, '{}'), coalesce(insert_memory.categories, '{}'),
            insert_memory.agent_id, insert_memory.run_id, insert_memory.memory_type, insert_memory.expires_at)
    RETURNING m.id
$$;

COMMENT ON FUNCTION memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) IS
    'INSERT of one memory through the triggers; its id, or NULL when deduplication cancelled it';
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz)
    TO authenticated, service_role;

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

-- sql/memory/entity_neighbourhood.sql
-- memory.entity_neighbourhood(): the entities reachable from one entity through facts holding at
-- as_of (default now), up to depth hops (1 to 3), in both directions, each with its shortest
-- distance, the fact and relation that first reached it and the path. A recursive CTE whose
-- CYCLE clause stops a walk that comes back to an entity on its own path; retracted facts,
-- deleted and merged entities are not walked. It runs as the caller, so row-level security
-- applies at every hop: another user's entity is never reached (nor is an unknown id).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.entity_neighbourhood(
    entity_id uuid,
    depth integer DEFAULT 1,
    as_of timestamptz DEFAULT NULL,
    relations text[] DEFAULT NULL)
RETURNS TABLE (id uuid, name text, entity_type text, distance integer, relation text, direction text,
               fact_id uuid, path uuid[])
LANGUAGE plpgsql
STABLE
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
    WITH RECURSIVE walk (node, hops, relation, direction, fact_id, path) AS (
        SELECT e.id, 0, NULL::text, NULL::text, NULL::uuid, ARRAY[e.id]
        FROM memory.entities AS e
        WHERE e.id = v_start AND NOT e.is_deleted
        UNION ALL
        SELECT n.other, w.hops + 1, n.relation, n.direction, n.fact_id, w.path || n.other
        FROM walk AS w
        CROSS JOIN LATERAL (
            SELECT r.object_id AS other, r.relation, 'out'::text AS direction, r.id AS fact_id
            FROM memory.entity_relations AS r
            WHERE r.subject_id = w.node AND r.object_id IS NOT NULL AND r.expired_at IS NULL
              AND r.valid @> v_as_of
              AND (entity_neighbourhood.relations IS NULL OR r.relation = ANY (entity_neighbourhood.relations))
            UNION ALL
            SELECT r.subject_id, r.relation, 'in'::text, r.id
            FROM memory.entity_relations AS r
            WHERE r.object_id = w.node AND r.expired_at IS NULL AND r.valid @> v_as_of
              AND (entity_neighbourhood.relations IS NULL OR r.relation = ANY (entity_neighbourhood.relations))
        ) AS n
        WHERE w.hops < entity_neighbourhood.depth
          -- a walk goes on through live entities only; the last hop's are checked once, below
          AND (w.hops = 0 OR EXISTS (SELECT FROM memory.entities AS e
                                     WHERE e.id = w.node AND NOT e.is_deleted AND e.merged_into IS NULL))
    ) CYCLE node SET is_cycle USING cycle_path
    SELECT DISTINCT ON (w.node) w.node, e.name, e.entity_type, w.hops, w.relation, w.direction,
           w.fact_id, w.path
    FROM walk AS w
    JOIN memory.entities AS e ON e.id = w.node AND NOT e.is_deleted AND e.merged_into IS NULL
    WHERE NOT w.is_cycle AND w.hops > 0 AND w.node <> v_start
    ORDER BY w.node, w.hops, w.relation, w.fact_id;
END
$$;

COMMENT ON FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) IS
    'Entities reachable through current facts (or as of a time) within depth 1-3, with distance, relation and path';

REVOKE ALL ON FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) TO authenticated, service_role;

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
-- asserting follow merged_into.
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
    -- both rows locked, in id order so that two opposite merges cannot deadlock
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

-- sql/memory/search_entities.sql
-- Entity-aware search without an LLM.
-- memory.extract_entity_names(text): the names a text mentions, as capitalised spans
-- ("Caroline", "New York City", "LGBTQ"): runs of words that start with an upper-case letter.
-- A single word that opens a sentence is left out (it is capitalised by grammar, not by name:
-- "Hey", "Thanks"), and so are spans that are stop words of the text-search configuration.
-- The caller links what it wants (add_memory's entities); the speakers of a conversation are
-- known to the caller and are linked as such.
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
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce(array_agg(DISTINCT s.span ORDER BY s.span), '{}')
    FROM (SELECT m[1] AS opening, m[2] AS span
          FROM regexp_matches(extract_entity_names.content,
                              '(^|[.!?]\s+|[^.!?\s]\s*)(\m[[:upper:]][[:alnum:]''’&-]*(?:\s+[[:upper:]][[:alnum:]''’&-]*)*)',
                              'g') AS m) AS s
    WHERE NOT (s.span !~ '\s' AND (s.opening = '' OR s.opening ~ '^[.!?]'))
      AND to_tsvector(memory.text_search_config(), s.span)::text <> ''
      AND memory.normalize_entity_name(s.span) <> ''
$$;

COMMENT ON FUNCTION memory.extract_entity_names(text) IS
    'Capitalised spans of a text (candidate entity names), without sentence openers and stop words';

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

-- sql/memory/hybrid_search_memories.sql
-- memory.hybrid_search_memories(): the vector ranking of memory.vector_candidates() (what
-- search_memories returns) and the any-term full-text ranking of memory.full_text_candidates(),
-- fused in one statement; the arguments and the scope are checked once, here.
-- Each side contributes its best candidate_depth memories (default 20, at least match_count).
-- fusion 'rrf' (reciprocal rank fusion): weight / (rrf_k + rank) per side, summed; a memory found
-- by one side only gets that side's share. fusion 'weighted': each side's scores are min-max
-- normalised over its candidates (the best is 1, the last 0; a lone candidate 1), then averaged
-- with the two weights. The formulas are defined once, in fusion.sql (agent.unified_search
-- fuses the same way). The defaults (rrf, rrf_k 10, equal weights, depth 20) are the best of
-- the measured grid on the development conversations (docs/memory.md, "Retrieval quality").
-- Both ranks and the fused score are returned, with the cosine similarity of every row.
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked
-- (PGRST, HTTP 429, when empty); its vector side is not charged again as a search.
-- entity_weight (from 0012; default 0, off) boosts the candidates linked to entities the query
-- names (memory.query_entities: exact names or aliases among its word n-grams, at most 8, the
-- most selective first). A candidate's boost is the sum, over those entities, of
-- memory.entity_boost_weight(links) (Mem0's damping: an entity on every memory adds nothing);
-- 'rrf' adds entity_weight x boost / (rrf_k + 1), what a first rank in a third ranking would add,
-- 'weighted' averages entity_weight x min(boost, 1) with the two sides. entity_boost returns it.
-- Each side returns the columns of its rows itself, so the fusion joins the two candidate lists
-- only, never the whole table. Its plan does not depend on the values: a generic one
-- (plan_cache_mode), not planned anew on every call.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
-- The signature changes (a new argument): the old one is dropped, not left as an overload.
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer);
CREATE OR REPLACE FUNCTION memory.hybrid_search_memories(
    query_text text,
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 10,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    full_text_weight double precision DEFAULT 1,
    semantic_weight double precision DEFAULT 1,
    rrf_k integer DEFAULT 10,
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    filters jsonb DEFAULT NULL,
    created_within tstzrange DEFAULT NULL,
    updated_within tstzrange DEFAULT NULL,
    fusion text DEFAULT 'rrf',
    candidate_depth integer DEFAULT 20,
    entity_weight double precision DEFAULT 0)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz, entity_boost double precision)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_depth integer;
    v_scope memory.search_scope;
    v_entities uuid[] := '{}';
    v_entity_weights double precision[] := '{}';
BEGIN
    PERFORM memory.check_query_text(hybrid_search_memories.query_text);
    PERFORM memory.check_embedding(hybrid_search_memories.query_embedding, 'query_embedding');
    PERFORM memory.check_label(hybrid_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
    PERFORM memory.check_count(hybrid_search_memories.candidate_depth, 'candidate_depth');
    PERFORM memory.check_filters(hybrid_search_memories.metadata_filter, hybrid_search_memories.category_filter);
    PERFORM memory.check_fusion(hybrid_search_memories.fusion, hybrid_search_memories.full_text_weight,
                                hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k);
    IF hybrid_search_memories.entity_weight IS NULL OR NOT hybrid_search_memories.entity_weight BETWEEN 0 AND 1000000 THEN
        RAISE EXCEPTION 'entity_weight must be between 0 and 1000000, got %',
            coalesce(hybrid_search_memories.entity_weight::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    v_scope := memory.search_scope(hybrid_search_memories.agent_id, hybrid_search_memories.run_id,
                                   hybrid_search_memories.filters, hybrid_search_memories.created_within,
                                   hybrid_search_memories.updated_within);
    PERFORM memory.take_token('hybrid_search', hybrid_search_memories.query_user_id);  -- rate limit: rate_limits.sql
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_depth := greatest(hybrid_search_memories.candidate_depth, hybrid_search_memories.match_count);
    IF hybrid_search_memories.entity_weight > 0 THEN
        SELECT coalesce(array_agg(q.entity_id), '{}'), coalesce(array_agg(memory.entity_boost_weight(q.links)), '{}')
        INTO v_entities, v_entity_weights
        FROM memory.query_entities(hybrid_search_memories.query_text, hybrid_search_memories.query_user_id) AS q;
    END IF;

    RETURN QUERY
    WITH semantic AS (
        SELECT s.id, s.memory, s.metadata, s.categories, s.similarity, s.created_at, s.updated_at,
               row_number() OVER (ORDER BY s.similarity DESC, s.id) AS rank,
               s.similarity AS raw_score
        FROM memory.vector_candidates(hybrid_search_memories.query_embedding, hybrid_search_memories.query_user_id,
                                      v_depth, hybrid_search_memories.metadata_filter, v_categories, 0,
                                      v_scope) AS s
    ), full_text AS (
        SELECT f.id, f.memory, f.metadata, f.categories, f.similarity, f.created_at, f.updated_at,
               row_number() OVER (ORDER BY f.text_score DESC, f.updated_at DESC, f.id) AS rank,
               f.text_score AS raw_score
        FROM memory.full_text_candidates(hybrid_search_memories.query_text, hybrid_search_memories.query_embedding,
                                         hybrid_search_memories.query_user_id, v_depth,
                                         hybrid_search_memories.metadata_filter, v_categories, v_scope) AS f
    ), boosted AS (
        SELECT me.memory_id AS id, sum(q.weight) AS boost
        FROM unnest(v_entities, v_entity_weights) AS q(entity_id, weight)
        JOIN memory.memory_entities AS me ON me.entity_id = q.entity_id
        WHERE me.memory_id IN (SELECT c.id FROM semantic AS c UNION SELECT c.id FROM full_text AS c)
        GROUP BY me.memory_id
    ), normalised AS (
        SELECT se.*, memory.normalised_score(se.raw_score, min(se.raw_score) OVER (), max(se.raw_score) OVER ()) AS norm
        FROM semantic AS se
    ), normalised_text AS (
        SELECT ft.*, memory.normalised_score(ft.raw_score, min(ft.raw_score) OVER (), max(ft.raw_score) OVER ()) AS norm
        FROM full_text AS ft
    )
    SELECT coalesce(se.id, ft.id), coalesce(se.memory, ft.memory), coalesce(se.metadata, ft.metadata),
           coalesce(se.categories, ft.categories), coalesce(se.similarity, ft.similarity),
           ft.rank, se.rank,
           CASE hybrid_search_memories.fusion
               WHEN 'rrf' THEN
                   memory.fused_score('rrf', hybrid_search_memories.full_text_weight,
                                      hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k,
                                      ft.rank, se.rank, ft.norm, se.norm)
                   + hybrid_search_memories.entity_weight * coalesce(b.boost, 0) / (hybrid_search_memories.rrf_k + 1)
               ELSE (memory.fused_score('weighted', hybrid_search_memories.full_text_weight,
                                        hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k,
                                        ft.rank, se.rank, ft.norm, se.norm)
                     * (hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight)
                     + hybrid_search_memories.entity_weight * least(coalesce(b.boost, 0), 1))
                    / (hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight
                       + hybrid_search_memories.entity_weight)
           END AS fused,
           coalesce(se.created_at, ft.created_at), coalesce(se.updated_at, ft.updated_at), coalesce(b.boost, 0)
    FROM normalised AS se
    FULL JOIN normalised_text AS ft ON ft.id = se.id
    LEFT JOIN boosted AS b ON b.id = coalesce(se.id, ft.id)
    ORDER BY fused DESC, coalesce(se.id, ft.id)
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank or weighted scores, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision)
    TO authenticated, service_role;

-- sql/memory/policies.sql
-- Row-level security of the memory tables: each user sees and changes only their own rows, through
-- every path (table, function, trigger). The identity is (select app.current_user_id()), which
-- runs once per query; NULL (no identity) matches no row. service_role bypasses RLS; anon has no
-- access. History is written by the history trigger as the acting user and is never changed.
ALTER TABLE memory.memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_history FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.session_memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.session_memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.settings FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users see their own memories" ON memory.memories;
CREATE POLICY "Users see their own memories" ON memory.memories
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users add their own memories" ON memory.memories;
CREATE POLICY "Users add their own memories" ON memory.memories
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users change their own memories" ON memory.memories;
CREATE POLICY "Users change their own memories" ON memory.memories
    FOR UPDATE TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users erase their own memories" ON memory.memories;
CREATE POLICY "Users erase their own memories" ON memory.memories
    FOR DELETE TO authenticated USING (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users see the history of their own memories" ON memory.memory_history;
CREATE POLICY "Users see the history of their own memories" ON memory.memory_history
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Changes to a user's memories are recorded as theirs" ON memory.memory_history;
CREATE POLICY "Changes to a user's memories are recorded as theirs" ON memory.memory_history
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users keep their own session memories" ON memory.session_memories;
CREATE POLICY "Users keep their own session memories" ON memory.session_memories
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Everyone with access may read the memory settings" ON memory.settings;
CREATE POLICY "Everyone with access may read the memory settings" ON memory.settings
    FOR SELECT TO authenticated, service_role USING (true);

-- Quotas: the plans, their limits and the switch are readable by everyone with access (a client
-- may show its limits); a user's plan, buckets and totals by that user (service_role bypasses).
ALTER TABLE memory.quota_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_plans FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_limits FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.user_quota_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.user_quota_plans FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_buckets FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_usage FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Everyone with access may read the quota plans" ON memory.quota_plans;
CREATE POLICY "Everyone with access may read the quota plans" ON memory.quota_plans
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the rate limits" ON memory.rate_limits;
CREATE POLICY "Everyone with access may read the rate limits" ON memory.rate_limits
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the quota settings" ON memory.quota_settings;
CREATE POLICY "Everyone with access may read the quota settings" ON memory.quota_settings
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Users see their own quota plan" ON memory.user_quota_plans;
CREATE POLICY "Users see their own quota plan" ON memory.user_quota_plans
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see their own rate buckets" ON memory.rate_buckets;
CREATE POLICY "Users see their own rate buckets" ON memory.rate_buckets
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see their own quota usage" ON memory.quota_usage;
CREATE POLICY "Users see their own quota usage" ON memory.quota_usage
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));

-- Entities (0012): the kinds and the resolution settings are readable by everyone with access
-- and changed by service_role; entities, their history, links, facts and interactions belong
-- to one user each, as memories do.
ALTER TABLE memory.entity_types ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_types FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.relation_kinds ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.relation_kinds FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_resolution_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_resolution_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entities FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_history FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_entities FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_relations ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_relations FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.interactions FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.interaction_memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.interaction_memories FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Everyone with access may read the entity types" ON memory.entity_types;
CREATE POLICY "Everyone with access may read the entity types" ON memory.entity_types
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the relation kinds" ON memory.relation_kinds;
CREATE POLICY "Everyone with access may read the relation kinds" ON memory.relation_kinds
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the entity resolution settings" ON memory.entity_resolution_settings;
CREATE POLICY "Everyone with access may read the entity resolution settings" ON memory.entity_resolution_settings
    FOR SELECT TO authenticated, service_role USING (true);

DROP POLICY IF EXISTS "Users keep their own entities" ON memory.entities;
CREATE POLICY "Users keep their own entities" ON memory.entities
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see the history of their own entities" ON memory.entity_history;
CREATE POLICY "Users see the history of their own entities" ON memory.entity_history
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Changes to a user's entities are recorded as theirs" ON memory.entity_history;
CREATE POLICY "Changes to a user's entities are recorded as theirs" ON memory.entity_history
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the entity links of their own memories" ON memory.memory_entities;
CREATE POLICY "Users keep the entity links of their own memories" ON memory.memory_entities
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the facts about their own entities" ON memory.entity_relations;
CREATE POLICY "Users keep the facts about their own entities" ON memory.entity_relations
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep their own interactions" ON memory.interactions;
CREATE POLICY "Users keep their own interactions" ON memory.interactions
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the memories of their own interactions" ON memory.interaction_memories;
CREATE POLICY "Users keep the memories of their own interactions" ON memory.interaction_memories
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

-- sql/memory/grants.sql
-- Table privileges of the memory schema. authenticated works through row-level security;
-- service_role (BYPASSRLS) runs jobs; anon gets nothing. History is append-only for everyone,
-- and settings change only by service_role.
REVOKE ALL ON memory.memories, memory.memory_history, memory.session_memories, memory.settings FROM PUBLIC, anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.memories, memory.session_memories TO authenticated, service_role;
GRANT SELECT, INSERT ON memory.memory_history TO authenticated, service_role;
GRANT DELETE ON memory.memory_history TO service_role;
GRANT SELECT ON memory.settings TO authenticated, service_role;
GRANT UPDATE ON memory.settings TO service_role;
GRANT USAGE ON SEQUENCE memory.memory_history_id_seq TO authenticated, service_role;
-- Quotas and rate limits (quota_usage.sql, rate_limits.sql): plans, limits, assignments and the
-- switch change by service_role only; buckets and totals are written by the quota functions as
-- their owner, and authenticated reads its own rows (memory.quota_status()). service_role may
-- reset a bucket or a total by hand, and reads the refusal counters (ops.quota_refusals).
REVOKE ALL ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans, memory.quota_settings,
    memory.rate_buckets, memory.quota_usage FROM PUBLIC, anon;
GRANT SELECT ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans, memory.quota_settings,
    memory.rate_buckets, memory.quota_usage TO authenticated, service_role;
GRANT INSERT, UPDATE, DELETE ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans,
    memory.rate_buckets, memory.quota_usage TO service_role;
GRANT UPDATE ON memory.quota_settings TO service_role;
GRANT SELECT ON SEQUENCE memory.quota_refusals_rate_add, memory.quota_refusals_rate_update,
    memory.quota_refusals_rate_delete, memory.quota_refusals_rate_search, memory.quota_refusals_rate_hybrid_search,
    memory.quota_refusals_cap_add, memory.quota_refusals_cap_update TO service_role;
-- Entities (0012): the kinds and resolution settings change by service_role only; history is
-- append-only, as memory_history is.
REVOKE ALL ON memory.entity_types, memory.relation_kinds, memory.entity_resolution_settings, memory.entities,
    memory.entity_history, memory.memory_entities, memory.entity_relations, memory.interactions,
    memory.interaction_memories, memory.current_facts FROM PUBLIC, anon;
GRANT SELECT ON memory.entity_types, memory.relation_kinds, memory.entity_resolution_settings
    TO authenticated, service_role;
GRANT INSERT, UPDATE, DELETE ON memory.entity_types, memory.relation_kinds TO service_role;
GRANT UPDATE ON memory.entity_resolution_settings TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.entities, memory.memory_entities, memory.entity_relations,
    memory.interactions, memory.interaction_memories TO authenticated, service_role;
GRANT SELECT, INSERT ON memory.entity_history TO authenticated, service_role;
GRANT DELETE ON memory.entity_history TO service_role;
GRANT SELECT ON memory.current_facts TO authenticated, service_role;
