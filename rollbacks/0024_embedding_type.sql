-- Rollback of 0024_embedding_type: every embedding column vector again (a halfvec install's
-- columns converted back: exact, every half float is a float), the choice forgotten, the
-- functions as 0023 left them.
SET LOCAL search_path = pg_catalog, extensions, public;

-- sql/mempg/settings.sql as 0023 left it
-- Install settings of mempg (mempg.settings): mempg.embedding_dim() reads the embedding dimension
-- that later migrations use for every vector column, and a guard keeps that dimension fixed:
-- vectors of another size cannot be compared, so a change needs a new database or a re-embedding.
-- text_search_config (from 0010, `mempg apply --text-search-config`) is fixed the same way: every
-- stored tsvector was stemmed and stop-worded with it, and queries are parsed with it.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION mempg.embedding_dim()
RETURNS integer
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT value::integer FROM mempg.settings WHERE key = 'embedding_dim'
$$;

COMMENT ON FUNCTION mempg.embedding_dim() IS
    'Embedding dimension chosen at install (mempg apply --embedding-dim); fixed afterwards';
REVOKE ALL ON FUNCTION mempg.embedding_dim() FROM PUBLIC;

CREATE OR REPLACE FUNCTION mempg.guard_settings()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF OLD.key IN ('embedding_dim', 'text_search_config')
       AND (TG_OP = 'DELETE' OR NEW.value IS DISTINCT FROM OLD.value) THEN
        RAISE EXCEPTION 'mempg.settings: % is fixed at % since install', OLD.key, OLD.value
            USING ERRCODE = '55000',
                  HINT = CASE OLD.key WHEN 'embedding_dim'
                              THEN 'use a new database, or write a migration that re-embeds every memory'
                              ELSE 'use a new database, or write a migration that re-indexes every memory' END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION mempg.guard_settings() IS
    'Trigger on mempg.settings: keeps embedding_dim and text_search_config fixed and stamps updated_at';
REVOKE ALL ON FUNCTION mempg.guard_settings() FROM PUBLIC;

DROP TRIGGER IF EXISTS guard_settings ON mempg.settings;
CREATE TRIGGER guard_settings
    BEFORE UPDATE OR DELETE ON mempg.settings
    FOR EACH ROW EXECUTE FUNCTION mempg.guard_settings();

