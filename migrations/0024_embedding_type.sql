-- 0024_embedding_type: embeddings stored as vector (4-byte floats) or halfvec (2-byte floats),
-- chosen at install with `mempg apply --embedding-type` and fixed like the dimension (issue 17).
-- halfvec halves the embedding in the row and in the HNSW graph. Every function keeps taking
-- and returning vector: pgvector casts a vector to halfvec implicitly, so `embedding <=> query`
-- compares in the column's type and uses its index; where a column value is passed to a
-- function it is now cast with ::vector (exact: every half float is a float). check_embedding
-- refuses a component beyond +-65504 on a halfvec install (22023) before the cast would.
-- On a database without the choice recorded (this migration pending) the option converts the
-- embedding columns of memory and agent, their CHECKs and indexes; the default stays vector.
-- halfvec also has HNSW indexes from 2,001 to 4,000 dimensions, where vector has none.
-- memory.stored_embedding, a domain over the stored type, lets the search functions cast a query
-- to it once (a variable, or an InitPlan) instead of once per row compared.
-- Figures: docs/scale.md.
-- Extension types by name, whatever search_path the runner's session started with:
SET LOCAL search_path = pg_catalog, extensions, public;

-- sql/mempg/settings.sql
-- Install settings of mempg (mempg.settings): mempg.embedding_dim() reads the embedding dimension
-- that later migrations use for every vector column, and a guard keeps that dimension fixed:
-- vectors of another size cannot be compared, so a change needs a new database or a re-embedding.
-- text_search_config (from 0010, `mempg apply --text-search-config`) is fixed the same way: every
-- stored tsvector was stemmed and stop-worded with it, and queries are parsed with it.
-- embedding_type (from 0024, `mempg apply --embedding-type vector|halfvec`) is fixed too: it is
-- the storage type of every embedding column and of their HNSW indexes.
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
    IF OLD.key IN ('embedding_dim', 'text_search_config', 'embedding_type')
       AND (TG_OP = 'DELETE' OR NEW.value IS DISTINCT FROM OLD.value) THEN
        RAISE EXCEPTION 'mempg.settings: % is fixed at % since install', OLD.key, OLD.value
            USING ERRCODE = '55000',
                  HINT = CASE OLD.key WHEN 'embedding_dim'
                              THEN 'use a new database, or write a migration that re-embeds every memory'
                              WHEN 'embedding_type'
                              THEN 'use a new database and import an export of this one (mempg export --jsonl)'
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
    'Trigger on mempg.settings: keeps embedding_dim, text_search_config and embedding_type fixed and stamps updated_at';
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

