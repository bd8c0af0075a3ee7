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
