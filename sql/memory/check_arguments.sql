-- Argument checks shared by the memory functions, so that bad input always gets the same clear
-- error: SQLSTATE 22004 for a NULL that is required, 22023 for a value out of range, and the
-- message names the parameter.
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
END
$$;

COMMENT ON FUNCTION memory.check_embedding(vector, text) IS
    'Raises 22004 for a NULL embedding and 22023 for one of the wrong dimension';

CREATE OR REPLACE FUNCTION memory.check_filters(metadata_filter jsonb, category_filter text[])
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF metadata_filter IS NULL OR jsonb_typeof(metadata_filter) <> 'object' THEN
        RAISE EXCEPTION 'metadata_filter must be a JSON object, got %', coalesce(jsonb_typeof(metadata_filter), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF category_filter IS NULL THEN
        RAISE EXCEPTION 'category_filter must not be NULL (use ''{}'' for no filter)' USING ERRCODE = '22004';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_filters(jsonb, text[]) IS
    'Raises 22023 unless metadata_filter is a JSON object, 22004 for a NULL category_filter';

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

REVOKE ALL ON FUNCTION memory.check_embedding(vector, text), memory.check_filters(jsonb, text[]),
    memory.check_count(integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.check_embedding(vector, text), memory.check_filters(jsonb, text[]),
    memory.check_count(integer, text, integer) TO authenticated, service_role;