-- mempg.request_embedding_type(): what `mempg apply --embedding-type TYPE` asks for, checked here
-- alone: vector (4-byte floats, the default) or halfvec (2-byte floats: half the storage and
-- index; components beyond +-65504 are refused), and on a database that chose one already (0024
-- applied), that one.
CREATE OR REPLACE FUNCTION mempg.request_embedding_type(requested text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_installed text := (SELECT s.value FROM mempg.settings AS s WHERE s.key = 'embedding_type');
BEGIN
    IF request_embedding_type.requested IS NULL OR request_embedding_type.requested = '' THEN
        RETURN;
    END IF;
    IF request_embedding_type.requested NOT IN ('vector', 'halfvec') THEN
        RAISE EXCEPTION 'embedding_type must be vector or halfvec, got %', request_embedding_type.requested
            USING ERRCODE = '22023';
    END IF;
    IF v_installed IS NOT NULL AND request_embedding_type.requested <> v_installed THEN
        RAISE EXCEPTION '--embedding-type % refused: this database was installed with embedding type %, which is fixed',
            request_embedding_type.requested, v_installed
            USING ERRCODE = '22023',
                  HINT = 'use a new database and import an export of this one (mempg export --jsonl)';
    END IF;
END
$$;

COMMENT ON FUNCTION mempg.request_embedding_type(text) IS
    'Raises 22023 unless the requested embedding type is vector or halfvec and, once installed, the installed one';
REVOKE ALL ON FUNCTION mempg.request_embedding_type(text) FROM PUBLIC;

-- sql/memory/embedding_dim.sql
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

-- memory.embedding_type(): how embeddings are stored, vector or halfvec (0024, chosen at install),
-- read from the column type like the dimension. Every function takes and returns vector either
-- way: pgvector casts a vector to halfvec implicitly, so `embedding <=> query` compares in the
-- column's type and uses its index; a column value passed to a function is cast with ::vector.
CREATE OR REPLACE FUNCTION memory.embedding_type()
RETURNS text
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT t.typname::text FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    WHERE a.attrelid = 'memory.memories'::regclass AND a.attname = 'embedding'
$$;

COMMENT ON FUNCTION memory.embedding_type() IS
    'Storage type of memory embeddings, vector or halfvec, read from the column type (fixed at install)';

REVOKE ALL ON FUNCTION memory.embedding_type() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.embedding_type() TO authenticated, service_role;

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
    v_halfvec boolean := memory.embedding_type() = 'halfvec';  -- read once: every row's trigger calls this
BEGIN
    IF check_embedding.embedding IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', parameter USING ERRCODE = '22004';
    END IF;
    IF vector_dims(check_embedding.embedding) <> v_expected THEN
        RAISE EXCEPTION '% has % dimensions; this database stores %-dimensional embeddings',
            parameter, vector_dims(check_embedding.embedding), v_expected
            USING ERRCODE = '22023';
    END IF;
    -- halfvec storage (0024) holds components up to 65504 in magnitude; a larger norm is the
    -- only way to hold one, so the components are looked at only then
    IF v_halfvec AND vector_norm(check_embedding.embedding) > 65504
       AND (SELECT max(abs(x)) FROM unnest(check_embedding.embedding::real[]) AS x) > 65504 THEN
        RAISE EXCEPTION '% has a component beyond +-65504, which this database''s halfvec storage cannot hold', parameter
            USING ERRCODE = '22023',
                  HINT = 'give a vector normalised to length 1';
    END IF;
    IF NOT memory.embedding_is_usable(check_embedding.embedding) THEN
        RAISE EXCEPTION '% is not usable for cosine similarity (norm %, self-similarity %)', parameter,
            vector_norm(check_embedding.embedding), 1 - (check_embedding.embedding <=> check_embedding.embedding)
            USING ERRCODE = '22023',
                  HINT = 'give a non-zero vector whose components are neither huge nor tiny, for example normalised to length 1';
    END IF;
    -- stored as halfvec it must keep its direction: tiny components round to zero or to a few
    -- steps of the smallest half float (6e-8), so a vector of norm 1e-5 keeps little of it
    IF v_halfvec
       AND NOT (memory.embedding_is_usable(check_embedding.embedding::halfvec::vector)
                AND (check_embedding.embedding <=> check_embedding.embedding::halfvec::vector) <= 1e-3) THEN
        RAISE EXCEPTION '% loses its direction in this database''s halfvec storage (norm %)', parameter,
            vector_norm(check_embedding.embedding)
            USING ERRCODE = '22023',
                  HINT = 'give a vector normalised to length 1';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_embedding(vector, text) IS
    'Raises 22004 for a NULL embedding, 22023 for a wrong dimension, one unusable for cosine similarity or beyond halfvec storage';

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
        FROM memory.nearest_memory(NEW.embedding::vector, NEW.user_id, NEW.agent_id) AS n;
        v_event := CASE WHEN NOT memory.meets_threshold(v_similarity, v_settings.merge_threshold) THEN 'ADD'
                        WHEN memory.meets_threshold(v_similarity, v_settings.replace_threshold) THEN 'UPDATE'
                        ELSE 'MERGE' END;
    END IF;

    IF v_event <> 'ADD' THEN  -- the matched memory, read once
        SELECT m.metadata, m.categories, m.expires_at, v_event = 'NOOP' OR memory.embedding_is_usable(m.embedding::vector)
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
        PERFORM memory.check_embedding(NEW.embedding::vector, 'embedding');
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

-- sql/ops/vector_index_health.sql
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
                FROM memory.search_memories_exact(q.embedding::vector, q.user_id, 10, '{}', '{}', 0) AS e
                LEFT JOIN memory.search_memories(q.embedding::vector, q.user_id, 10, '{}', '{}', 0) AS a USING (id)
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

-- The embedding type chosen at install (vector unless asked otherwise), recorded once.
DO $$
DECLARE
    v_requested text := nullif(current_setting('mempg.embedding_type', true), '');
BEGIN
    PERFORM mempg.request_embedding_type(v_requested);
    INSERT INTO mempg.settings (key, value, description)
    VALUES ('embedding_type', coalesce(v_requested, 'vector'),
            'Storage type of every embedding column, vector or halfvec, fixed at install');
END
$$;

-- and, for halfvec, the columns converted
DO $$
DECLARE
    v_dim integer := mempg.embedding_dim();
    v_column record;
    v_dependent record;
    v_indexes text[];
    v_triggers text[];
    v_trigger_names text[];
    v_states text[];
    v_name text;
    v_definition text;
    v_state text;
    v_too_large bigint;
    v_too_small bigint;
BEGIN
    IF (SELECT s.value FROM mempg.settings AS s WHERE s.key = 'embedding_type') <> 'halfvec' THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
               WHERE c.relkind = 'i' AND am.amname = 'diskann'
                 AND c.relnamespace::regnamespace::text IN ('memory', 'agent')) THEN
        RAISE EXCEPTION 'embedding_type halfvec is not available with pgvectorscale''s diskann index, which indexes vector only'
            USING ERRCODE = '0A000';
    END IF;
    FOR v_column IN
        SELECT a.attrelid::regclass AS tbl, a.attnum, a.attstorage, c.relkind
        FROM pg_catalog.pg_attribute AS a
        JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
        WHERE a.attname = 'embedding' AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND c.relnamespace::regnamespace::text IN ('memory', 'agent')
          AND a.atttypid = 'extensions.vector'::regtype
        ORDER BY 1
    LOOP
        IF v_column.relkind = 'p' THEN  -- none has an embedding; one would need its partitions done
            RAISE EXCEPTION 'embedding_type halfvec cannot convert the partitioned table %', v_column.tbl
                USING ERRCODE = '0A000';
        END IF;
        -- rows a half float cannot hold, named before anything changes: a component beyond
        -- +-65504 (its norm is larger too), or all of them rounding to zero (so is its norm)
        EXECUTE format($q$
            SELECT count(*) FILTER (WHERE x.largest > 65504), count(*) FILTER (WHERE x.largest < 3e-8)
            FROM %s AS t
            CROSS JOIN LATERAL (SELECT max(abs(v)) AS largest FROM unnest(t.embedding::real[]) AS v) AS x
            WHERE vector_norm(t.embedding) > 65504 OR vector_norm(t.embedding) < 3e-8 * sqrt(%s)$q$,
            v_column.tbl, v_dim) INTO v_too_large, v_too_small;
        IF v_too_large + v_too_small > 0 THEN
            RAISE EXCEPTION '% holds % embeddings with a component beyond +-65504 and % whose components all round to zero: halfvec cannot store them',
                v_column.tbl, v_too_large, v_too_small
                USING ERRCODE = '22023',
                      HINT = 'normalise or re-embed those rows (their norm is above 65504 or below 1e-6), or keep embedding_type vector';
        END IF;
        -- what depends on the column (pg_depend: index keys and expressions, triggers on UPDATE
        -- OF it or naming it in WHEN) is dropped, and built again for the new type
        v_indexes := '{}';
        v_triggers := '{}';
        v_trigger_names := '{}';
        v_states := '{}';
        FOR v_dependent IN
            SELECT DISTINCT d.classid, d.objid
            FROM pg_catalog.pg_depend AS d
            WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = v_column.tbl
              AND d.refobjsubid = v_column.attnum
              AND d.classid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_trigger'::regclass)
        LOOP
            IF v_dependent.classid = 'pg_catalog.pg_class'::regclass THEN
                v_indexes := v_indexes || pg_catalog.pg_get_indexdef(v_dependent.objid);
                EXECUTE format('DROP INDEX %s', v_dependent.objid::regclass);
            ELSE
                SELECT g.tgname, pg_catalog.pg_get_triggerdef(g.oid), g.tgenabled::text INTO v_name, v_definition, v_state
                FROM pg_catalog.pg_trigger AS g WHERE g.oid = v_dependent.objid;
                v_trigger_names := v_trigger_names || v_name;
                v_triggers := v_triggers || v_definition;
                v_states := v_states || v_state;
                EXECUTE format('DROP TRIGGER %I ON %s', v_name, v_column.tbl);
            END IF;
        END LOOP;
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT embedding_not_zero, '
                       'ALTER COLUMN embedding TYPE halfvec(%s), '
                       'ADD CONSTRAINT embedding_not_zero CHECK (l2_norm(embedding) > 0)', v_column.tbl, v_dim);
        -- a type change resets the storage to the type's own: keep the one chosen (0002, 0013)
        IF v_column.attstorage IN ('p', 'm') THEN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN embedding SET STORAGE %s', v_column.tbl,
                           CASE v_column.attstorage WHEN 'p' THEN 'PLAIN' ELSE 'MAIN' END);
        END IF;
        FOR i IN 1 .. coalesce(cardinality(v_indexes), 0) LOOP
            EXECUTE regexp_replace(v_indexes[i], '\(embedding vector_(\w+)_ops\)', '(embedding halfvec_\1_ops)');
        END LOOP;
        FOR i IN 1 .. coalesce(cardinality(v_triggers), 0) LOOP
            EXECUTE v_triggers[i];
            IF v_states[i] <> 'O' THEN  -- as it was: disabled, replica or always
                EXECUTE format('ALTER TABLE %s %s TRIGGER %I', v_column.tbl,
                               CASE v_states[i] WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA' ELSE 'ENABLE ALWAYS' END,
                               v_trigger_names[i]);
            END IF;
        END LOOP;
    END LOOP;
    -- pgvector's HNSW takes halfvec up to 4,000 dimensions (vector up to 2,000): an install in
    -- between (text-embedding-3-large's 3,072) gets the indexes 0002, 0012 and 0013 left out
    IF v_dim > 2000 AND v_dim <= 4000 THEN
        CREATE INDEX IF NOT EXISTS memories_embedding_ann ON memory.memories USING hnsw (embedding halfvec_cosine_ops)
            WITH (m = 16, ef_construction = 128) WHERE NOT is_deleted;
        CREATE INDEX IF NOT EXISTS entities_embedding_ann ON memory.entities USING hnsw (embedding halfvec_cosine_ops)
            WITH (m = 16, ef_construction = 128) WHERE embedding IS NOT NULL AND NOT is_deleted AND merged_into IS NULL;
        CREATE INDEX IF NOT EXISTS conversations_embedding_ann ON agent.conversations USING hnsw (embedding halfvec_cosine_ops)
            WITH (m = 16, ef_construction = 128) WHERE embedding IS NOT NULL;
        CREATE INDEX IF NOT EXISTS chunks_embedding_ann ON agent.chunks USING hnsw (embedding halfvec_cosine_ops)
            WITH (m = 16, ef_construction = 128);
    END IF;
END
$$;

-- sql/memory/stored_embedding.sql
-- memory.stored_embedding: an embedding in the type the embedding columns store, vector(N) or
-- halfvec(N) by the choice made at install (0024). Functions take a query embedding as vector;
-- compared as it is with a halfvec column, it is cast to halfvec again for every row it meets
-- (the cast of a parameter is not folded into a constant), which made an exact search of 5,000
-- halfvec rows 3x slower. The search functions cast it once instead: PL/pgSQL ones into a
-- variable declared memory.memories.embedding%TYPE (every embedding column has that type: 0024
-- converts them together), SQL ones in a scalar subquery cast to this domain, which PostgreSQL
-- runs once as an InitPlan. On a vector install both casts are the identity.
DO $$
BEGIN
    IF to_regtype('memory.stored_embedding') IS NULL THEN
        EXECUTE format('CREATE DOMAIN memory.stored_embedding AS extensions.%I(%s)',
                       coalesce((SELECT s.value FROM mempg.settings AS s WHERE s.key = 'embedding_type'), 'vector'),
                       mempg.embedding_dim());
    END IF;
END
$$;

COMMENT ON DOMAIN memory.stored_embedding IS
    'An embedding in the embedding columns'' type (vector or halfvec, chosen at install), for a query cast once';

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
--     The re-sort orders by `distance + 0` (0018): PostgreSQL 17+ knows that the CTE's rows come
--     ordered by distance (its ORDER BY), so `ORDER BY distance` sorted nothing and took the
--     first rows in the index's relaxed order, out of order and short of the margin taken for
--     it (pgvector's documentation gives the same + 0).
-- memory.scope_size() counts the user's matching rows with a bounded index scan (rows not deleted:
-- an upper bound that the index answers alone), and memory.takes_exact_path() takes the exact
-- path while that count is at most memory.settings.exact_search_max_rows, or while the user's
-- share of the table is below exact_search_max_share (0022).
-- A heavy user with an HNSW index of their own (user_indexes.sql, 0022) takes the HNSW path
-- without counting when the search has no metadata or category filter: the planner takes their
-- index (the path plans each call), whose first pass is memory.user_index_ef_search().
-- The function-level SET clauses restore every planner and hnsw setting when the function returns;
-- for hnsw.ef_search and hnsw.max_scan_tuples they only carry pgvector's defaults, since the body
-- sets both (set_config(..., true) inside the function is undone at its exit): from the user's
-- share of the table (memory.ann_scan_settings(), 0018) when the search has no filter, from
-- memory.settings otherwise.
-- Thresholds compare through memory.meets_threshold(): a NaN similarity is never a match.
-- An empty metadata filter is skipped explicitly: `metadata @> '{}'` matches every row, yet the
-- planner answered it with a scan of the whole GIN index. Without filters the count reads the
-- btree alone (an index-only scan), where one query serving both cases read every counted row
-- from the heap. (Figures: docs/memory.md, "Measurements".)
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.scope_size(query_user_id text, metadata_filter jsonb,
                                             category_filter text[], bound integer)
RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
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
                    AND memory.matches_filters(m.metadata, m.categories, scope_size.metadata_filter,
                                               scope_size.category_filter)
                  LIMIT scope_size.bound + 1) AS bounded);
