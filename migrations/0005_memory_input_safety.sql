-- 0005_memory_input_safety: defects found by a fuzz and load run of the memory API (issue 9).
-- * An embedding whose cosine similarity is NaN (1536 components of 1e38, 1e-23 or 1e-45: a finite
--   norm in double precision, an overflowing or underflowing one in pgvector's single precision)
--   passed the non-zero check, and since NaN >= 0.98 is true in PostgreSQL, deduplication
--   overwrote whichever memory came out "nearest". Such vectors are refused (22023) at every entry
--   point and in the row trigger; every similarity threshold is NaN-proof (memory.meets_threshold).
-- * Every argument is checked before deduplication decides NOOP / UPDATE / MERGE (a duplicate
--   cancels the INSERT, so CHECK constraints never saw it); empty agent_id / run_id are refused.
-- * Bounds on metadata (bytes, depth), categories (count, length) and every text, in new columns
--   of memory.settings, also on the merged result of a deduplication: 22001, never 54000.
-- * Hybrid search joins its two candidate lists only, not memory.memories (a sequential scan).
-- * Under REPEATABLE READ / SERIALIZABLE a NOOP no longer fails with 40001 for its access
--   bookkeeping, and a racing first add gets 40001 (retry) instead of 23505.
-- Every function below is also in sql/memory/, with the same text.

ALTER TABLE memory.settings
    ADD COLUMN max_memory_chars integer NOT NULL DEFAULT 10000
        CONSTRAINT max_memory_chars_range CHECK (max_memory_chars BETWEEN 1 AND 10000),
    ADD COLUMN max_id_chars integer NOT NULL DEFAULT 255
        CONSTRAINT max_id_chars_range CHECK (max_id_chars BETWEEN 1 AND 255),
    ADD COLUMN max_memory_type_chars integer NOT NULL DEFAULT 64
        CONSTRAINT max_memory_type_chars_range CHECK (max_memory_type_chars BETWEEN 1 AND 64),
    ADD COLUMN max_source_chars integer NOT NULL DEFAULT 255
        CONSTRAINT max_source_chars_range CHECK (max_source_chars BETWEEN 1 AND 255),
    ADD COLUMN max_metadata_bytes integer NOT NULL DEFAULT 65536
        CONSTRAINT max_metadata_bytes_range CHECK (max_metadata_bytes BETWEEN 2 AND 1048576),
    ADD COLUMN max_metadata_depth integer NOT NULL DEFAULT 20
        CONSTRAINT max_metadata_depth_range CHECK (max_metadata_depth BETWEEN 1 AND 100),
    ADD COLUMN max_categories integer NOT NULL DEFAULT 100
        CONSTRAINT max_categories_range CHECK (max_categories BETWEEN 0 AND 100),
    ADD COLUMN max_category_chars integer NOT NULL DEFAULT 100
        CONSTRAINT max_category_chars_range CHECK (max_category_chars BETWEEN 1 AND 500),
    ADD COLUMN max_query_chars integer NOT NULL DEFAULT 10000
        CONSTRAINT max_query_chars_range CHECK (max_query_chars BETWEEN 1 AND 10000);
COMMENT ON COLUMN memory.settings.max_memory_chars IS 'Longest memory text, in characters (22001 above; at most 10,000, the table''s own limit)';
COMMENT ON COLUMN memory.settings.max_id_chars IS 'Longest user_id, agent_id and run_id, in characters (22001 above; at most 255)';
COMMENT ON COLUMN memory.settings.max_memory_type_chars IS 'Longest memory_type, in characters (22001 above; at most 64)';
COMMENT ON COLUMN memory.settings.max_source_chars IS 'Longest source, in characters (22001 above; at most 255)';
COMMENT ON COLUMN memory.settings.max_metadata_bytes IS 'Largest metadata (and metadata_filter), in bytes of JSON text, also after a deduplication merge (22001 above)';
COMMENT ON COLUMN memory.settings.max_metadata_depth IS 'Deepest nesting of metadata ({"a": 1} is 1 level), also after a merge (22001 above)';
COMMENT ON COLUMN memory.settings.max_categories IS 'Most categories per memory (and in category_filter), also after a merge (22001 above; at most 100)';
COMMENT ON COLUMN memory.settings.max_category_chars IS 'Longest category, in characters (22001 above; at most 500: a GIN index entry holds about 2,700 bytes)';
COMMENT ON COLUMN memory.settings.max_query_chars IS 'Longest query_text of hybrid search, in characters (22001 above)';

-- sql/memory/check_arguments.sql
-- Argument checks shared by the memory functions and the row trigger, so that bad input always
-- gets the same clear error, whichever entry point it comes through, and the message names the
-- parameter (or column). The SQLSTATEs, as docs/errors in the README list them:
--   22004  a required value is NULL
--   22023  a value that is not allowed: empty or blank, wrong dimension, unusable embedding,
--          not a JSON object, out of range
--   22001  a value over its size bound (length, bytes, depth, count); the bounds are columns of
--          memory.settings, so an operator can change them
-- NaN-proof comparisons: PostgreSQL sorts NaN above every number, so `NaN >= 0.98` is true. Every
-- similarity compared with a threshold goes through memory.meets_threshold().

-- memory.embedding_is_usable(): whether cosine similarity with this vector is defined. pgvector
-- computes cosine in single precision: 1536 components of 1e38 (or 1e-23, or 1e-45) give a
-- finite, non-zero norm in double precision, yet the squared norm overflows (or underflows) a
-- float4 and every cosine distance with the vector is NaN. So: the norm must be a normal, finite,
-- positive float4 and the cosine of the vector with itself must be 1 (within 1e-6).
CREATE OR REPLACE FUNCTION memory.embedding_is_usable(embedding vector)
RETURNS boolean
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT vector_norm(embedding_is_usable.embedding) BETWEEN 1.17549435e-38 AND 3.40282347e38
       AND abs(embedding_is_usable.embedding <=> embedding_is_usable.embedding) <= 1e-6
$$;

COMMENT ON FUNCTION memory.embedding_is_usable(vector) IS
    'Whether cosine similarity with the vector is defined (normal finite norm, self-cosine 1)';

-- memory.meets_threshold(): the one definition of "this similarity is at least that threshold".
-- NaN never counts as a match, NULL neither.
CREATE OR REPLACE FUNCTION memory.meets_threshold(similarity double precision, threshold double precision)
RETURNS boolean
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(meets_threshold.similarity >= meets_threshold.threshold
                    AND meets_threshold.similarity <> 'NaN'::double precision, false)
$$;

COMMENT ON FUNCTION memory.meets_threshold(double precision, double precision) IS
    'similarity >= threshold, false for NaN and NULL';

CREATE OR REPLACE FUNCTION memory.check_embedding(embedding vector, parameter text)
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_expected integer := memory.embedding_dim();
BEGIN
    IF check_embedding.embedding IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', parameter USING ERRCODE = '22004';
    END IF;
    IF vector_dims(check_embedding.embedding) <> v_expected THEN
        RAISE EXCEPTION '% has % dimensions; this database stores %-dimensional embeddings',
            parameter, vector_dims(check_embedding.embedding), v_expected
            USING ERRCODE = '22023';
    END IF;
    IF NOT memory.embedding_is_usable(check_embedding.embedding) THEN
        RAISE EXCEPTION '% is not usable for cosine similarity (norm %, self-similarity %)', parameter,
            vector_norm(check_embedding.embedding), 1 - (check_embedding.embedding <=> check_embedding.embedding)
            USING ERRCODE = '22023',
                  HINT = 'give a non-zero vector whose components are neither huge nor tiny, for example normalised to length 1';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_embedding(vector, text) IS
    'Raises 22004 for a NULL embedding, 22023 for a wrong dimension or one unusable for cosine similarity';

-- memory.check_label(): an identifier or short text (user_id, agent_id, run_id, memory_type,
-- source, the memory text itself): NULL only where optional, never empty or blank, at most
-- max_chars characters.
CREATE OR REPLACE FUNCTION memory.check_label(value text, parameter text, max_chars integer,
                                              required boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF check_label.value IS NULL THEN
        IF check_label.required THEN
            RAISE EXCEPTION '% must not be NULL', check_label.parameter USING ERRCODE = '22004';
        END IF;
        RETURN;
    END IF;
    IF length(check_label.value) > check_label.max_chars THEN
        RAISE EXCEPTION '% is % characters long; at most % are allowed', check_label.parameter,
            length(check_label.value), check_label.max_chars USING ERRCODE = '22001';
    END IF;
    IF check_label.value !~ '[^[:space:]]' THEN
        RAISE EXCEPTION '% must not be empty or blank (use NULL for none)', check_label.parameter
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_label(text, text, integer, boolean) IS
    'Raises 22004 for a required NULL, 22001 over max_chars, 22023 for an empty or blank value';

-- memory.check_metadata(): a JSON object nested at most max_depth levels deep ({"a": 1} is one
-- level) and at most max_bytes bytes as JSON text. Depth is checked first: the jsonpath walk stops
-- at max_depth + 1, however deep the value goes.
CREATE OR REPLACE FUNCTION memory.check_metadata(value jsonb, parameter text, max_bytes integer, max_depth integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    v_bytes integer;
BEGIN
    IF check_metadata.value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL (use ''{}'' for none)', check_metadata.parameter USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(check_metadata.value) <> 'object' THEN
        RAISE EXCEPTION '% must be a JSON object, got %', check_metadata.parameter, jsonb_typeof(check_metadata.value)
            USING ERRCODE = '22023';
    END IF;
    IF check_metadata.value = '{}'::jsonb THEN
        RETURN;
    END IF;
    IF jsonb_path_exists(check_metadata.value, format('strict $.**{%s}', check_metadata.max_depth + 1)::jsonpath) THEN
        RAISE EXCEPTION '% is nested more than % levels deep', check_metadata.parameter, check_metadata.max_depth
            USING ERRCODE = '22001';
    END IF;
    v_bytes := octet_length(check_metadata.value::text);
    IF v_bytes > check_metadata.max_bytes THEN
        RAISE EXCEPTION '% is % bytes of JSON; at most % are allowed', check_metadata.parameter, v_bytes,
            check_metadata.max_bytes USING ERRCODE = '22001';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_metadata(jsonb, text, integer, integer) IS
    'Raises 22004 for NULL, 22023 unless a JSON object, 22001 when deeper than max_depth or larger than max_bytes';

-- memory.check_categories(): normalised categories (see normalize.sql), at most max_count of them,
-- each at most max_chars characters (a GIN index entry holds about 2,700 bytes).
CREATE OR REPLACE FUNCTION memory.check_categories(categories text[], parameter text, max_count integer,
                                                   max_chars integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    v_long text;
BEGIN
    IF check_categories.categories IS NULL THEN
        RAISE EXCEPTION '% must not be NULL (use ''{}'' for none)', check_categories.parameter USING ERRCODE = '22004';
    END IF;
    IF cardinality(check_categories.categories) > check_categories.max_count THEN
        RAISE EXCEPTION '% holds % categories; at most % are allowed', check_categories.parameter,
            cardinality(check_categories.categories), check_categories.max_count USING ERRCODE = '22001';
    END IF;
    SELECT c INTO v_long FROM unnest(check_categories.categories) AS c
    WHERE length(c) > check_categories.max_chars LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% holds a category of % characters (%...); at most % are allowed', check_categories.parameter,
            length(v_long), left(v_long, 20), check_categories.max_chars USING ERRCODE = '22001';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_categories(text[], text, integer, integer) IS
    'Raises 22004 for NULL, 22001 for more than max_count categories or one longer than max_chars';

-- memory.check_filters(): the filters of search and hybrid search, bounded like the values they
-- filter on.
CREATE OR REPLACE FUNCTION memory.check_filters(metadata_filter jsonb, category_filter text[])
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_settings memory.settings;
BEGIN
    IF check_filters.metadata_filter IS NULL THEN
        RAISE EXCEPTION 'metadata_filter must be a JSON object, got NULL (use ''{}'' for no filter)' USING ERRCODE = '22023';
    END IF;
    IF check_filters.metadata_filter = '{}'::jsonb AND cardinality(check_filters.category_filter) = 0 THEN
        RETURN;  -- no filters: the common case of every search, without a read of the settings
    END IF;
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_metadata(check_filters.metadata_filter, 'metadata_filter',
                                  v_settings.max_metadata_bytes, v_settings.max_metadata_depth);
    IF check_filters.category_filter IS NULL THEN
        RAISE EXCEPTION 'category_filter must not be NULL (use ''{}'' for no filter)' USING ERRCODE = '22004';
    END IF;
    PERFORM memory.check_categories(memory.normalize_categories(check_filters.category_filter), 'category_filter',
                                    v_settings.max_categories, v_settings.max_category_chars);
END
$$;

COMMENT ON FUNCTION memory.check_filters(jsonb, text[]) IS
    'Raises 22023 unless metadata_filter is a JSON object, 22004 for a NULL category_filter, 22001 over the bounds';

CREATE OR REPLACE FUNCTION memory.check_count(value integer, parameter text, maximum integer DEFAULT 1000)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF value IS NULL OR value < 1 OR value > maximum THEN
        RAISE EXCEPTION '% must be between 1 and %, got %', parameter, maximum, coalesce(value::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_count(integer, text, integer) IS
    'Raises 22023 unless 1 <= value <= maximum';

REVOKE ALL ON FUNCTION memory.embedding_is_usable(vector), memory.meets_threshold(double precision, double precision),
    memory.check_embedding(vector, text), memory.check_label(text, text, integer, boolean),
    memory.check_metadata(jsonb, text, integer, integer), memory.check_categories(text[], text, integer, integer),
    memory.check_filters(jsonb, text[]), memory.check_count(integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.embedding_is_usable(vector), memory.meets_threshold(double precision, double precision),
    memory.check_embedding(vector, text), memory.check_label(text, text, integer, boolean),
    memory.check_metadata(jsonb, text, integer, integer), memory.check_categories(text[], text, integer, integer),
    memory.check_filters(jsonb, text[]), memory.check_count(integer, text, integer) TO authenticated, service_role;

-- sql/memory/normalize_memory.sql
-- Trigger memories_10_normalize (BEFORE INSERT OR UPDATE; runs first, names are ordered on purpose):
-- categories are normalised, then the row is checked against every rule and bound of
-- memory.settings (check_arguments.sql) before deduplication decides anything: a duplicate
-- (NOOP, UPDATE, MERGE) cancels the INSERT, so the table's CHECK constraints never see it, and an
-- add with an empty agent_id or a 1 MB run_id used to succeed whenever its text matched. This runs
-- before the generated columns are computed, so text too long for a tsvector gets 22001 here, not
-- 54000 there. On UPDATE only the changed columns are checked (touch and decay change none of
-- them). The table's CHECK constraints stay as the ceiling of each setting. Column names are the
-- parameter names of memory.add_memory(), so errors name the argument.
-- Then: a change of text or embedding bumps version unless the writer already did; updated_at
-- follows content changes.
CREATE OR REPLACE FUNCTION memory.normalize_memory()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_settings memory.settings;
    v_insert boolean := TG_OP = 'INSERT';
BEGIN
    NEW.categories := memory.normalize_categories(coalesce(NEW.categories, '{}'));
    SELECT * INTO v_settings FROM memory.settings;
    IF v_insert OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM memory.check_label(NEW.user_id, 'user_id', v_settings.max_id_chars, true);
    END IF;
    IF v_insert OR NEW.agent_id IS DISTINCT FROM OLD.agent_id THEN
        PERFORM memory.check_label(NEW.agent_id, 'agent_id', v_settings.max_id_chars);
    END IF;
    IF v_insert OR NEW.run_id IS DISTINCT FROM OLD.run_id THEN
        PERFORM memory.check_label(NEW.run_id, 'run_id', v_settings.max_id_chars);
    END IF;
    IF v_insert OR NEW.memory_type IS DISTINCT FROM OLD.memory_type THEN
        PERFORM memory.check_label(NEW.memory_type, 'memory_type', v_settings.max_memory_type_chars);
    END IF;
    IF v_insert OR NEW.source IS DISTINCT FROM OLD.source THEN
        PERFORM memory.check_label(NEW.source, 'source', v_settings.max_source_chars);
    END IF;
    IF v_insert OR NEW.memory IS DISTINCT FROM OLD.memory THEN
        PERFORM memory.check_label(NEW.memory, 'memory', v_settings.max_memory_chars, true);
    END IF;
    IF v_insert OR NEW.embedding IS DISTINCT FROM OLD.embedding THEN
        PERFORM memory.check_embedding(NEW.embedding, 'embedding');
    END IF;
    IF v_insert OR NEW.metadata IS DISTINCT FROM OLD.metadata THEN
        PERFORM memory.check_metadata(NEW.metadata, 'metadata', v_settings.max_metadata_bytes,
                                      v_settings.max_metadata_depth);
    END IF;
    IF v_insert OR NEW.categories IS DISTINCT FROM OLD.categories THEN
        PERFORM memory.check_categories(NEW.categories, 'categories', v_settings.max_categories,
                                        v_settings.max_category_chars);
    END IF;
    IF NOT v_insert THEN
        IF (NEW.memory IS DISTINCT FROM OLD.memory OR NEW.embedding IS DISTINCT FROM OLD.embedding)
           AND NEW.version = OLD.version THEN
            NEW.version := OLD.version + 1;
        END IF;
        IF (NEW.memory, NEW.metadata, NEW.categories, NEW.version, NEW.is_deleted, NEW.expires_at)
           IS DISTINCT FROM (OLD.memory, OLD.metadata, OLD.categories, OLD.version, OLD.is_deleted, OLD.expires_at)
        THEN
            NEW.updated_at := now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.normalize_memory() IS
    'Trigger: normalises categories, checks every rule and bound of memory.settings, bumps version on content change';
REVOKE ALL ON FUNCTION memory.normalize_memory() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_10_normalize ON memory.memories;
CREATE TRIGGER memories_10_normalize
    BEFORE INSERT OR UPDATE ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.normalize_memory();

-- sql/memory/deduplicate_memories.sql
-- Trigger memories_20_deduplicate (BEFORE INSERT): a plain INSERT from psql is deduplicated too.
-- Within one user and agent (NULL agent is its own scope), in this order:
--   same normalised text     -> NOOP: metadata merged (new keys win), categories unioned, and the
--                               existing memory's relevance and last access refreshed;
--   cosine >= replace (0.98) -> UPDATE: the existing memory takes the new text and embedding;
--   cosine >= merge (0.95)   -> MERGE: it keeps its text; categories and metadata are merged;
--   otherwise                -> ADD: the new row is inserted.
-- The row was checked by memories_10_normalize first, and a merged result is checked against the
-- same bounds before it is written. Similarities compare through memory.meets_threshold (NaN never
-- matches), and a memory stored before 0005 with an unusable embedding is never matched: its
-- similarity with anything is NaN or, once pgvector clamps an infinite ratio, exactly 1. NOOP, UPDATE and MERGE cancel the insert (INSERT 0 0) and leave '<id> <event>' in the
-- transaction-local setting memory.dedup_result, which memory.add_memory() returns.
-- Concurrency: a transaction-level advisory lock per (user, agent) serialises writers of one scope;
-- under READ COMMITTED each query below takes a fresh snapshot, so the second of two concurrent
-- inserts sees the first once it commits. The matched row is not locked while deciding: if a
-- concurrent transaction deletes it meanwhile, the update finds no live row and the insert goes
-- ahead as an ADD. Under REPEATABLE READ and SERIALIZABLE, a NOOP that changes nothing but the
-- access bookkeeping (relevance, access count, last access) skips that bookkeeping when another
-- transaction changed the row after this one's snapshot, instead of failing with 40001: access
-- statistics are best effort there, the memory itself is never lost. A NOOP that merges new
-- metadata or categories is a real write and conflicts as PostgreSQL's isolation levels say.
-- Plans are custom (plan_cache_mode), and the hash is computed once into a variable: PL/pgSQL's
-- cached generic plan looked the hash up through the user_id index instead of one probe of the
-- unique index.
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
    v_old_metadata jsonb;
    v_old_categories text[];
    v_old_expires_at timestamptz;
    v_metadata jsonb;
    v_categories text[];
    v_expires_at timestamptz;
    v_updated integer;
BEGIN
    IF NEW.is_deleted THEN
        RETURN NEW;  -- restoring history (a dump, an import): nothing to compare with
    END IF;
    PERFORM pg_advisory_xact_lock(memory.scope_lock_key(NEW.user_id, NEW.agent_id));
    SELECT * INTO v_settings FROM memory.settings;

    SELECT m.id INTO v_existing_id
    FROM memory.memories AS m
    WHERE m.user_id = NEW.user_id AND coalesce(m.agent_id, '') = coalesce(NEW.agent_id, '')
      AND m.hash = v_hash AND NOT m.is_deleted;

    IF FOUND THEN
        v_event := 'NOOP';
    ELSE
        SELECT n.id, n.similarity INTO v_existing_id, v_similarity
        FROM memory.nearest_memory(NEW.embedding, NEW.user_id, NEW.agent_id) AS n;
        IF NOT memory.meets_threshold(v_similarity, v_settings.merge_threshold)
           OR NOT (SELECT memory.embedding_is_usable(m.embedding) FROM memory.memories AS m WHERE m.id = v_existing_id)
        THEN
            v_event := 'ADD';
        ELSIF memory.meets_threshold(v_similarity, v_settings.replace_threshold) THEN
            v_event := 'UPDATE';
        ELSE
            v_event := 'MERGE';
        END IF;
        IF v_event = 'ADD' THEN
            PERFORM set_config('memory.dedup_result', NEW.id::text || ' ADD', true);
            RETURN NEW;
        END IF;
    END IF;

    SELECT m.metadata, m.categories, m.expires_at INTO v_old_metadata, v_old_categories, v_old_expires_at
    FROM memory.memories AS m WHERE m.id = v_existing_id;
    v_metadata := v_old_metadata || NEW.metadata;
    v_categories := memory.normalize_categories(v_old_categories || NEW.categories);
    v_expires_at := CASE WHEN v_old_expires_at IS NULL OR NEW.expires_at IS NULL THEN NULL
                         ELSE greatest(v_old_expires_at, NEW.expires_at) END;
    PERFORM memory.check_metadata(v_metadata, format('metadata (merged into memory %s)', v_existing_id),
                                  v_settings.max_metadata_bytes, v_settings.max_metadata_depth);
    PERFORM memory.check_categories(v_categories, format('categories (merged into memory %s)', v_existing_id),
                                    v_settings.max_categories, v_settings.max_category_chars);

    IF v_event = 'NOOP' AND v_metadata = v_old_metadata AND v_categories = v_old_categories
       AND v_expires_at IS NOT DISTINCT FROM v_old_expires_at THEN
        v_updated := memory.record_duplicate_access(v_existing_id, NEW.relevance_score);
    ELSE
        PERFORM set_config('memory.dedup_event', v_event, true);  -- read by the history trigger
        UPDATE memory.memories AS m SET
            memory = CASE WHEN v_event = 'UPDATE' THEN NEW.memory ELSE m.memory END,
            embedding = CASE WHEN v_event = 'UPDATE' THEN NEW.embedding ELSE m.embedding END,
            version = CASE WHEN v_event = 'NOOP' THEN m.version ELSE m.version + 1 END,
            metadata = v_metadata,
            categories = v_categories,
            relevance_score = greatest(m.relevance_score, NEW.relevance_score),
            access_count = m.access_count + 1,
            last_accessed_at = now(),
            expires_at = v_expires_at
        WHERE m.id = v_existing_id AND NOT m.is_deleted;
        GET DIAGNOSTICS v_updated = ROW_COUNT;
        PERFORM set_config('memory.dedup_event', '', true);
    END IF;
    IF v_updated = 0 THEN  -- deleted by a concurrent transaction since we looked: add the new one
        PERFORM set_config('memory.dedup_result', NEW.id::text || ' ADD', true);
        RETURN NEW;
    END IF;
    PERFORM set_config('memory.dedup_result', v_existing_id::text || ' ' || v_event, true);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.deduplicate_memories() IS
    'Trigger: turns an INSERT into NOOP, UPDATE or MERGE of an existing memory of the same user and agent';
REVOKE ALL ON FUNCTION memory.deduplicate_memories() FROM PUBLIC;

-- memory.record_duplicate_access(): the bookkeeping of a NOOP that brings nothing new: relevance
-- back up, access count + 1, last access now. Returns 1, or 0 when the memory is no longer live.
-- Under REPEATABLE READ and SERIALIZABLE a row changed by another transaction after this one's
-- snapshot cannot be updated (40001); the bookkeeping is then skipped (the memory is there: 1),
-- in a subtransaction taken only at those levels (READ COMMITTED pays for none).
CREATE OR REPLACE FUNCTION memory.bump_access(id uuid, relevance double precision)
RETURNS integer
LANGUAGE sql
VOLATILE
AS $$
    WITH bumped AS (
        UPDATE memory.memories AS m
        SET relevance_score = greatest(m.relevance_score, bump_access.relevance),
            access_count = m.access_count + 1, last_accessed_at = now()
        WHERE m.id = bump_access.id AND NOT m.is_deleted
        RETURNING 1
    )
    SELECT count(*)::integer FROM bumped
$$;

COMMENT ON FUNCTION memory.bump_access(uuid, double precision) IS
    'Relevance up to at least the given one, access count + 1, last access now; 1 if the memory is live, else 0';

CREATE OR REPLACE FUNCTION memory.record_duplicate_access(id uuid, relevance double precision)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        RETURN memory.bump_access(record_duplicate_access.id, record_duplicate_access.relevance);
    END IF;
    BEGIN
        RETURN memory.bump_access(record_duplicate_access.id, record_duplicate_access.relevance);
    EXCEPTION WHEN serialization_failure THEN
        RETURN 1;  -- changed after our snapshot by another transaction: skip the bookkeeping
    END;
END
$$;

COMMENT ON FUNCTION memory.record_duplicate_access(uuid, double precision) IS
    'NOOP bookkeeping (bump_access); skipped on a serialization conflict under REPEATABLE READ / SERIALIZABLE';
REVOKE ALL ON FUNCTION memory.bump_access(uuid, double precision),
    memory.record_duplicate_access(uuid, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.bump_access(uuid, double precision),
    memory.record_duplicate_access(uuid, double precision) TO authenticated, service_role;

DROP TRIGGER IF EXISTS memories_20_deduplicate ON memory.memories;
CREATE TRIGGER memories_20_deduplicate
    BEFORE INSERT ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.deduplicate_memories();

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
CREATE OR REPLACE FUNCTION memory.add_memory(
    user_id text,
    memory text,
    embedding vector,
    metadata jsonb DEFAULT '{}',
    categories text[] DEFAULT '{}',
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    memory_type text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_id uuid;
    v_result text;
    v_constraint text;
BEGIN
    -- checked here too: the INSERT casts to the column's vector(D) before any trigger could
    PERFORM memory.check_embedding(add_memory.embedding, 'embedding');
    IF add_memory.expires_at IS NOT NULL AND add_memory.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', add_memory.expires_at USING ERRCODE = '22023';
    END IF;

    PERFORM set_config('memory.dedup_result', '', true);
    IF current_setting('transaction_isolation') = 'read committed' THEN
        v_id := memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                     add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                     add_memory.run_id, add_memory.memory_type, add_memory.expires_at);
    ELSE
        BEGIN
            v_id := memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
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

    IF v_id IS NOT NULL THEN
        RETURN QUERY SELECT v_id, 'ADD'::text;
    ELSE
        v_result := current_setting('memory.dedup_result', true);
        RETURN QUERY SELECT split_part(v_result, ' ', 1)::uuid, split_part(v_result, ' ', 2);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';

-- memory.insert_memory(): the one INSERT behind add_memory; NULL when deduplication cancelled it.
CREATE OR REPLACE FUNCTION memory.insert_memory(
    user_id text, memory text, embedding vector, metadata jsonb, categories text[], agent_id text,
    run_id text, memory_type text, expires_at timestamptz)
RETURNS uuid
LANGUAGE sql
VOLATILE
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
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz)
    TO authenticated, service_role;

-- sql/memory/update_memory.sql
-- memory.update_memory(): change a live memory in place. Arguments left NULL keep their value; a
-- new text needs its new embedding. Metadata and categories given replace the old ones. The
-- version goes up and the history trigger records an UPDATE. Arguments are checked with the same
-- rules as add_memory's (check_arguments.sql) before the memory is looked up. A new text that
-- another live memory of the same user and agent already holds is refused (23505), naming it.
CREATE OR REPLACE FUNCTION memory.update_memory(
    id uuid,
    memory text DEFAULT NULL,
    embedding vector DEFAULT NULL,
    metadata jsonb DEFAULT NULL,
    categories text[] DEFAULT NULL)
RETURNS TABLE (memory_id uuid, event text, version integer)
LANGUAGE plpgsql
VOLATILE
AS $$
#variable_conflict use_variable
DECLARE
    v_version integer;
    v_settings memory.settings;
    v_duplicate_id uuid;
BEGIN
    IF update_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF update_memory.memory IS NOT NULL AND update_memory.embedding IS NULL THEN
        RAISE EXCEPTION 'embedding must be given with a new memory text' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_label(update_memory.memory, 'memory', v_settings.max_memory_chars);
    IF update_memory.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(update_memory.embedding, 'embedding');
    END IF;
    IF update_memory.metadata IS NOT NULL THEN
        PERFORM memory.check_metadata(update_memory.metadata, 'metadata', v_settings.max_metadata_bytes,
                                      v_settings.max_metadata_depth);
    END IF;
    IF update_memory.categories IS NOT NULL THEN
        PERFORM memory.check_categories(memory.normalize_categories(update_memory.categories), 'categories',
                                        v_settings.max_categories, v_settings.max_category_chars);
    END IF;
    IF num_nonnulls(update_memory.memory, update_memory.embedding, update_memory.metadata, update_memory.categories) = 0 THEN
        RAISE EXCEPTION 'nothing to update: give memory and embedding, metadata or categories' USING ERRCODE = '22023';
    END IF;
    IF update_memory.memory IS NOT NULL THEN
        SELECT other.id INTO v_duplicate_id
        FROM memory.memories AS target
        JOIN memory.memories AS other
          ON other.user_id = target.user_id AND coalesce(other.agent_id, '') = coalesce(target.agent_id, '')
         AND other.hash = memory.text_hash(update_memory.memory) AND NOT other.is_deleted AND other.id <> target.id
        WHERE target.id = update_memory.id AND NOT target.is_deleted;
        IF FOUND THEN
            RAISE EXCEPTION 'memory % already holds this text; delete one of the two, or update that one',
                v_duplicate_id USING ERRCODE = '23505';
        END IF;
    END IF;
    UPDATE memory.memories AS m SET
        memory = coalesce(update_memory.memory, m.memory),
        embedding = coalesce(update_memory.embedding, m.embedding),
        metadata = coalesce(update_memory.metadata, m.metadata),
        categories = coalesce(update_memory.categories, m.categories),
        version = m.version + 1
    WHERE m.id = update_memory.id AND NOT m.is_deleted
    RETURNING m.version INTO v_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory % not found', update_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY SELECT update_memory.id, 'UPDATE'::text, v_version;
END
$$;

COMMENT ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) IS
    'Changes a live memory in place (NULL keeps a value); version + 1 and a history row; P0002 when not found, 23505 for a duplicate text';
REVOKE ALL ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) TO authenticated, service_role;

-- sql/memory/search_paths.sql
-- The two ways to find a user's nearest memories, and the choice between them.
--
-- A user's memories are a small slice of a shared table. An HNSW scan filtered by user_id returns
-- too few rows (the graph walk ends before enough of the user's rows pass the filter), so:
--   * exact path: the user's rows come from the btree on user_id, distances are computed for all
--     of them and sorted. A MATERIALIZED CTE keeps the planner from turning it into an HNSW scan.
--     Recall is 1 by construction; the cost is linear in the user's rows.
--   * ANN path: pgvector's iterative HNSW scan (relaxed order, re-sorted) keeps walking the graph
--     until enough rows pass the filters, up to hnsw_max_scan_tuples. enable_sort is off inside
--     the function so that the planner cannot answer with the btree plus a sort instead.
-- memory.scope_size() counts the user's matching rows with a bounded index scan, and the exact
-- path is taken while that count is at most memory.settings.exact_search_max_rows.
-- The function-level SET clauses restore every planner and hnsw setting when the function returns.
-- Thresholds compare through memory.meets_threshold(): a NaN similarity is never a match.
-- An empty metadata filter is skipped explicitly: `metadata @> '{}'` matches every row, yet the
-- planner answered it with a scan of the whole GIN index (18 ms per call at 28,000 rows, measured
-- in the benchmark), on every search and every deduplicated insert.
-- Without filters it counts from the btree alone (an index-only scan): the generic plan of one
-- query serving both cases read every counted row from the heap (3,000 pages, 25 ms cold, for a
-- heavy user), as the filter columns live there.
CREATE OR REPLACE FUNCTION memory.scope_size(query_user_id text, metadata_filter jsonb,
                                             category_filter text[], bound integer)
RETURNS integer
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF scope_size.metadata_filter = '{}'::jsonb AND cardinality(scope_size.category_filter) = 0 THEN
        RETURN (SELECT count(*)::integer
                FROM (SELECT 1 FROM memory.memories AS m
                      WHERE m.user_id = scope_size.query_user_id AND NOT m.is_deleted
                      LIMIT scope_size.bound + 1) AS bounded);
    END IF;
    RETURN (SELECT count(*)::integer
            FROM (SELECT 1 FROM memory.memories AS m
                  WHERE m.user_id = scope_size.query_user_id AND NOT m.is_deleted
                    AND (scope_size.metadata_filter = '{}'::jsonb OR m.metadata @> scope_size.metadata_filter)
                    AND (cardinality(scope_size.category_filter) = 0 OR m.categories && scope_size.category_filter)
                  LIMIT scope_size.bound + 1) AS bounded);
END
$$;

COMMENT ON FUNCTION memory.scope_size(text, jsonb, text[], integer) IS
    'Live memories of a user matching the filters, counted up to bound + 1 (routing of search)';

CREATE OR REPLACE FUNCTION memory.search_memories_exact(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE sql
STABLE
AS $$
    WITH scoped AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               m.embedding <=> search_memories_exact.query_embedding AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_exact.query_user_id AND NOT m.is_deleted
          AND (m.expires_at IS NULL OR m.expires_at > now())
          AND (search_memories_exact.any_agent OR m.agent_id IS NOT DISTINCT FROM search_memories_exact.agent_id)
          AND (search_memories_exact.metadata_filter = '{}'::jsonb OR m.metadata @> search_memories_exact.metadata_filter)
          AND (cardinality(search_memories_exact.category_filter) = 0
               OR m.categories && search_memories_exact.category_filter)
    )
    SELECT s.id, s.memory, s.metadata, s.categories, 1 - s.distance, s.created_at, s.updated_at
    FROM scoped AS s
    WHERE memory.meets_threshold(1 - s.distance, search_memories_exact.similarity_threshold)
    ORDER BY s.distance, s.id
    LIMIT search_memories_exact.match_count
$$;

COMMENT ON FUNCTION memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean) IS
    'Exact nearest memories of one user (btree on user_id, every distance computed); recall 1';

CREATE OR REPLACE FUNCTION memory.search_memories_ann(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = '100'
SET hnsw.max_scan_tuples = '20000'
SET enable_sort = 'off'
SET plan_cache_mode = 'force_custom_plan'
AS $$
DECLARE
    v_settings memory.settings;
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM set_config('hnsw.ef_search', greatest(v_settings.hnsw_ef_search, search_memories_ann.match_count)::text, true),
            set_config('hnsw.max_scan_tuples', v_settings.hnsw_max_scan_tuples::text, true);
    RETURN QUERY
    WITH candidates AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               m.embedding <=> search_memories_ann.query_embedding AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_ann.query_user_id AND NOT m.is_deleted
          AND (m.expires_at IS NULL OR m.expires_at > now())
          AND (search_memories_ann.any_agent OR m.agent_id IS NOT DISTINCT FROM search_memories_ann.agent_id)
          AND (search_memories_ann.metadata_filter = '{}'::jsonb OR m.metadata @> search_memories_ann.metadata_filter)
          AND (cardinality(search_memories_ann.category_filter) = 0
               OR m.categories && search_memories_ann.category_filter)
        ORDER BY m.embedding <=> search_memories_ann.query_embedding
        LIMIT search_memories_ann.match_count * 2 + 10  -- relaxed order: take a margin, re-sort below
    )
    SELECT c.id, c.memory, c.metadata, c.categories, 1 - c.distance, c.created_at, c.updated_at
    FROM candidates AS c
    WHERE memory.meets_threshold(1 - c.distance, search_memories_ann.similarity_threshold)
    ORDER BY c.distance, c.id
    LIMIT search_memories_ann.match_count;
END
$$;

COMMENT ON FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean) IS
    'Nearest memories of one user through an iterative HNSW scan (for users with many memories)';

CREATE OR REPLACE FUNCTION memory.nearest_memory(embedding vector, user_id text, agent_id text)
RETURNS TABLE (id uuid, similarity double precision)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_bound integer := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
BEGIN
    -- The user's size (all agents) decides the path: an upper bound of the scope's size.
    IF memory.scope_size(nearest_memory.user_id, '{}', '{}', v_bound) <= v_bound OR NOT memory.has_ann_index() THEN
        RETURN QUERY
        SELECT e.id, e.similarity
        FROM memory.search_memories_exact(nearest_memory.embedding, nearest_memory.user_id, 1, '{}', '{}', -1,
                                          nearest_memory.agent_id, false) AS e;
    ELSE
        RETURN QUERY
        SELECT a.id, a.similarity
        FROM memory.search_memories_ann(nearest_memory.embedding, nearest_memory.user_id, 1, '{}', '{}', -1,
                                        nearest_memory.agent_id, false) AS a;
    END IF;
END
$$;

COMMENT ON FUNCTION memory.nearest_memory(vector, text, text) IS
    'The most similar live memory in one (user, agent) scope, for deduplication';

CREATE OR REPLACE FUNCTION memory.has_ann_index()
RETURNS boolean
LANGUAGE sql
STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
        JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
        WHERE i.indrelid = 'memory.memories'::regclass AND am.amname IN ('hnsw', 'diskann') AND i.indisvalid)
$$;

COMMENT ON FUNCTION memory.has_ann_index() IS
    'Whether memory.memories has a valid HNSW (or DiskANN) index; without one, search is exact';

REVOKE ALL ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.nearest_memory(vector, text, text), memory.has_ann_index() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.nearest_memory(vector, text, text), memory.has_ann_index() TO authenticated, service_role;

-- sql/memory/search_memories.sql
-- memory.search_memories(): a user's live memories (not deleted, not expired) nearest to the query
-- embedding, whose metadata contains metadata_filter and whose categories overlap category_filter
-- (an empty filter matches all), with cosine similarity >= similarity_threshold, best first.
-- It routes to the exact or the HNSW path (see search_paths.sql) by the size of the user's
-- filtered slice, so light users get recall 1 and heavy users do not pay a linear scan.
-- It has no side effects: call memory.touch_memories() for the results you use.
-- plan_cache_mode force_generic_plan: left to choose, the plan cache kept re-planning the exact
-- path on every call (its custom plans fold the empty filters away and look cheaper than the
-- generic plan), which cost more than the search itself: a light user's search took 381 us as
-- service_role and 619 us under RLS (planning the policy too), against 144 and 129 us with generic
-- plans, measured side by side in one session. The generic plans are the intended ones (the btree
-- on user_id for the count and the exact path); the HNSW path forces custom plans for itself.
CREATE OR REPLACE FUNCTION memory.search_memories(
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 5,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    similarity_threshold double precision DEFAULT 0.3)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
AS $$
DECLARE
    v_categories text[];
    v_bound integer;
    v_max_id_chars integer;
BEGIN
    PERFORM memory.check_embedding(search_memories.query_embedding, 'query_embedding');
    SELECT s.exact_search_max_rows, s.max_id_chars INTO v_bound, v_max_id_chars FROM memory.settings AS s;
    PERFORM memory.check_label(search_memories.query_user_id, 'query_user_id', v_max_id_chars, true);
    PERFORM memory.check_count(search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(search_memories.metadata_filter, search_memories.category_filter);
    IF search_memories.similarity_threshold IS NULL OR NOT search_memories.similarity_threshold BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'similarity_threshold must be between 0 and 1, got %',
            coalesce(search_memories.similarity_threshold::text, 'NULL') USING ERRCODE = '22023';
    END IF;

    v_categories := memory.normalize_categories(search_memories.category_filter);
    IF memory.scope_size(search_memories.query_user_id, search_memories.metadata_filter, v_categories, v_bound) <= v_bound
       OR NOT memory.has_ann_index() THEN
        RETURN QUERY SELECT * FROM memory.search_memories_exact(
            search_memories.query_embedding, search_memories.query_user_id, search_memories.match_count,
            search_memories.metadata_filter, v_categories, search_memories.similarity_threshold);
    ELSE
        RETURN QUERY SELECT * FROM memory.search_memories_ann(
            search_memories.query_embedding, search_memories.query_user_id, search_memories.match_count,
            search_memories.metadata_filter, v_categories, search_memories.similarity_threshold);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision) IS
    'Nearest live memories of a user, filtered by metadata and categories, best first';
REVOKE ALL ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision)
    TO authenticated, service_role;

-- sql/memory/hybrid_search_memories.sql
-- memory.hybrid_search_memories(): reciprocal rank fusion of a full-text ranking
-- (websearch_to_tsquery over the generated tsvector, ts_rank_cd) and the vector ranking of
-- memory.search_memories(), in one statement. Each side contributes weight / (rrf_k + rank);
-- a memory found by one side only gets that side's share. Both ranks and the fused score are
-- returned, with the cosine similarity of every row.
-- Each side returns the columns of its rows itself, so the fusion joins the two candidate lists
-- only: no join back to memory.memories, whose plan was a sequential scan of the whole table
-- (every user's rows read and removed by the filter), making the cost grow with the table
-- instead of with the user's memories.
CREATE OR REPLACE FUNCTION memory.hybrid_search_memories(
    query_text text,
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 10,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    full_text_weight double precision DEFAULT 1,
    semantic_weight double precision DEFAULT 1,
    rrf_k integer DEFAULT 60)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_categories text[];
    v_candidates integer;
    v_max_query_chars integer := (SELECT s.max_query_chars FROM memory.settings AS s);
BEGIN
    IF hybrid_search_memories.query_text IS NULL THEN
        RAISE EXCEPTION 'query_text must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(hybrid_search_memories.query_text) = '' THEN
        RAISE EXCEPTION 'query_text must not be empty (use search_memories for vector-only search)'
            USING ERRCODE = '22023';
    END IF;
    IF length(hybrid_search_memories.query_text) > v_max_query_chars THEN
        RAISE EXCEPTION 'query_text is % characters long; at most % are allowed',
            length(hybrid_search_memories.query_text), v_max_query_chars USING ERRCODE = '22001';
    END IF;
    PERFORM memory.check_embedding(hybrid_search_memories.query_embedding, 'query_embedding');
    PERFORM memory.check_label(hybrid_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(hybrid_search_memories.metadata_filter, hybrid_search_memories.category_filter);
    IF NOT coalesce(hybrid_search_memories.full_text_weight BETWEEN 0 AND 1000000
                    AND hybrid_search_memories.semantic_weight BETWEEN 0 AND 1000000
                    AND hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight > 0, false) THEN
        RAISE EXCEPTION 'full_text_weight and semantic_weight must be between 0 and 1000000 and not both 0, got % and %',
            coalesce(hybrid_search_memories.full_text_weight::text, 'NULL'),
            coalesce(hybrid_search_memories.semantic_weight::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF hybrid_search_memories.rrf_k IS NULL OR hybrid_search_memories.rrf_k < 1 THEN
        RAISE EXCEPTION 'rrf_k must be at least 1, got %', coalesce(hybrid_search_memories.rrf_k::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_candidates := least(hybrid_search_memories.match_count * 2, 1000);

    RETURN QUERY
    WITH semantic AS (
        SELECT s.id, s.memory, s.metadata, s.categories, s.similarity, s.created_at, s.updated_at,
               row_number() OVER (ORDER BY s.similarity DESC, s.id) AS rank
        FROM memory.search_memories(hybrid_search_memories.query_embedding, hybrid_search_memories.query_user_id,
                                    v_candidates, hybrid_search_memories.metadata_filter, v_categories, 0) AS s
    ), full_text AS (
        SELECT r.id, r.memory, r.metadata, r.categories,
               1 - (r.embedding <=> hybrid_search_memories.query_embedding) AS similarity,
               r.created_at, r.updated_at,
               row_number() OVER (ORDER BY r.text_rank DESC, r.id) AS rank
        FROM (
            SELECT m.id, m.memory, m.metadata, m.categories, m.embedding, m.created_at, m.updated_at,
                   ts_rank_cd(m.fts, q.query) AS text_rank
            FROM memory.memories AS m,
                 websearch_to_tsquery('english', hybrid_search_memories.query_text) AS q(query)
            WHERE m.user_id = hybrid_search_memories.query_user_id AND NOT m.is_deleted
              AND (m.expires_at IS NULL OR m.expires_at > now())
              AND m.fts @@ q.query
              AND (hybrid_search_memories.metadata_filter = '{}'::jsonb OR m.metadata @> hybrid_search_memories.metadata_filter)
              AND (cardinality(v_categories) = 0 OR m.categories && v_categories)
            ORDER BY text_rank DESC, m.id
            LIMIT v_candidates
        ) AS r
    )
    SELECT coalesce(se.id, ft.id), coalesce(se.memory, ft.memory), coalesce(se.metadata, ft.metadata),
           coalesce(se.categories, ft.categories), coalesce(se.similarity, ft.similarity),
           ft.rank, se.rank,
           coalesce(hybrid_search_memories.full_text_weight / (hybrid_search_memories.rrf_k + ft.rank), 0)
             + coalesce(hybrid_search_memories.semantic_weight / (hybrid_search_memories.rrf_k + se.rank), 0) AS fused,
           coalesce(se.created_at, ft.created_at), coalesce(se.updated_at, ft.updated_at)
    FROM semantic AS se
    FULL JOIN full_text AS ft ON ft.id = se.id
    ORDER BY fused DESC, coalesce(se.id, ft.id)
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer)
    TO authenticated, service_role;

-- sql/memory/list_memories.sql
-- memory.list_memories(): a user's live memories, newest first, one page at a time. Keyset
-- pagination on (created_at, id): pass the last row's created_at and id to get the next page.
-- Pages stay stable while memories are added (new ones sort before the first page), unlike OFFSET.
-- Identifiers are checked as add_memory checks them: an empty agent_id is refused, not a filter
-- that matches nothing.
CREATE OR REPLACE FUNCTION memory.list_memories(
    user_id text,
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    after_created_at timestamptz DEFAULT NULL,
    after_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS SETOF memory.memory_record
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_max_id_chars integer;
BEGIN
    SELECT s.max_id_chars INTO v_max_id_chars FROM memory.settings AS s;
    PERFORM memory.check_label(list_memories.user_id, 'user_id', v_max_id_chars, true);
    PERFORM memory.check_label(list_memories.agent_id, 'agent_id', v_max_id_chars);
    PERFORM memory.check_label(list_memories.run_id, 'run_id', v_max_id_chars);
    IF (list_memories.after_created_at IS NULL) <> (list_memories.after_id IS NULL) THEN
        RAISE EXCEPTION 'after_created_at and after_id form one cursor: give both or neither'
            USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(list_memories.page_size, 'page_size');
    RETURN QUERY
    SELECT m.id, m.user_id, m.agent_id, m.run_id, m.memory, m.metadata, m.categories, m.memory_type, m.source,
           m.hash, m.relevance_score, m.access_count, m.last_accessed_at, m.version, m.expires_at,
           m.created_at, m.updated_at
    FROM memory.memories AS m
    WHERE m.user_id = list_memories.user_id AND NOT m.is_deleted
      AND (list_memories.agent_id IS NULL OR m.agent_id = list_memories.agent_id)
      AND (list_memories.run_id IS NULL OR m.run_id = list_memories.run_id)
      AND (list_memories.after_created_at IS NULL
           OR (m.created_at, m.id) < (list_memories.after_created_at, list_memories.after_id))
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT list_memories.page_size;
END
$$;

COMMENT ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) IS
    'A page of a user''s live memories, newest first; keyset cursor (created_at, id)';
REVOKE ALL ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) TO authenticated, service_role;
