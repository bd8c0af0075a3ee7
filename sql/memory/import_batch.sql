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
                        access_count, last_accessed_at, decayed_at)
                    SELECT coalesce(c.id, gen_random_uuid()), v_row.user_id, v_row.agent_id, v_row.run_id, v_row.memory,
                           v_embedding, coalesce(v_row.metadata, '{}'), coalesce(v_row.categories, '{}'),
                           v_row.memory_type, v_row.source, coalesce(v_row.relevance_score, 1),
                           v_row.expires_at::timestamptz, coalesce(v_row.created_at::timestamptz, now()),
                           coalesce(v_row.updated_at::timestamptz, v_row.created_at::timestamptz, now()),
                           coalesce((v_row.restore ->> 'version')::integer, 1),
                           coalesce((v_row.restore ->> 'is_deleted')::boolean, false),
                           (v_row.restore ->> 'deleted_at')::timestamptz,
                           coalesce((v_row.restore ->> 'access_count')::integer, 0),
                           coalesce((v_row.restore ->> 'last_accessed_at')::timestamptz, now()),
                           (v_row.restore ->> 'decayed_at')::timestamptz
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