END
$$;

COMMENT ON FUNCTION memory.scope_size(text, jsonb, text[], integer) IS
    'Live memories of a user matching the filters, counted up to bound + 1 (routing of search)';

CREATE OR REPLACE FUNCTION memory.search_memories_exact(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true, scope memory.search_scope DEFAULT NULL)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH scoped AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               -- the query in the column's type, cast once (an InitPlan): stored_embedding.sql
               m.embedding <=> (SELECT search_memories_exact.query_embedding::memory.stored_embedding) AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_exact.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
          AND (search_memories_exact.any_agent OR memory.same_agent(m.agent_id, search_memories_exact.agent_id))
          AND memory.matches_filters(m.metadata, m.categories, search_memories_exact.metadata_filter,
                                     search_memories_exact.category_filter)
          AND memory.in_scope(search_memories_exact.scope, m.agent_id, m.run_id, m.memory_type, m.metadata,
                              m.categories, m.created_at, m.updated_at)
    )
    SELECT s.id, s.memory, s.metadata, s.categories, 1 - s.distance, s.created_at, s.updated_at
    FROM scoped AS s
    WHERE memory.meets_threshold(1 - s.distance, search_memories_exact.similarity_threshold)
    ORDER BY s.distance, s.id
    LIMIT search_memories_exact.match_count
$$;

COMMENT ON FUNCTION memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope) IS
    'Exact nearest memories of one user (btree on user_id, every distance computed); recall 1';

-- memory.user_share(): the share of memory.memories' rows (the HNSW index's entries, deleted
-- rows included) that are one user's live memories: memory.quota_usage's count (kept by
-- triggers, 0011) over pg_class.reltuples (kept by VACUUM and ANALYZE). NULL when the table has
-- never been analyzed. Row-level security decides whose count the caller reads (its own for
-- authenticated; another user's id gives 0), as it does for the memories themselves.
CREATE OR REPLACE FUNCTION memory.user_share(query_user_id text)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE WHEN c.reltuples > 0
                THEN least(1, coalesce(u.memories, 0) / c.reltuples::double precision) END
    FROM pg_catalog.pg_class AS c
    LEFT JOIN memory.quota_usage AS u ON u.user_id = user_share.query_user_id
    WHERE c.oid = 'memory.memories'::regclass
$$;

COMMENT ON FUNCTION memory.user_share(text) IS
    'Share of memory.memories'' rows that are this user''s live memories (NULL before any ANALYZE)';

-- memory.ann_scan_settings(): hnsw.ef_search and hnsw.max_scan_tuples for an iterative HNSW scan
-- that must yield `needed` rows of a user holding `share` of the index's entries (the walk meets
-- the user's rows at about that rate):
--   * ef_search, the width of the first pass, holds about 6 x needed of the user's rows: 6 x
--     needed / share entries, between memory.settings.hnsw_ef_search and twice that (and at most
--     1,000, pgvector's bound). Measured on 240,000 clustered rows (docs/memory.md, "The HNSW
--     scan follows the user's share"): a user holding 42% of them got recall@10 0.965 at 1 x (ef
--     72) and 0.975 / 0.983 at the fixed 200 (two query sets), 1.000 at 6 x (431, or 400 capped);
--     users holding 4% got 1.000 at 200 and at 400, with the same p50, but a p95 of 37 ms at 1,000
--     against 20 at 200: a small share's rows come from the iterative scan's later passes, and a wide
--     first pass only costs.
--   * max_scan_tuples, how far the walk may go, is at least 4 x needed / share entries, so that a
--     user just above the exact path's bound in a large table is not cut short at
--     memory.settings.hnsw_max_scan_tuples (3,001 memories of 10 million need about 100,000), and
--     at most the table's rows.
-- An unknown share (NULL: the table never analyzed, or outside (0, 1]) keeps the settings. A
-- share overestimated from stale statistics narrows the pass, never below the settings. The
-- arithmetic is numeric: a tiny share or a huge count does not overflow.
CREATE OR REPLACE FUNCTION memory.ann_scan_settings(share double precision, needed integer,
                                                    OUT ef_search integer, OUT max_scan_tuples integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE WHEN ann_scan_settings.share > 0 AND ann_scan_settings.share <= 1
                 AND ann_scan_settings.needed > 0
                THEN least(1000, 2 * s.hnsw_ef_search,
                           greatest(s.hnsw_ef_search,
                                    ceil(6.0 * ann_scan_settings.needed / ann_scan_settings.share::numeric)))::integer
                ELSE s.hnsw_ef_search END,
           CASE WHEN ann_scan_settings.share > 0 AND ann_scan_settings.share <= 1
                 AND ann_scan_settings.needed > 0
                THEN greatest(s.hnsw_max_scan_tuples,
                              least(2147483647, greatest(c.reltuples, 1)::numeric,
                                    ceil(4.0 * ann_scan_settings.needed / ann_scan_settings.share::numeric))::integer)
                ELSE s.hnsw_max_scan_tuples END
    FROM memory.settings AS s
    CROSS JOIN pg_catalog.pg_class AS c
    WHERE c.oid = 'memory.memories'::regclass
$$;

COMMENT ON FUNCTION memory.ann_scan_settings(double precision, integer) IS
    'hnsw.ef_search and hnsw.max_scan_tuples for an HNSW scan that must yield needed rows of a user holding share of the rows';

CREATE OR REPLACE FUNCTION memory.search_memories_ann(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true, scope memory.search_scope DEFAULT NULL)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = '40'
SET hnsw.max_scan_tuples = '20000'
SET enable_sort = 'off'
SET plan_cache_mode = 'force_custom_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    -- relaxed order: a margin of rows is taken, then re-sorted
    v_needed integer := search_memories_ann.match_count * 2 + 10;
    v_stored_query memory.memories.embedding%TYPE := search_memories_ann.query_embedding;  -- cast once: stored_embedding.sql
    v_share double precision;
    v_own_index boolean := false;
    v_scan record;
BEGIN
    -- With no filter narrowing the rows further, the first pass follows what the walk meets: the
    -- user's own index (user_indexes.sql, which the planner takes for this user), where every
    -- row is theirs and only the graph's size widens it (memory.user_index_ef_search()), or the
    -- user's share of the shared one. With a filter, the settings (share NULL).
    IF search_memories_ann.metadata_filter = '{}'::jsonb AND cardinality(search_memories_ann.category_filter) = 0
       AND search_memories_ann.any_agent AND search_memories_ann.scope IS NULL THEN
        v_own_index := memory.has_user_index(search_memories_ann.query_user_id);
        IF NOT v_own_index THEN
            v_share := memory.user_share(search_memories_ann.query_user_id);
        END IF;
    END IF;
    IF v_own_index THEN
        SELECT memory.user_index_ef_search(search_memories_ann.query_user_id) AS ef_search,
               s.hnsw_max_scan_tuples AS max_scan_tuples
        INTO v_scan FROM memory.settings AS s;
    ELSE
        SELECT * INTO v_scan FROM memory.ann_scan_settings(v_share, v_needed);
    END IF;
    PERFORM set_config('hnsw.ef_search', greatest(v_scan.ef_search, search_memories_ann.match_count)::text, true),
            set_config('hnsw.max_scan_tuples', v_scan.max_scan_tuples::text, true);
    RETURN QUERY
    WITH candidates AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               m.embedding <=> v_stored_query AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_ann.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
          AND (search_memories_ann.any_agent OR memory.same_agent(m.agent_id, search_memories_ann.agent_id))
          AND memory.matches_filters(m.metadata, m.categories, search_memories_ann.metadata_filter,
                                     search_memories_ann.category_filter)
          AND memory.in_scope(search_memories_ann.scope, m.agent_id, m.run_id, m.memory_type, m.metadata,
                              m.categories, m.created_at, m.updated_at)
        ORDER BY m.embedding <=> v_stored_query
        LIMIT v_needed
    )
    SELECT c.id, c.memory, c.metadata, c.categories, 1 - c.distance, c.created_at, c.updated_at
    FROM candidates AS c
    WHERE memory.meets_threshold(1 - c.distance, search_memories_ann.similarity_threshold)
    ORDER BY c.distance + 0, c.id  -- + 0: see below
    LIMIT search_memories_ann.match_count;
END
$$;

COMMENT ON FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope) IS
    'Nearest memories of one user through an iterative HNSW scan (for users with many memories)';