-- mempg.request_embedding_dim(): what `mempg apply --embedding-dim N` asks for, checked here
-- alone (the runner passes N and reports this error): a whole number from 1 to 16000 (the check
-- of 0001 on a fresh install), and on an installed database the dimension it already has.
CREATE OR REPLACE FUNCTION mempg.request_embedding_dim(requested text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_installed integer := mempg.embedding_dim();
BEGIN
    IF request_embedding_dim.requested IS NULL OR request_embedding_dim.requested = '' THEN
        RETURN;
    END IF;
    IF request_embedding_dim.requested !~ '^[0-9]{1,5}$' OR request_embedding_dim.requested::integer NOT BETWEEN 1 AND 16000 THEN
        RAISE EXCEPTION 'embedding_dim must be a whole number from 1 to 16000, got %', request_embedding_dim.requested
            USING ERRCODE = '22023';
    END IF;
    IF v_installed IS NOT NULL AND request_embedding_dim.requested::integer <> v_installed THEN
        RAISE EXCEPTION '--embedding-dim % refused: this database was installed with embedding dimension %, which is fixed',
            request_embedding_dim.requested, v_installed
            USING ERRCODE = '22023',
                  HINT = 'use a new database, or write a migration that re-embeds the memories';
    END IF;
END
$$;

COMMENT ON FUNCTION mempg.request_embedding_dim(text) IS
    'Raises 22023 unless the requested embedding dimension is valid and, once installed, the installed one';
REVOKE ALL ON FUNCTION mempg.request_embedding_dim(text) FROM PUBLIC;

-- mempg.request_text_search_config(): what `mempg apply --text-search-config NAME` asks for,
-- checked here alone: an existing text-search configuration (english, simple, french, ...), and
-- on a database that chose one already (0010 applied), that one.
CREATE OR REPLACE FUNCTION mempg.request_text_search_config(requested text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_installed text := (SELECT s.value FROM mempg.settings AS s WHERE s.key = 'text_search_config');
    v_requested regconfig;
BEGIN
    IF request_text_search_config.requested IS NULL OR request_text_search_config.requested = '' THEN
        RETURN;
    END IF;
    BEGIN
        v_requested := request_text_search_config.requested::regconfig;
    EXCEPTION WHEN undefined_object OR invalid_name OR syntax_error OR invalid_text_representation THEN
        RAISE EXCEPTION 'text_search_config % is not a text search configuration of this server (see \dF in psql)',
            request_text_search_config.requested USING ERRCODE = '22023';
    END;
    IF v_installed IS NOT NULL AND v_requested::text <> v_installed THEN
        RAISE EXCEPTION '--text-search-config % refused: this database was installed with text search configuration %, which is fixed',
            request_text_search_config.requested, v_installed
            USING ERRCODE = '22023',
                  HINT = 'use a new database, or write a migration that re-indexes the memories';
    END IF;
END
$$;

COMMENT ON FUNCTION mempg.request_text_search_config(text) IS
    'Raises 22023 unless the requested text search configuration exists and, once installed, is the installed one';
REVOKE ALL ON FUNCTION mempg.request_text_search_config(text) FROM PUBLIC;

-- sql/memory/embedding_dim.sql as 0023 left it
-- memory.embedding_dim(): the dimension of memory embeddings, read from the column type itself,
-- so that application roles need no access to schema mempg to validate their arguments.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.embedding_dim()
RETURNS integer
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT a.atttypmod FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = 'memory.memories'::regclass AND a.attname = 'embedding'
$$;

COMMENT ON FUNCTION memory.embedding_dim() IS
    'Dimension of memory embeddings, read from the column type (fixed at install)';

REVOKE ALL ON FUNCTION memory.embedding_dim() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.embedding_dim() TO authenticated, service_role;

-- sql/memory/check_arguments.sql as 0023 left it
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
-- meets_threshold() has no SET clause, so the planner inlines it into every search's WHERE: its
-- body uses built-in operators only. Every other function here pins search_path (pg_catalog,
-- extensions, pg_temp), so a caller's own search_path never changes what a name means.

-- memory.embedding_is_usable(): whether cosine similarity with this vector is defined. pgvector
-- computes cosine in single precision: 1536 components of 1e38 (or 1e-23, or 1e-45) give a
-- finite, non-zero norm in double precision, yet the squared norm overflows (or underflows) a
-- float4 and every cosine distance with the vector is NaN. So: the norm must be a normal, finite,
-- positive float4 and the cosine of the vector with itself must be 1 (within 1e-6).
CREATE OR REPLACE FUNCTION memory.embedding_is_usable(embedding vector)
RETURNS boolean
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
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
SET search_path = pg_catalog, extensions, pg_temp
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
SET search_path = pg_catalog, extensions, pg_temp
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
SET search_path = pg_catalog, extensions, pg_temp
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
SET search_path = pg_catalog, extensions, pg_temp
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
SET search_path = pg_catalog, extensions, pg_temp
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
SET search_path = pg_catalog, extensions, pg_temp
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

-- sql/memory/deduplicate_memories.sql as 0023 left it
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
-- hand-off of dedup_outcome.sql, which memory.add_memory() returns.
-- A memory of a mempg export restored by memory.import_batch() (memory.import_restoring(), 0016)
-- is matched on exact text only: near-duplicates that lived side by side in the exported
-- database stay two memories, so an export reads back as it was.
-- Every INSERT takes a token of the caller's 'add' bucket (memory.take_token(), rate_limits.sql),
-- whatever deduplication then decides: deciding costs as much as an ADD. It is taken under the
-- scope lock, so the writers of one scope queue on that lock alone, as before.
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
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.deduplicate_memories()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_custom_plan'
SET search_path = pg_catalog, extensions, pg_temp
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
    v_usable boolean;
BEGIN
    IF NEW.is_deleted THEN
        PERFORM memory.take_token('add', NEW.user_id);  -- rate limit: rate_limits.sql
        RETURN NEW;  -- restoring history (a dump, an import): nothing to compare with
    END IF;
    PERFORM pg_advisory_xact_lock(memory.scope_lock_key(NEW.user_id, NEW.agent_id));
    PERFORM memory.take_token('add', NEW.user_id);  -- rate limit, under the scope lock: rate_limits.sql
    SELECT * INTO v_settings FROM memory.settings;

    SELECT m.id INTO v_existing_id
    FROM memory.memories AS m
    WHERE m.user_id = NEW.user_id AND memory.same_agent(m.agent_id, NEW.agent_id)
      AND m.hash = v_hash AND NOT m.is_deleted;

    IF FOUND THEN
        v_event := 'NOOP';
    ELSIF memory.import_restoring() THEN
        RETURN NEW;  -- an exported memory restored verbatim (memory.import_batch): exact text only
    ELSE
        SELECT n.id, n.similarity INTO v_existing_id, v_similarity
        FROM memory.nearest_memory(NEW.embedding, NEW.user_id, NEW.agent_id) AS n;
        v_event := CASE WHEN NOT memory.meets_threshold(v_similarity, v_settings.merge_threshold) THEN 'ADD'
                        WHEN memory.meets_threshold(v_similarity, v_settings.replace_threshold) THEN 'UPDATE'
                        ELSE 'MERGE' END;
    END IF;

    IF v_event <> 'ADD' THEN  -- the matched memory, read once
        SELECT m.metadata, m.categories, m.expires_at, v_event = 'NOOP' OR memory.embedding_is_usable(m.embedding)
        INTO v_old_metadata, v_old_categories, v_old_expires_at, v_usable
        FROM memory.memories AS m WHERE m.id = v_existing_id;
    END IF;
    IF v_event = 'ADD' OR NOT v_usable THEN
        PERFORM memory.set_dedup_outcome(NEW.id, 'ADD');
        RETURN NEW;
    END IF;
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
        PERFORM memory.set_dedup_event(v_event);  -- read by the history trigger
        UPDATE memory.memories AS m SET
            memory = CASE WHEN v_event = 'UPDATE' THEN NEW.memory ELSE m.memory END,
            embedding = CASE WHEN v_event = 'UPDATE' THEN NEW.embedding ELSE m.embedding END,
            version = CASE WHEN v_event = 'NOOP' THEN m.version ELSE m.version + 1 END,
            metadata = v_metadata,
            categories = v_categories,
            relevance_score = greatest(memory.decayed_relevance(m.relevance_score, m.last_accessed_at, m.decayed_at,
                                                                v_settings.relevance_half_life),
                                       NEW.relevance_score),
            access_count = m.access_count + 1,
            last_accessed_at = now(),
            expires_at = v_expires_at
        WHERE m.id = v_existing_id AND NOT m.is_deleted;
        GET DIAGNOSTICS v_updated = ROW_COUNT;
        PERFORM memory.set_dedup_event(NULL);
    END IF;
    IF v_updated = 0 THEN  -- deleted by a concurrent transaction since we looked: add the new one
        PERFORM memory.set_dedup_outcome(NEW.id, 'ADD');
        RETURN NEW;
    END IF;
    PERFORM memory.set_dedup_outcome(v_existing_id, v_event);
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
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH bumped AS (
        UPDATE memory.memories AS m
        SET relevance_score = greatest(memory.decayed_relevance(m.relevance_score, m.last_accessed_at, m.decayed_at,
                                                                s.relevance_half_life),
                                       bump_access.relevance),
            access_count = m.access_count + 1, last_accessed_at = now()
        FROM memory.settings AS s
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
SET search_path = pg_catalog, extensions, pg_temp
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

-- sql/memory/normalize_memory.sql as 0023 left it
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
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.normalize_memory()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
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

-- sql/ops/vector_index_health.sql as 0023 left it
-- ops.recommended_vector_parameters(): index parameters for a row count. HNSW: m and
-- ef_construction grow with the data (more links keep recall as the graph grows; 16 / 128 up to
-- about a million rows: at pgvector's default 64 some rows become unreachable, see 0002), ef_search
-- with them. IVFFlat: lists about
-- rows / 1000 up to 1M rows and sqrt(rows) above (pgvector's guidance), probes about sqrt(lists).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION ops.recommended_vector_parameters(access_method text, indexed_rows bigint)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE recommended_vector_parameters.access_method
        WHEN 'hnsw' THEN CASE
            WHEN recommended_vector_parameters.indexed_rows < 1000000 THEN '{"m": 16, "ef_construction": 128, "ef_search": 200}'::jsonb
            WHEN recommended_vector_parameters.indexed_rows < 10000000 THEN '{"m": 24, "ef_construction": 128, "ef_search": 200}'::jsonb
            ELSE '{"m": 32, "ef_construction": 200, "ef_search": 400}'::jsonb END
        WHEN 'ivfflat' THEN jsonb_build_object(
            'lists', lists, 'probes', greatest(1, round(sqrt(lists))::integer))
        ELSE '{}'::jsonb
    END
    FROM (SELECT greatest(10, CASE WHEN recommended_vector_parameters.indexed_rows <= 1000000
                                   THEN recommended_vector_parameters.indexed_rows / 1000
                                   ELSE round(sqrt(recommended_vector_parameters.indexed_rows)) END)::integer AS lists) AS l
$$;

COMMENT ON FUNCTION ops.recommended_vector_parameters(text, bigint) IS
    'Recommended HNSW (m, ef_construction, ef_search) or IVFFlat (lists, probes) parameters for a row count';

-- ops.vector_index_health(): every vector index of the project's schemas: access method, rows,
-- size, the parameters it was built with, those recommended for its row count, whether it should be
-- rebuilt (built for a much smaller table), and, for the memories index, a recall estimate:
-- memory.search_memories against exact search for `recall_sample` memories picked at random, each
-- used as a query for its own user.
CREATE OR REPLACE FUNCTION ops.vector_index_health(recall_sample integer DEFAULT 10)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text, indexed_rows bigint,
               index_bytes bigint, build_parameters jsonb, recommended_parameters jsonb, needs_rebuild boolean,
               estimated_recall double precision)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_index record;
    v_build jsonb;
    v_recommended jsonb;
    v_rows bigint;
    v_recall double precision;
BEGIN
    IF vector_index_health.recall_sample IS NULL OR vector_index_health.recall_sample NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'recall_sample must be between 0 and 1000, got %',
            coalesce(vector_index_health.recall_sample::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    FOR v_index IN
        SELECT n.nspname, t.relname AS table_name, c.relname, am.amname, c.oid AS index_oid, t.oid AS table_oid,
               c.reltuples AS index_tuples, t.reltuples AS table_tuples, coalesce(c.reloptions, '{}') AS options
        FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
        JOIN pg_catalog.pg_class AS t ON t.oid = i.indrelid
        JOIN pg_catalog.pg_namespace AS n ON n.oid = t.relnamespace
        JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
        WHERE am.amname IN ('hnsw', 'ivfflat', 'diskann') AND n.nspname = ANY (ops.project_schemas())
        ORDER BY 1, 2, 3
    LOOP
        v_rows := greatest(CASE WHEN v_index.index_tuples >= 0 THEN v_index.index_tuples ELSE v_index.table_tuples END, 0)::bigint;
        v_build := (SELECT coalesce(jsonb_object_agg(split_part(o, '=', 1), split_part(o, '=', 2)::numeric), '{}')
                    FROM unnest(v_index.options) AS o);
        v_build := CASE v_index.amname
            WHEN 'hnsw' THEN '{"m": 16, "ef_construction": 64}'::jsonb || v_build
            WHEN 'ivfflat' THEN '{"lists": 100}'::jsonb || v_build
            ELSE v_build END;
        v_recommended := ops.recommended_vector_parameters(v_index.amname, v_rows);
        v_recall := NULL;
        IF v_index.table_oid = 'memory.memories'::regclass AND vector_index_health.recall_sample > 0 THEN
            SELECT avg(overlap) INTO v_recall
            FROM (
                SELECT s.user_id, s.embedding FROM memory.memories AS s
                WHERE NOT s.is_deleted ORDER BY random() LIMIT vector_index_health.recall_sample
            ) AS q,
            LATERAL (
                SELECT count(*) FILTER (WHERE a.id IS NOT NULL)::double precision / greatest(count(*), 1) AS overlap
                FROM memory.search_memories_exact(q.embedding, q.user_id, 10, '{}', '{}', 0) AS e
                LEFT JOIN memory.search_memories(q.embedding, q.user_id, 10, '{}', '{}', 0) AS a USING (id)
            ) AS r;
        END IF;
        RETURN QUERY SELECT v_index.nspname::text, v_index.table_name::text, v_index.relname::text, v_index.amname::text,
            v_rows, pg_relation_size(v_index.index_oid), v_build, v_recommended,
            CASE v_index.amname
                WHEN 'hnsw' THEN (v_build ->> 'm')::numeric < (v_recommended ->> 'm')::numeric
                              OR (v_build ->> 'ef_construction')::numeric < (v_recommended ->> 'ef_construction')::numeric
                WHEN 'ivfflat' THEN v_rows >= 10000
                    AND NOT (v_build ->> 'lists')::numeric BETWEEN (v_recommended ->> 'lists')::numeric / 2
                                                             AND (v_recommended ->> 'lists')::numeric * 2
                ELSE false END,
            v_recall;
    END LOOP;
END
$$;

COMMENT ON FUNCTION ops.vector_index_health(integer) IS
    'Vector indexes: rows, size, build and recommended parameters, rebuild advice, sampled recall of search_memories';
REVOKE ALL ON FUNCTION ops.recommended_vector_parameters(text, bigint), ops.vector_index_health(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.recommended_vector_parameters(text, bigint), ops.vector_index_health(integer) TO service_role;

DO $$
DECLARE
    v_dim integer := mempg.embedding_dim();
    v_column record;
    v_indexes text[];
    v_triggers text[];
    v_index text;
BEGIN
    FOR v_column IN
        SELECT a.attrelid::regclass AS tbl, a.attnum, a.attstorage
        FROM pg_catalog.pg_attribute AS a
        JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
        WHERE a.attname = 'embedding' AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
          AND c.relnamespace::regnamespace::text IN ('memory', 'agent')
          AND a.atttypid = 'extensions.halfvec'::regtype
        ORDER BY 1
    LOOP
        -- its indexes (HNSW), rebuilt with the operator classes of the new type, and the
        -- triggers on UPDATE OF it, which block a type change while they exist
        SELECT coalesce(array_agg(pg_catalog.pg_get_indexdef(i.indexrelid)), '{}') INTO v_indexes
        FROM pg_catalog.pg_index AS i
        WHERE i.indrelid = v_column.tbl AND v_column.attnum = ANY (i.indkey);
        SELECT coalesce(array_agg(pg_catalog.pg_get_triggerdef(g.oid)), '{}') INTO v_triggers
        FROM pg_catalog.pg_trigger AS g
        WHERE g.tgrelid = v_column.tbl AND v_column.attnum = ANY (g.tgattr);
        FOR v_index IN
            SELECT i.indexrelid::regclass::text FROM pg_catalog.pg_index AS i
            WHERE i.indrelid = v_column.tbl AND v_column.attnum = ANY (i.indkey)
        LOOP
            EXECUTE format('DROP INDEX %s', v_index);
        END LOOP;
        FOR v_index IN
            SELECT g.tgname FROM pg_catalog.pg_trigger AS g
            WHERE g.tgrelid = v_column.tbl AND v_column.attnum = ANY (g.tgattr)
        LOOP
            EXECUTE format('DROP TRIGGER %I ON %s', v_index, v_column.tbl);
        END LOOP;
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT embedding_not_zero, '
                       'ALTER COLUMN embedding TYPE vector(%s), '
                       'ADD CONSTRAINT embedding_not_zero CHECK (vector_norm(embedding) > 0)', v_column.tbl, v_dim);
        -- a type change resets the storage to the type's own: keep the one chosen (0002, 0013)
        IF v_column.attstorage IN ('p', 'm') THEN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN embedding SET STORAGE %s', v_column.tbl,
                           CASE v_column.attstorage WHEN 'p' THEN 'PLAIN' ELSE 'MAIN' END);
        END IF;
        FOREACH v_index IN ARRAY v_indexes LOOP
            -- vector has no HNSW index above 2,000 dimensions (0024 built them for halfvec)
            CONTINUE WHEN v_dim > 2000 AND v_index LIKE '% USING hnsw %';
            EXECUTE regexp_replace(v_index, '\mhalfvec_(\w+)_ops\M', 'vector_\1_ops', 'g');
        END LOOP;
        FOREACH v_index IN ARRAY v_triggers LOOP
            EXECUTE v_index;
        END LOOP;
    END LOOP;
END
$$;

DELETE FROM mempg.settings WHERE key = 'embedding_type';

-- squawk-ignore ban-drop-function
DROP FUNCTION mempg.request_embedding_type(text);
-- squawk-ignore ban-drop-function
DROP FUNCTION memory.embedding_type();
