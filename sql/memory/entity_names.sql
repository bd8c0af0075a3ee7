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