-- memory.vector_candidates(): the nearest memories of one user in a scope, by the routing rule
-- below; search_memories and the hybrid search call it once their arguments are checked.
CREATE OR REPLACE FUNCTION memory.vector_candidates(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, scope memory.search_scope)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF memory.takes_exact_path(vector_candidates.query_user_id, vector_candidates.metadata_filter,
                               vector_candidates.category_filter) THEN
        RETURN QUERY SELECT * FROM memory.search_memories_exact(
            vector_candidates.query_embedding, vector_candidates.query_user_id, vector_candidates.match_count,
            vector_candidates.metadata_filter, vector_candidates.category_filter,
            vector_candidates.similarity_threshold, NULL, true, vector_candidates.scope);
    ELSE
        RETURN QUERY SELECT * FROM memory.search_memories_ann(
            vector_candidates.query_embedding, vector_candidates.query_user_id, vector_candidates.match_count,
            vector_candidates.metadata_filter, vector_candidates.category_filter,
            vector_candidates.similarity_threshold, NULL, true, vector_candidates.scope);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope) IS
    'Nearest memories of one user in a scope, exact or iterative HNSW by the size of the user''s slice';

-- memory.takes_exact_path(): the one routing rule, for search and for deduplication: exact while
-- the user's matching rows are at most memory.settings.exact_search_max_rows, or while the user
-- holds less than exact_search_max_share of the table (0022: at 1,000,000 rows a user with 1% of
-- them searched the shared graph in 1.8x the exact path's time at recall@10 0.9875; the share is
-- the user's whole count, an upper bound of a filtered one), or when there is no vector index;
-- iterative HNSW above; a user's own index first, for a search without filters.
CREATE OR REPLACE FUNCTION memory.takes_exact_path(query_user_id text, metadata_filter jsonb, category_filter text[])
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT NOT (takes_exact_path.metadata_filter = '{}'::jsonb AND cardinality(takes_exact_path.category_filter) = 0
                AND memory.has_user_index(takes_exact_path.query_user_id))
           AND (memory.scope_size(takes_exact_path.query_user_id, takes_exact_path.metadata_filter,
                                  takes_exact_path.category_filter, s.exact_search_max_rows) <= s.exact_search_max_rows
                OR coalesce(memory.user_share(takes_exact_path.query_user_id) < s.exact_search_max_share, false)
                OR NOT memory.has_ann_index())
    FROM memory.settings AS s
$$;

COMMENT ON FUNCTION memory.takes_exact_path(text, jsonb, text[]) IS
    'Whether a search of this user with these filters takes the exact path (else iterative HNSW)';

CREATE OR REPLACE FUNCTION memory.nearest_memory(embedding vector, user_id text, agent_id text)
RETURNS TABLE (id uuid, similarity double precision)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    -- The user's size (all agents) decides the path: an upper bound of the scope's size.
    IF memory.takes_exact_path(nearest_memory.user_id, '{}', '{}') THEN
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
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
        JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
        WHERE i.indrelid = 'memory.memories'::regclass AND am.amname IN ('hnsw', 'diskann') AND i.indisvalid
          AND c.relname NOT LIKE 'memories\_ann\_user\_%')  -- a user's own index serves them alone
$$;

COMMENT ON FUNCTION memory.has_ann_index() IS
    'Whether memory.memories has a valid HNSW (or DiskANN) index; without one, search is exact';

