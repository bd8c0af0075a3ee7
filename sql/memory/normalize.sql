-- Pure helpers that define what "the same memory" means: text is compared after trimming,
-- collapsing whitespace and lower-casing; its hash is the sha256 of that normalised text
-- (PostgreSQL's built-in sha256(): no pgcrypto needed). Categories are trimmed, lower-cased,
-- de-duplicated and sorted, so {' Food', 'food'} and {'food'} are one set.
-- normalize_text() and text_hash() have no SET clause, so the planner can inline them into the
-- generated hash column: their bodies use built-in functions and schema-qualified names only.
-- normalize_categories() pins search_path (pg_catalog, extensions, pg_temp).
CREATE OR REPLACE FUNCTION memory.normalize_text(memory text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT lower(regexp_replace(btrim(normalize_text.memory), '\s+', ' ', 'g'))
$$;

COMMENT ON FUNCTION memory.normalize_text(text) IS
    'Memory text as compared for exact duplicates: trimmed, whitespace collapsed, lower-cased';

CREATE OR REPLACE FUNCTION memory.text_hash(memory text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT encode(sha256(convert_to(memory.normalize_text(text_hash.memory), 'UTF8')), 'hex')
$$;

COMMENT ON FUNCTION memory.text_hash(text) IS
    'sha256 (hex) of the normalised memory text; memories.hash is generated from it';

CREATE OR REPLACE FUNCTION memory.normalize_categories(categories text[])
RETURNS text[]
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce(array_agg(DISTINCT c.category ORDER BY c.category), '{}')
    FROM (SELECT lower(btrim(raw)) AS category FROM unnest(normalize_categories.categories) AS raw) AS c
    WHERE c.category <> ''
$$;

COMMENT ON FUNCTION memory.normalize_categories(text[]) IS
    'Categories trimmed, lower-cased, without blanks or duplicates, sorted';

REVOKE ALL ON FUNCTION memory.normalize_text(text), memory.text_hash(text),
    memory.normalize_categories(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.normalize_text(text), memory.text_hash(text),
    memory.normalize_categories(text[]) TO authenticated, service_role;
