-- Argument checks of the agent functions, with the SQLSTATEs of the memory functions
-- (docs/agent.md, "Bad input"): 22004 a required value is NULL, 22023 a value that is not
-- allowed, 22001 over a bound of agent.settings or memory.settings. Identifiers are checked by
-- memory.check_label, metadata by memory.check_metadata and embeddings by memory.check_embedding,
-- so one rule holds for every entry point of mempg.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.check_content(): the text of a message or a chunk: not NULL, not blank, at most
-- agent.settings.max_content_chars characters.
CREATE OR REPLACE FUNCTION agent.check_content(value text, parameter text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max integer := (SELECT s.max_content_chars FROM agent.settings AS s);
BEGIN
    IF check_content.value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', check_content.parameter USING ERRCODE = '22004';
    END IF;
    IF length(check_content.value) > v_max THEN
        RAISE EXCEPTION '% is % characters long; at most % are allowed', check_content.parameter,
            length(check_content.value), v_max USING ERRCODE = '22001';
    END IF;
    IF check_content.value !~ '[^[:space:]]' THEN
        RAISE EXCEPTION '% must not be empty or blank', check_content.parameter USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION agent.check_content(text, text) IS
    'Raises 22004 for NULL, 22023 for blank, 22001 over agent.settings.max_content_chars';

-- agent.check_identifiers(): the identifiers of a call (user_id required, the others optional
-- unless named in `required`), each at most memory.settings.max_id_chars characters; uri and
-- path-like values at most 2,048.
CREATE OR REPLACE FUNCTION agent.check_identifiers(names text[], vals text[], required text[] DEFAULT '{user_id}')
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max integer := (SELECT s.max_id_chars FROM memory.settings AS s);
BEGIN
    FOR i IN 1 .. cardinality(check_identifiers.names) LOOP
        PERFORM memory.check_label(check_identifiers.vals[i], check_identifiers.names[i],
                                   CASE WHEN check_identifiers.names[i] = 'uri' THEN 2048 ELSE v_max END,
                                   check_identifiers.names[i] = ANY (check_identifiers.required));
    END LOOP;
END
$$;

COMMENT ON FUNCTION agent.check_identifiers(text[], text[], text[]) IS
    'Raises 22004 for a required NULL, 22023 for a blank identifier, 22001 over memory.settings.max_id_chars (uri: 2048)';

-- agent.check_metadata(): a JSON object within memory.settings' bytes and depth.
CREATE OR REPLACE FUNCTION agent.check_metadata(value jsonb, parameter text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_metadata(check_metadata.value, check_metadata.parameter, v_settings.max_metadata_bytes,
                                  v_settings.max_metadata_depth);
END
$$;

COMMENT ON FUNCTION agent.check_metadata(jsonb, text) IS
    'Raises 22004 for NULL, 22023 unless a JSON object, 22001 over memory.settings'' bytes or depth';

-- agent.check_page(): a keyset cursor (both halves or neither) and a page size.
CREATE OR REPLACE FUNCTION agent.check_page(cursor_parts integer, page_size integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF check_page.cursor_parts = 1 THEN
        RAISE EXCEPTION 'the cursor is two values (a time and an id): give both or neither' USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(check_page.page_size, 'page_size');
END
$$;

COMMENT ON FUNCTION agent.check_page(integer, integer) IS
    'Raises 22023 for half a keyset cursor or a page size outside 1..1000';

REVOKE ALL ON FUNCTION agent.check_content(text, text), agent.check_identifiers(text[], text[], text[]),
    agent.check_metadata(jsonb, text), agent.check_page(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.check_content(text, text), agent.check_identifiers(text[], text[], text[]),
    agent.check_metadata(jsonb, text), agent.check_page(integer, integer) TO authenticated, service_role;