REVOKE ALL ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.user_share(text), memory.ann_scan_settings(double precision, integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope),
    memory.takes_exact_path(text, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.user_share(text), memory.ann_scan_settings(double precision, integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope),
    memory.takes_exact_path(text, jsonb, text[]) TO authenticated, service_role;

-- sql/agent/unified_search.sql
-- agent.unified_search(): one hybrid search over a user's memories, RAG chunks and conversation
-- messages (entities join once they exist), each row saying what it is (`kind`) and where it
-- came from: origin_agent_id and origin_session_id (a memory's agent and run, a message's agent
-- and session), or origin_source_id, document_id, uri and ordinal (a chunk's repository,
-- document and place in it).
-- The ranking is the hybrid search's (hybrid_search_memories.sql), over the union of the kinds:
--   semantic side:  the nearest semantic_depth rows of each kind (memory.vector_candidates for
--                   memories, agent.vector_candidates for the others: the same routing rule,
--                   exact up to memory.settings.exact_search_max_rows rows, iterative HNSW above),
--                   ranked together by cosine similarity (one embedding space);
--   full-text side: the best candidate_depth rows by the any-term idf ranking
--                   (memory.full_text_candidates for memories,
--                   agent.full_text_candidates for the others: the same term weights, statistics
--                   per user and corpus), ranked together by score;
--   fused by memory.fused_score (rrf, k 10, by default; or weighted). Ties are broken as the
--   hybrid search breaks them (full text: the more recent row; semantic and fused: the id), so
--   that with memories alone both return the same ranking.
-- Scope: kinds chooses what is searched ('memory', 'chunk', 'conversation'; all by default);
-- agent_id narrows memories and conversations to that agent (chunks belong to no agent);
-- source_id narrows chunks to that repository (memories and conversations have none). Chunks
-- with the same text (memory.text_hash) in several documents are one hit: the best-ranked copy.
-- Cost: every side reads at most its bounded candidates of the user's own rows through the
-- user's index keys, so a search grows with the user's matching rows, not with the table.
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.takes_exact_path(): exact search for a user's rows of one kind while they are at most
-- memory.settings.exact_search_max_rows (memory.takes_exact_path's rule), or with no HNSW index.
CREATE OR REPLACE FUNCTION agent.takes_exact_path(kind text, query_user_id text, agent_id text, source_id text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_bound integer := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
    v_rows integer;
BEGIN
    IF takes_exact_path.kind = 'chunk' THEN
        IF to_regclass('agent.chunks_embedding_ann') IS NULL THEN
            RETURN true;
        END IF;
        SELECT count(*) INTO v_rows
        FROM (SELECT 1 FROM agent.chunks AS c
              WHERE c.user_id = takes_exact_path.query_user_id
                AND (takes_exact_path.source_id IS NULL OR c.source_id = takes_exact_path.source_id)
              LIMIT v_bound + 1) AS bounded;
    ELSE
        IF to_regclass('agent.conversations_embedding_ann') IS NULL THEN
            RETURN true;
        END IF;
        SELECT count(*) INTO v_rows
        FROM (SELECT 1 FROM agent.conversations AS v
              WHERE v.user_id = takes_exact_path.query_user_id
                AND (takes_exact_path.agent_id IS NULL OR v.agent_id = takes_exact_path.agent_id)
              LIMIT v_bound + 1) AS bounded;
    END IF;
    RETURN v_rows <= v_bound;
END
$$;

COMMENT ON FUNCTION agent.takes_exact_path(text, text, text, text) IS
    'Whether a vector search of a user''s chunks or messages is exact (few rows) or iterative HNSW';

-- agent.vector_candidates(): the nearest chunks (one per distinct text) and messages (those with
-- an embedding) of a user, at most `depth` of each kind, with a similarity of at least 0 (the
-- threshold of the hybrid search's vector side). The ANN queries run with enable_sort
-- off (as memory.search_memories_ann does), so the planner walks the HNSW graph instead of
-- sorting the user's rows; the exact ones compute every distance of a MATERIALIZED set. Hashes
-- are sorted in the "C" collation: byte order is all DISTINCT ON needs, and the database's
-- linguistic collation made that sort most of the cost (5 ms for 200 chunks, measured). Both
-- paths read the hashes of the nearest depth * 2 + 10 chunks only (from 0021): beside the inline
-- 1536-dim vector (storage plain) a chunk's text and hash are stored out of line, and the exact
-- path's DISTINCT ON over every chunk of the user read three TOAST pages per chunk.
CREATE OR REPLACE FUNCTION agent.vector_candidates(query_embedding vector, query_user_id text, depth integer,
                                                   kinds text[], agent_id text, source_id text)
RETURNS TABLE (kind text, id uuid, key text, score double precision, recency timestamptz)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = '40'
SET hnsw.max_scan_tuples = '20000'
SET enable_sort = 'on'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
    v_stored_query memory.memories.embedding%TYPE := vector_candidates.query_embedding;  -- cast once: stored_embedding.sql
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM set_config('hnsw.ef_search', greatest(v_settings.hnsw_ef_search, vector_candidates.depth)::text, true),
            set_config('hnsw.max_scan_tuples', v_settings.hnsw_max_scan_tuples::text, true);
    IF 'chunk' = ANY (vector_candidates.kinds) THEN
        IF agent.takes_exact_path('chunk', vector_candidates.query_user_id, NULL, vector_candidates.source_id) THEN
            RETURN QUERY
            WITH scoped AS MATERIALIZED (
                SELECT c.id, c.content_hash, c.created_at, c.embedding <=> v_stored_query AS distance
                FROM agent.chunks AS c
                WHERE c.user_id = vector_candidates.query_user_id
                  AND (vector_candidates.source_id IS NULL OR c.source_id = vector_candidates.source_id)
            ), nearest AS (
                SELECT s.id, s.content_hash, s.created_at, s.distance
                FROM scoped AS s
                ORDER BY s.distance, s.id
                LIMIT vector_candidates.depth * 2 + 10  -- copies of one text: the ANN path's margin
            ), distinct_texts AS (
                SELECT DISTINCT ON (s.content_hash COLLATE "C") s.id, s.content_hash, s.created_at, s.distance
                FROM nearest AS s
                ORDER BY s.content_hash COLLATE "C", s.distance, s.created_at, s.id
            )
            SELECT 'chunk'::text, d.id, 'chunk:' || d.content_hash, 1 - d.distance, d.created_at
            FROM distinct_texts AS d
            WHERE memory.meets_threshold(1 - d.distance, 0)
            ORDER BY d.distance, d.id
            LIMIT vector_candidates.depth;
        ELSE
            PERFORM set_config('enable_sort', 'off', true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT c.id, c.content_hash, c.created_at, c.embedding <=> v_stored_query AS distance
                FROM agent.chunks AS c
                WHERE c.user_id = vector_candidates.query_user_id
                  AND (vector_candidates.source_id IS NULL OR c.source_id = vector_candidates.source_id)
                ORDER BY c.embedding <=> v_stored_query
                LIMIT vector_candidates.depth * 2 + 10  -- relaxed order and duplicates: a margin
            ), distinct_texts AS (
                SELECT DISTINCT ON (s.content_hash COLLATE "C") s.id, s.content_hash, s.created_at, s.distance
                FROM candidates AS s
                ORDER BY s.content_hash COLLATE "C", s.distance, s.created_at, s.id
            )
            SELECT 'chunk'::text, d.id, 'chunk:' || d.content_hash, 1 - d.distance, d.created_at
            FROM distinct_texts AS d
            WHERE memory.meets_threshold(1 - d.distance, 0)
            ORDER BY d.distance, d.id
            LIMIT vector_candidates.depth;
            PERFORM set_config('enable_sort', 'on', true);
        END IF;
    END IF;
    IF 'conversation' = ANY (vector_candidates.kinds) THEN
        IF agent.takes_exact_path('conversation', vector_candidates.query_user_id, vector_candidates.agent_id, NULL) THEN
            RETURN QUERY
            WITH scoped AS MATERIALIZED (
                SELECT v.id, v.created_at, v.embedding <=> v_stored_query AS distance
                FROM agent.conversations AS v
                WHERE v.user_id = vector_candidates.query_user_id AND v.embedding IS NOT NULL
                  AND (vector_candidates.agent_id IS NULL OR v.agent_id = vector_candidates.agent_id)
            )
            SELECT 'conversation'::text, s.id, 'conversation:' || s.id, 1 - s.distance, s.created_at
            FROM scoped AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance, s.id
            LIMIT vector_candidates.depth;
        ELSE
            PERFORM set_config('enable_sort', 'off', true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT v.id, v.created_at, v.embedding <=> v_stored_query AS distance
                FROM agent.conversations AS v
                WHERE v.user_id = vector_candidates.query_user_id AND v.embedding IS NOT NULL
                  AND (vector_candidates.agent_id IS NULL OR v.agent_id = vector_candidates.agent_id)
                ORDER BY v.embedding <=> v_stored_query
                LIMIT vector_candidates.depth * 2 + 10
            )
            SELECT 'conversation'::text, s.id, 'conversation:' || s.id, 1 - s.distance, s.created_at
            FROM candidates AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance + 0, s.id  -- + 0: a real re-sort (search_paths.sql)
            LIMIT vector_candidates.depth;
            PERFORM set_config('enable_sort', 'on', true);
        END IF;
    END IF;
END
$$;

COMMENT ON FUNCTION agent.vector_candidates(vector, text, integer, text[], text, text) IS
    'Nearest chunks (one per distinct text) and messages of a user, at most depth of each kind';

-- agent.full_text_candidates(): memory.full_text_candidates' ranking over a user's chunks and
-- messages together: each distinct query lexeme's documents are counted (up to
-- memory.settings.full_text_common_docs + 1 per kind) through the (user, lexeme) GIN keys of
-- memory.user_terms, weighted by memory.term_weight, the selective terms (at most that many
-- documents; else the rarest) choose at most 8 x (full_text_common_docs + 1) candidates per kind,
-- and a candidate scores the summed weights of the terms it holds. At most 8 terms (the rarest).
-- A chunk text held by several documents is one candidate (its best-ranked copy).
-- SECURITY DEFINER (0015), as memory.full_text_candidates(): under row-level security the GIN keys'
-- && and @> (not LEAKPROOF) could not be index conditions for the application's role; it reads
-- the rows of memory.lookup_scope(query_user_id) only and returns ids, which the caller reads
-- under row-level security.
CREATE OR REPLACE FUNCTION agent.full_text_candidates(query_text text, query_user_id text, depth integer,
                                                      kinds text[], agent_id text, source_id text)
RETURNS TABLE (kind text, id uuid, key text, score double precision, recency timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(full_text_candidates.query_user_id);
    v_common integer := (SELECT s.full_text_common_docs FROM memory.settings AS s);
    v_chunks boolean := 'chunk' = ANY (full_text_candidates.kinds);
    v_messages boolean := 'conversation' = ANY (full_text_candidates.kinds);
    v_terms tsquery[];
    v_keys text[];
    v_docs bigint[];
    v_weights double precision[] := '{}';
    v_choose text[] := '{}';
BEGIN
    IF NOT (v_chunks OR v_messages) THEN
        RETURN;
    END IF;
    SELECT array_agg(c.term ORDER BY c.docs, c.lexeme), array_agg(c.user_key ORDER BY c.docs, c.lexeme),
           array_agg(c.docs ORDER BY c.docs, c.lexeme)
    INTO v_terms, v_keys, v_docs
    FROM (SELECT l.lexeme, memory.lexeme_query(l.lexeme) AS term, k.user_key,
                 least((SELECT count(*) FROM (SELECT 1 FROM agent.chunks AS c
                                              WHERE v_chunks AND memory.user_terms(c.user_id, c.fts) @> ARRAY[k.user_key]
                                                AND (c.user_id = v_user) IS TRUE
                                                AND (full_text_candidates.source_id IS NULL
                                                     OR c.source_id = full_text_candidates.source_id)
                                              LIMIT v_common + 1) AS bounded)
                       + (SELECT count(*) FROM (SELECT 1 FROM agent.conversations AS v
                                                WHERE v_messages AND memory.user_terms(v.user_id, v.fts) @> ARRAY[k.user_key]
                                                  AND (v.user_id = v_user) IS TRUE
                                                  AND (full_text_candidates.agent_id IS NULL
                                                       OR v.agent_id = full_text_candidates.agent_id)
                                                LIMIT v_common + 1) AS bounded),
                       v_common + 1) AS docs
          FROM unnest(to_tsvector(memory.text_search_config(), full_text_candidates.query_text)) AS l,
               LATERAL (SELECT v_user || chr(31) || l.lexeme) AS k(user_key)
          OFFSET 0) AS c
    WHERE c.docs > 0;
    IF v_terms IS NULL THEN
        RETURN;  -- only stop words, or no term in the user's rows
    END IF;
    v_terms := v_terms[1:8];
    v_keys := v_keys[1:8];
    v_docs := v_docs[1:8];
    FOR i IN 1 .. cardinality(v_terms) LOOP
        v_weights := v_weights || memory.term_weight(v_docs[i]);
        IF v_docs[i] <= v_common OR i = 1 THEN
            v_choose := v_choose || v_keys[i];
        END IF;
    END LOOP;

    RETURN QUERY
    WITH candidates AS (
        (SELECT 'chunk'::text AS kind, c.id, 'chunk:' || c.content_hash AS key, c.fts, c.created_at AS recency
         FROM agent.chunks AS c
         WHERE v_chunks AND memory.user_terms(c.user_id, c.fts) && v_choose
           AND (c.user_id = v_user) IS TRUE
           AND (full_text_candidates.source_id IS NULL OR c.source_id = full_text_candidates.source_id)
         LIMIT 8 * (v_common + 1))
        UNION ALL
        (SELECT 'conversation'::text, v.id, 'conversation:' || v.id, v.fts, v.created_at
         FROM agent.conversations AS v
         WHERE v_messages AND memory.user_terms(v.user_id, v.fts) && v_choose
           AND (v.user_id = v_user) IS TRUE
           AND (full_text_candidates.agent_id IS NULL OR v.agent_id = full_text_candidates.agent_id)
         LIMIT 8 * (v_common + 1))
    ), scored AS (
        SELECT DISTINCT ON (c.key COLLATE "C") c.kind, c.id, c.key, c.recency,
               (SELECT sum(t.weight) FROM unnest(v_terms, v_weights) AS t(term, weight) WHERE c.fts @@ t.term) AS text_score
        FROM candidates AS c
        ORDER BY c.key COLLATE "C", text_score DESC, c.recency, c.id
    )
    SELECT s.kind, s.id, s.key, s.text_score, s.recency
    FROM scored AS s
    ORDER BY s.text_score DESC, s.recency DESC, s.id
    LIMIT full_text_candidates.depth;
END
$$;

COMMENT ON FUNCTION agent.full_text_candidates(text, text, integer, text[], text, text) IS
    'Any-term full-text ranking of a user''s chunks (one per distinct text) and messages by the summed idf of matched terms';

-- The signature changes (semantic_depth, 0017): the old one is dropped, not left as an overload.
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer);
CREATE OR REPLACE FUNCTION agent.unified_search(
    query_text text,
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 10,
    kinds text[] DEFAULT '{memory,chunk,conversation}',
    agent_id text DEFAULT NULL,
    source_id text DEFAULT NULL,
    full_text_weight double precision DEFAULT 1,
    semantic_weight double precision DEFAULT 1,
    rrf_k integer DEFAULT 10,
    fusion text DEFAULT 'rrf',
    candidate_depth integer DEFAULT 20,
    semantic_depth integer DEFAULT 10)
RETURNS TABLE (kind text, id uuid, content text, metadata jsonb, origin_agent_id text, origin_session_id text,
               origin_source_id text, document_id uuid, uri text, ordinal integer, similarity double precision, full_text_rank bigint,
               semantic_rank bigint, score double precision, created_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max_id_chars integer := (SELECT s.max_id_chars FROM memory.settings AS s);
    v_depth integer;
    v_semantic_depth integer;
    v_scope memory.search_scope;
    v_memories boolean;
    v_stored_query memory.memories.embedding%TYPE;  -- the query, cast once: stored_embedding.sql
BEGIN
    PERFORM memory.check_query_text(unified_search.query_text);
    PERFORM memory.check_embedding(unified_search.query_embedding, 'query_embedding');
    PERFORM memory.check_label(unified_search.query_user_id, 'query_user_id', v_max_id_chars, true);
    PERFORM memory.check_count(unified_search.match_count, 'match_count');
    PERFORM memory.check_count(unified_search.candidate_depth, 'candidate_depth');
    PERFORM memory.check_count(unified_search.semantic_depth, 'semantic_depth');
    PERFORM memory.check_label(unified_search.agent_id, 'agent_id', v_max_id_chars);
    PERFORM memory.check_label(unified_search.source_id, 'source_id', v_max_id_chars);
    IF unified_search.kinds IS NULL THEN
        RAISE EXCEPTION 'kinds must not be NULL (memory, chunk, conversation)' USING ERRCODE = '22004';
    END IF;
    IF cardinality(unified_search.kinds) = 0 OR array_position(unified_search.kinds, NULL) IS NOT NULL
       OR NOT unified_search.kinds <@ ARRAY['memory', 'chunk', 'conversation'] THEN
        RAISE EXCEPTION 'kinds must be a non-empty list of memory, chunk, conversation, got %',
            left(unified_search.kinds::text, 200) USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_fusion(unified_search.fusion, unified_search.full_text_weight,
                                unified_search.semantic_weight, unified_search.rrf_k);
    v_scope := memory.search_scope(unified_search.agent_id, NULL, NULL, NULL, NULL);
    PERFORM memory.take_token('hybrid_search', unified_search.query_user_id);  -- rate limit: rate_limits.sql
    v_stored_query := unified_search.query_embedding;  -- once checked: a bad one gets check_embedding's error
    v_depth := greatest(unified_search.candidate_depth, unified_search.match_count);
    v_semantic_depth := greatest(unified_search.semantic_depth, unified_search.match_count);
    v_memories := 'memory' = ANY (unified_search.kinds);

    RETURN QUERY
    WITH semantic AS (
        SELECT 'memory'::text AS kind, s.id, 'memory:' || s.id AS key, s.similarity AS raw_score, s.updated_at AS recency
        FROM memory.vector_candidates(unified_search.query_embedding, unified_search.query_user_id, v_semantic_depth,
                                      '{}', '{}', 0, v_scope) AS s
        WHERE v_memories
        UNION ALL
        SELECT a.kind, a.id, a.key, a.score, a.recency
        FROM agent.vector_candidates(unified_search.query_embedding, unified_search.query_user_id, v_semantic_depth,
                                     unified_search.kinds, unified_search.agent_id, unified_search.source_id) AS a
    ), full_text AS (
        SELECT 'memory'::text AS kind, f.id, 'memory:' || f.id AS key, f.text_score AS raw_score, f.updated_at AS recency
        FROM memory.full_text_candidates(unified_search.query_text, NULL, unified_search.query_user_id, v_depth, '{}',
                                         '{}', v_scope) AS f
        WHERE v_memories
        UNION ALL
        SELECT a.kind, a.id, a.key, a.score, a.recency
        FROM agent.full_text_candidates(unified_search.query_text, unified_search.query_user_id, v_depth,
                                        unified_search.kinds, unified_search.agent_id, unified_search.source_id) AS a
    ), semantic_ranked AS (
        SELECT se.*, row_number() OVER (ORDER BY se.raw_score DESC, se.id) AS rank,
               memory.normalised_score(se.raw_score, min(se.raw_score) OVER (), max(se.raw_score) OVER ()) AS norm
        FROM semantic AS se
    ), full_text_ranked AS (
        SELECT ft.*, row_number() OVER (ORDER BY ft.raw_score DESC, ft.recency DESC, ft.id) AS rank,
               memory.normalised_score(ft.raw_score, min(ft.raw_score) OVER (), max(ft.raw_score) OVER ()) AS norm
        FROM full_text AS ft
    ), fused AS (
        SELECT j.* FROM (
            SELECT coalesce(se.kind, ft.kind) AS hit_kind, coalesce(se.id, ft.id) AS hit_id, ft.rank AS text_rank,
                   se.rank AS vector_rank,
                   memory.fused_score(unified_search.fusion, unified_search.full_text_weight,
                                      unified_search.semantic_weight, unified_search.rrf_k, ft.rank, se.rank, ft.norm,
                                      se.norm) AS fused_score,
                   greatest(se.recency, ft.recency) AS recency
            FROM semantic_ranked AS se
            FULL JOIN full_text_ranked AS ft ON ft.key = se.key) AS j
        ORDER BY j.fused_score DESC, j.hit_id
        LIMIT unified_search.match_count
    )
    SELECT f.hit_kind, f.hit_id, coalesce(m.memory, c.content, v.content), coalesce(m.metadata, d.metadata, v.metadata),
           coalesce(m.agent_id, v.agent_id), coalesce(m.run_id, v.session_id), c.source_id, c.document_id, d.uri,
           c.ordinal,
           1 - (coalesce(m.embedding, c.embedding, v.embedding) <=> v_stored_query),
           f.text_rank, f.vector_rank, f.fused_score, coalesce(m.created_at, c.created_at, v.created_at)
    -- each hit read by its primary key (LIMIT 1 keeps these from being flattened into joins:
    -- estimating 2,000 fused rows, the planner hashed every row of the user's three tables, 25 of
    -- a 64 ms search)
    FROM fused AS f
    LEFT JOIN LATERAL (SELECT x.* FROM memory.memories AS x
                       WHERE f.hit_kind = 'memory' AND x.id = f.hit_id LIMIT 1) AS m ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.chunks AS x
                       WHERE f.hit_kind = 'chunk' AND x.id = f.hit_id LIMIT 1) AS c ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.documents AS x WHERE x.id = c.document_id LIMIT 1) AS d ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.conversations AS x
                       WHERE f.hit_kind = 'conversation' AND x.id = f.hit_id LIMIT 1) AS v ON true
    ORDER BY f.fused_score DESC, f.hit_id;
END
$$;

COMMENT ON FUNCTION agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer) IS
    'Hybrid search over a user''s memories, RAG chunks and conversations; each row names its kind and origin';

REVOKE ALL ON FUNCTION agent.takes_exact_path(text, text, text, text),
    agent.vector_candidates(vector, text, integer, text[], text, text),
    agent.full_text_candidates(text, text, integer, text[], text, text),
    agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.takes_exact_path(text, text, text, text),
    agent.vector_candidates(vector, text, integer, text[], text, text),
    agent.full_text_candidates(text, text, integer, text[], text, text),
    agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer)
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
    v_stored_query memory.memories.embedding%TYPE;  -- the query, cast once: stored_embedding.sql
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
    v_stored_query := search_entities.query_embedding;  -- once checked: a bad one gets check_embedding's error
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
        FROM (SELECT e.id, 1 - (e.embedding <=> v_stored_query) AS similarity
              FROM memory.entities AS e
              WHERE search_entities.query_embedding IS NOT NULL AND e.embedding IS NOT NULL
                AND e.user_id = search_entities.query_user_id AND NOT e.is_deleted AND e.merged_into IS NULL
                AND (search_entities.type_filter IS NULL OR e.entity_type = search_entities.type_filter)
              ORDER BY e.embedding <=> v_stored_query
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

-- sql/memory/text_search_memories.sql
-- Full-text search for natural-language queries: any query term may match (a question is not a
-- keyword query: websearch_to_tsquery's every-term semantics matched almost nothing), and a
-- memory scores the sum of the inverse document frequencies of the query terms it contains,
-- counted over the user's own memories (BM25's idf with b = 0 and a saturated term frequency:
-- memories are short, so a term's frequency inside one carries little; docs/memory.md has the
-- measurements that chose this). The statistics are the user's alone: no ranking depends on
-- another user's memories. Stored tsvectors stay in the heap row (storage MAIN, 0010): scoring
-- reads every candidate's tsvector, and a TOASTed one cost a TOAST fetch per test.
-- Cost is bounded, whatever the user's size: each query term's documents are counted up to
-- memory.settings.full_text_common_docs + 1, and
-- only the terms at or under that bound ("selective" terms) choose the candidates; a common
-- term (a speaker's name, a word in every other memory) still adds its small idf to a
-- candidate's score but does not pull in half the user's memories. When every term is common,
-- the rarest one chooses at most that many candidates. At most 8 terms (the rarest) are used.
-- A term in none of the user's memories is dropped (0017): until then, the rarest such term
-- chose alone and the search found nothing although other terms matched.
-- The index is a GIN over memory.user_terms(user_id, fts): each key is one user's lexeme, so a
-- term's posting list holds that user's memories only. A GIN on (user_id, fts) intersects the
-- user's whole posting list with the term's list of every user, for each term; that was most of
-- the cost for a user with thousands of memories. The user_id tests below are written so that
-- they stay filters (IS TRUE), never a second bitmap over the user's rows.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- memory.text_search_config(): the text-search configuration of memory.memories.fts, read from
-- the generated column's expression (fixed at install), so that queries are parsed, stemmed and
-- stop-worded exactly as the memories were.
CREATE OR REPLACE FUNCTION memory.text_search_config()
RETURNS regconfig
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT substring(pg_get_expr(d.adbin, d.adrelid) FROM $re$to_tsvector\('((?:[^']|'')+)'::regconfig$re$)::regconfig
    FROM pg_catalog.pg_attrdef AS d
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
    WHERE d.adrelid = 'memory.memories'::regclass AND a.attname = 'fts'
$$;

COMMENT ON FUNCTION memory.text_search_config() IS
    'Text-search configuration of memory.memories.fts (chosen at install)';

-- memory.user_terms(): the keys of the full-text index, one per (user, lexeme); chr(31) cannot
-- occur in a lexeme, so keys of two users never meet.
CREATE OR REPLACE FUNCTION memory.user_terms(user_id text, fts tsvector)
RETURNS text[]
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT array_agg(user_terms.user_id || chr(31) || l.lexeme)
    FROM unnest(tsvector_to_array(user_terms.fts)) AS l(lexeme)
$$;

COMMENT ON FUNCTION memory.user_terms(text, tsvector) IS
    'Index keys of a memory''s lexemes, one per (user, lexeme): the full-text index expression';

-- memory.lexeme_query(): a tsquery matching one lexeme exactly (no re-parsing, no stemming).
CREATE OR REPLACE FUNCTION memory.lexeme_query(lexeme text)
RETURNS tsquery
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT ('''' || replace(replace(lexeme_query.lexeme, '\', '\\'), '''', '''''') || '''')::tsquery
$$;

COMMENT ON FUNCTION memory.lexeme_query(text) IS 'A tsquery that matches exactly this lexeme';

-- memory.full_text_candidates(): the ranking itself, for text_search_memories and the hybrid
-- search (which checked their arguments already). similarity is the cosine similarity to
-- query_embedding when one is given (the hybrid search returns it for every row).
-- plan_cache_mode force_generic_plan: the plans do not depend on the values (the index, then a
-- sort of at most 8 x (full_text_common_docs + 1) rows), and planning them anew on every call was
-- 0.8 ms of a heavy user's 2.1 ms search.
-- SECURITY DEFINER (0015): as the application's role, row-level security kept the per-user term
-- index (memories_user_terms) from serving the counts and the candidates (its && and @> are not
-- LEAKPROOF, lookup_scope.sql): every search read all the user's memories, or the whole table.
-- It reads the memories of memory.lookup_scope(query_user_id) only: the caller's own for
-- authenticated (another user's id gives no row, as the policy would), any user's for service_role.
CREATE OR REPLACE FUNCTION memory.full_text_candidates(
    query_text text, query_embedding vector, query_user_id text, depth integer, metadata_filter jsonb,
    category_filter text[], scope memory.search_scope)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               text_score double precision, created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(full_text_candidates.query_user_id);
    v_stored_query memory.memories.embedding%TYPE := full_text_candidates.query_embedding;  -- cast once: stored_embedding.sql
    v_common integer := (SELECT s.full_text_common_docs FROM memory.settings AS s);
    v_terms tsquery[];
    v_keys text[];
    v_docs bigint[];
    v_choose text[] := '{}';
    -- eight scalar slots, not arrays: the score below reads them for every candidate
    t1 tsquery; t2 tsquery; t3 tsquery; t4 tsquery; t5 tsquery; t6 tsquery; t7 tsquery; t8 tsquery;
    w1 double precision := 0; w2 double precision := 0; w3 double precision := 0; w4 double precision := 0;
    w5 double precision := 0; w6 double precision := 0; w7 double precision := 0; w8 double precision := 0;
    v_weights double precision[] := '{}';
BEGIN
    -- each distinct query lexeme with its document count (bounded), rarest first
    SELECT array_agg(c.term ORDER BY c.docs, c.lexeme), array_agg(c.user_key ORDER BY c.docs, c.lexeme),
           array_agg(c.docs ORDER BY c.docs, c.lexeme)
    INTO v_terms, v_keys, v_docs
    FROM (SELECT l.lexeme, memory.lexeme_query(l.lexeme) AS term, k.user_key,
                 (SELECT count(*) FROM (SELECT 1 FROM memory.memories AS m
                                        WHERE memory.user_terms(m.user_id, m.fts) @> ARRAY[k.user_key]
                                          AND (m.user_id = v_user) IS TRUE
                                          AND NOT m.is_deleted
                                        LIMIT v_common + 1) AS bounded) AS docs
          FROM unnest(to_tsvector(memory.text_search_config(), full_text_candidates.query_text)) AS l,
               LATERAL (SELECT v_user || chr(31) || l.lexeme) AS k(user_key)
          OFFSET 0) AS c  -- OFFSET 0: each count once, not once per aggregate that orders by it
    WHERE c.docs > 0;  -- a term in none of the user's memories neither scores nor chooses
    IF v_terms IS NULL OR v_user IS NULL THEN
        RETURN;  -- only stop words or unknown terms, or another user's memories
    END IF;
    v_terms := v_terms[1:8];
    v_keys := v_keys[1:8];
    v_docs := v_docs[1:8];
    FOR i IN 1 .. cardinality(v_terms) LOOP
        -- BM25's idf over a collection of 1,000 (memory.term_weight, fusion.sql). The user's memories
        -- are not counted for it (that count was the largest cost of a heavy user's query): with
        -- document frequencies capped at full_text_common_docs + 1, the ranking hardly depends on it.
        v_weights := v_weights || memory.term_weight(v_docs[i]);
        IF v_docs[i] <= v_common OR i = 1 THEN
            v_choose := v_choose || v_keys[i];
        END IF;
    END LOOP;
    t1 := v_terms[1]; t2 := v_terms[2]; t3 := v_terms[3]; t4 := v_terms[4];
    t5 := v_terms[5]; t6 := v_terms[6]; t7 := v_terms[7]; t8 := v_terms[8];
    w1 := coalesce(v_weights[1], 0); w2 := coalesce(v_weights[2], 0); w3 := coalesce(v_weights[3], 0);
    w4 := coalesce(v_weights[4], 0); w5 := coalesce(v_weights[5], 0); w6 := coalesce(v_weights[6], 0);
    w7 := coalesce(v_weights[7], 0); w8 := coalesce(v_weights[8], 0);

    -- score on the index columns alone; the best `depth` rows are then read whole by id
    RETURN QUERY
    WITH ranked AS MATERIALIZED (
        SELECT m.id,
               CASE WHEN m.fts @@ t1 THEN w1 ELSE 0 END + CASE WHEN m.fts @@ t2 THEN w2 ELSE 0 END
               + CASE WHEN m.fts @@ t3 THEN w3 ELSE 0 END + CASE WHEN m.fts @@ t4 THEN w4 ELSE 0 END
               + CASE WHEN m.fts @@ t5 THEN w5 ELSE 0 END + CASE WHEN m.fts @@ t6 THEN w6 ELSE 0 END
               + CASE WHEN m.fts @@ t7 THEN w7 ELSE 0 END + CASE WHEN m.fts @@ t8 THEN w8 ELSE 0 END AS score
        FROM (SELECT m.id, m.fts, m.updated_at FROM memory.memories AS m
              WHERE memory.user_terms(m.user_id, m.fts) && v_choose
                AND (m.user_id = v_user) IS TRUE
                AND memory.is_live(m.is_deleted, m.expires_at)
                AND memory.matches_filters(m.metadata, m.categories, full_text_candidates.metadata_filter,
                                           full_text_candidates.category_filter)
                AND memory.in_scope(full_text_candidates.scope, m.agent_id, m.run_id, m.memory_type,
                                    m.metadata, m.categories, m.created_at, m.updated_at)
              LIMIT 8 * (v_common + 1)) AS m
        ORDER BY score DESC, m.updated_at DESC, m.id  -- ties: the more recent memory first
        LIMIT full_text_candidates.depth
    )
    SELECT m.id, m.memory, m.metadata, m.categories,
           CASE WHEN full_text_candidates.query_embedding IS NULL THEN NULL
                ELSE 1 - (m.embedding OPERATOR(extensions.<=>) v_stored_query) END,
           r.score, m.created_at, m.updated_at
    FROM ranked AS r
    JOIN memory.memories AS m ON m.id = r.id
    ORDER BY r.score DESC, m.updated_at DESC, r.id;
END
$$;

COMMENT ON FUNCTION memory.full_text_candidates(text, vector, text, integer, jsonb, text[], memory.search_scope) IS
    'Any-term full-text ranking of a user''s memories by the summed idf of matched terms';

-- memory.text_search_memories(): the full-text side on its own, with the search's scoping; it
-- takes a token of the caller's 'search' bucket after the arguments are checked. VOLATILE, like
-- search_memories, since taking the token writes: PostgREST runs a STABLE function in a read-only
-- transaction, where that write fails (25006).
CREATE OR REPLACE FUNCTION memory.text_search_memories(
    query_text text,
    query_user_id text,
    match_count integer DEFAULT 10,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    filters jsonb DEFAULT NULL,
    created_within tstzrange DEFAULT NULL,
    updated_within tstzrange DEFAULT NULL)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], text_score double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_scope memory.search_scope;
BEGIN
    PERFORM memory.check_query_text(text_search_memories.query_text);
    PERFORM memory.check_label(text_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(text_search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(text_search_memories.metadata_filter, text_search_memories.category_filter);
    v_scope := memory.search_scope(text_search_memories.agent_id, text_search_memories.run_id,
                                   text_search_memories.filters, text_search_memories.created_within,
                                   text_search_memories.updated_within);
    PERFORM memory.take_token('search', text_search_memories.query_user_id);  -- rate limit: rate_limits.sql
    RETURN QUERY
    SELECT c.id, c.memory, c.metadata, c.categories, c.text_score, c.created_at, c.updated_at
    FROM memory.full_text_candidates(text_search_memories.query_text, NULL, text_search_memories.query_user_id,
                                     text_search_memories.match_count, text_search_memories.metadata_filter,
                                     memory.normalize_categories(text_search_memories.category_filter), v_scope) AS c;
END
$$;

COMMENT ON FUNCTION memory.text_search_memories(text, text, integer, jsonb, text[], text, text, jsonb, tstzrange, tstzrange) IS
    'Full-text search of a user''s live memories: any term matches, rarer and more terms rank higher';

-- memory.check_query_text(): the query text of a full-text or hybrid search.
CREATE OR REPLACE FUNCTION memory.check_query_text(query_text text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max_query_chars integer := (SELECT s.max_query_chars FROM memory.settings AS s);
BEGIN
    IF check_query_text.query_text IS NULL THEN
        RAISE EXCEPTION 'query_text must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(check_query_text.query_text) = '' THEN
        RAISE EXCEPTION 'query_text must not be empty (use search_memories for vector-only search)'
            USING ERRCODE = '22023';
    END IF;
    IF length(check_query_text.query_text) > v_max_query_chars THEN
        RAISE EXCEPTION 'query_text is % characters long; at most % are allowed',
            length(check_query_text.query_text), v_max_query_chars USING ERRCODE = '22001';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_query_text(text) IS
    'Raises 22004 for NULL, 22023 for blank, 22001 over memory.settings.max_query_chars';

REVOKE ALL ON FUNCTION memory.text_search_config(), memory.user_terms(text, tsvector), memory.lexeme_query(text),
    memory.full_text_candidates(text, vector, text, integer, jsonb, text[], memory.search_scope),
    memory.text_search_memories(text, text, integer, jsonb, text[], text, text, jsonb, tstzrange, tstzrange),
    memory.check_query_text(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.text_search_config(), memory.user_terms(text, tsvector), memory.lexeme_query(text),
    memory.full_text_candidates(text, vector, text, integer, jsonb, text[], memory.search_scope),
    memory.text_search_memories(text, text, integer, jsonb, text[], text, text, jsonb, tstzrange, tstzrange),
    memory.check_query_text(text) TO authenticated, service_role;
