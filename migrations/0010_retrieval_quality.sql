-- 0010_retrieval_quality: search that finds the right memory for a natural-language question.
-- * Full-text search matches any query term and ranks by the summed idf of the matched terms,
--   counted over the user's own memories, with a bounded candidate set (text_search_memories.sql);
--   a GIN index of (user, lexeme) keys serves it, replacing the one on fts alone, and the
--   tsvector is kept in the heap row (storage MAIN) because scoring reads it for every candidate.
-- * The hybrid search fuses it with the vector ranking by reciprocal rank (rrf_k 10 now) or by
--   weighted, normalised scores, each side contributing candidate_depth memories.
-- * Mem0's scoping in search_memories, hybrid_search_memories and text_search_memories: agent_id,
--   run_id, a filter language (eq, ne, in, nin, gt, gte, lt, lte, contains, icontains, AND, OR,
--   NOT) compiled to a jsonpath, and created_within / updated_within windows.
-- * The text-search configuration is chosen at install (`mempg apply --text-search-config`,
--   default english) and fixed, like the embedding dimension.
-- The new signatures keep every earlier parameter in its place, so earlier calls still work.
-- Extension types by name, whatever search_path the runner's session started with:
SET LOCAL search_path = pg_catalog, extensions, public;

ALTER TABLE memory.settings
    ADD COLUMN full_text_common_docs integer NOT NULL DEFAULT 20
        CONSTRAINT full_text_common_docs_range CHECK (full_text_common_docs BETWEEN 1 AND 100000);
COMMENT ON COLUMN memory.settings.full_text_common_docs IS
    'A query term in more of the user''s memories than this is common: it scores but does not choose full-text candidates';

-- sql/mempg/settings.sql
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

-- The text-search configuration chosen at install (english unless asked otherwise), recorded
-- once; the stored tsvectors are recomputed with it when it is not english.
DO $$
DECLARE
    v_requested text := nullif(current_setting('mempg.text_search_config', true), '');
    v_config regconfig;
BEGIN
    PERFORM mempg.request_text_search_config(v_requested);
    v_config := coalesce(v_requested, 'english')::regconfig;
    IF v_config <> 'english'::regconfig THEN
        IF current_setting('server_version_num')::integer < 170000 THEN
            RAISE EXCEPTION '--text-search-config other than english needs PostgreSQL 17 or newer (ALTER COLUMN ... SET EXPRESSION)'
                USING ERRCODE = '0A000';
        END IF;
        EXECUTE format('ALTER TABLE memory.memories ALTER COLUMN fts SET EXPRESSION AS (to_tsvector(%L::regconfig, memory))',
                       v_config::text);
    END IF;
    INSERT INTO mempg.settings (key, value, description)
    VALUES ('text_search_config', v_config::text, 'Text-search configuration of memory.memories.fts, fixed at install');
END
$$;

-- the earlier signatures; the new ones keep their parameters in place and add more
-- squawk-ignore ban-drop-function
DROP FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer);
-- squawk-ignore ban-drop-function
DROP FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision);
-- squawk-ignore ban-drop-function
DROP FUNCTION memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean);
-- squawk-ignore ban-drop-function
DROP FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean);


-- The scope of a search beyond its user (sql/memory/search_scope.sql)
CREATE TYPE memory.search_scope AS (
    agent_id text,
    run_id text,
    created_within tstzrange,
    updated_within tstzrange,
    filter_path jsonpath,
    filter_vars jsonb,
    filter_columns boolean
);

COMMENT ON TYPE memory.search_scope IS
    'What narrows a search beyond its user: agent_id, run_id, time windows, a compiled filter';

-- sql/memory/search_scope.sql
-- The scope of a search beyond its user: Mem0's agent_id and run_id, a time window on created_at
-- and updated_at, and a filter in Mem0's language compiled to one SQL/JSON path.
--
-- memory.compile_filter() turns a filter such as
--   {"AND": [{"topic": "travel"}, {"month": {"gte": 5}}, {"NOT": {"agent_id": {"in": ["a", "b"]}}}]}
-- into a jsonpath and its variables. Values never enter the path's text: each is a variable
-- ($v1, $v2, ...); field names enter it as JSON string literals (to_jsonb(name)::text, which
-- escapes them), and the substring of contains / icontains is matched with like_regex's "q" flag
-- (the pattern taken literally). No dynamic SQL: the path is a value that jsonb_path_match reads.
-- Every leaf is an exists(... ? (...)) test, so it is true or false, never unknown: comparisons
-- between JSON values of different types are simply false, `ne` and `nin` are true for a memory
-- that lacks the field, and NOT is plain negation.
-- Fields: created_at, updated_at (compared as epoch seconds; give an ISO timestamp or a number),
-- agent_id, run_id, memory_type, categories (an array: eq and in test membership) are the
-- memory's own columns; any other name is a metadata key. user_id is refused: the user is the
-- query_user_id parameter and row-level security.
-- The composite type memory.search_scope (agent_id, run_id, created_within, updated_within,
-- filter_path, filter_vars, filter_columns) is defined in schema.sql, with the tables.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.compile_filter_node(node jsonb, metadata_prefix text, INOUT vars jsonb,
                                                      INOUT uses_columns boolean, depth integer,
                                                      OUT expression text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_key text;
    v_value jsonb;
    v_operator text;
    v_operand jsonb;
    v_parts text[] := '{}';
    v_child record;
    v_field text;
    v_variable text;
    v_is_time boolean;
BEGIN
    IF compile_filter_node.depth > 20 THEN
        RAISE EXCEPTION 'filters are nested more than 20 levels deep' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(compile_filter_node.node) IS DISTINCT FROM 'object' OR compile_filter_node.node = '{}'::jsonb THEN
        RAISE EXCEPTION 'filters: each condition must be a non-empty JSON object, got %',
            left(coalesce(compile_filter_node.node::text, 'NULL'), 200) USING ERRCODE = '22023';
    END IF;
    FOR v_key, v_value IN SELECT e.key, e.value FROM jsonb_each(compile_filter_node.node) AS e ORDER BY e.key LOOP
        IF v_key IN ('AND', 'OR', 'NOT') THEN
            IF v_key = 'NOT' AND jsonb_typeof(v_value) = 'object' THEN
                v_value := jsonb_build_array(v_value);
            END IF;
            IF jsonb_typeof(v_value) IS DISTINCT FROM 'array' OR jsonb_array_length(v_value) = 0 THEN
                RAISE EXCEPTION 'filters: operator % takes a non-empty array of conditions, got %',
                    v_key, left(v_value::text, 200) USING ERRCODE = '22023';
            END IF;
            DECLARE
                v_children text[] := '{}';
                v_element jsonb;
            BEGIN
                FOR v_element IN SELECT a.value FROM jsonb_array_elements(v_value) AS a LOOP
                    SELECT * INTO v_child FROM memory.compile_filter_node(
                        v_element, compile_filter_node.metadata_prefix, compile_filter_node.vars,
                        compile_filter_node.uses_columns, compile_filter_node.depth + 1);
                    compile_filter_node.vars := v_child.vars;
                    compile_filter_node.uses_columns := v_child.uses_columns;
                    v_children := v_children || v_child.expression;
                END LOOP;
                v_parts := v_parts || CASE v_key
                    WHEN 'OR' THEN '(' || array_to_string(v_children, ' || ') || ')'
                    WHEN 'AND' THEN '(' || array_to_string(v_children, ' && ') || ')'
                    ELSE '!(' || array_to_string(v_children, ' && ') || ')' END;
            END;
            CONTINUE;
        END IF;

        IF v_key = 'user_id' THEN
            RAISE EXCEPTION 'filters: user_id cannot be filtered on (the user is query_user_id)' USING ERRCODE = '22023';
        END IF;
        IF v_key IN ('created_at', 'updated_at', 'agent_id', 'run_id', 'memory_type', 'categories') THEN
            v_field := '$.' || to_jsonb(v_key)::text;
            compile_filter_node.uses_columns := true;
        ELSE
            v_field := '$' || compile_filter_node.metadata_prefix || '.' || to_jsonb(v_key)::text;
        END IF;
        v_is_time := v_key IN ('created_at', 'updated_at');
        IF jsonb_typeof(v_value) <> 'object' THEN
            v_value := jsonb_build_object('eq', v_value);  -- {"field": value} is {"field": {"eq": value}}
        ELSIF v_value = '{}'::jsonb THEN
            RAISE EXCEPTION 'filters: field % has no operator', v_key USING ERRCODE = '22023';
        END IF;

        FOR v_operator, v_operand IN SELECT e.key, e.value FROM jsonb_each(v_value) AS e ORDER BY e.key LOOP
            IF v_operator NOT IN ('eq', 'ne', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'contains', 'icontains') THEN
                RAISE EXCEPTION 'filters: unknown operator % on field % (use eq, ne, in, nin, gt, gte, lt, lte, contains, icontains, AND, OR, NOT)',
                    v_operator, v_key USING ERRCODE = '22023';
            END IF;
            IF v_operator IN ('in', 'nin') THEN
                IF jsonb_typeof(v_operand) IS DISTINCT FROM 'array' OR jsonb_array_length(v_operand) = 0
                   OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_operand) AS a
                              WHERE jsonb_typeof(a.value) NOT IN ('string', 'number', 'boolean')) THEN
                    RAISE EXCEPTION 'filters: operator % on field % takes a non-empty array of strings, numbers or booleans',
                        v_operator, v_key USING ERRCODE = '22023';
                END IF;
            ELSIF v_operator IN ('contains', 'icontains') THEN
                IF jsonb_typeof(v_operand) IS DISTINCT FROM 'string' THEN
                    RAISE EXCEPTION 'filters: operator % on field % takes a string', v_operator, v_key
                        USING ERRCODE = '22023';
                END IF;
            ELSIF v_operator IN ('gt', 'gte', 'lt', 'lte') THEN
                IF jsonb_typeof(v_operand) NOT IN ('string', 'number') THEN
                    RAISE EXCEPTION 'filters: operator % on field % takes a number or a string', v_operator, v_key
                        USING ERRCODE = '22023';
                END IF;
            ELSIF jsonb_typeof(v_operand) NOT IN ('string', 'number', 'boolean') THEN
                RAISE EXCEPTION 'filters: operator % on field % takes a string, a number or a boolean, got %',
                    v_operator, v_key, left(v_operand::text, 200) USING ERRCODE = '22023';
            END IF;
            IF v_is_time AND v_operator NOT IN ('contains', 'icontains') THEN
                v_operand := memory.filter_epoch(v_operand, v_key, v_operator);
            END IF;

            IF v_operator IN ('contains', 'icontains') THEN
                v_parts := v_parts || format('exists(%s ? (@ like_regex %s flag "%s"))', v_field,
                                             to_jsonb(v_operand #>> '{}')::text,
                                             CASE v_operator WHEN 'icontains' THEN 'iq' ELSE 'q' END);
                CONTINUE;
            END IF;
            v_variable := 'v' || (SELECT count(*) + 1 FROM jsonb_object_keys(compile_filter_node.vars));
            compile_filter_node.vars := compile_filter_node.vars || jsonb_build_object(v_variable, v_operand);
            v_parts := v_parts || CASE v_operator
                WHEN 'eq'  THEN format('exists(%s ? (@ == $%s))', v_field, v_variable)
                WHEN 'ne'  THEN format('!exists(%s ? (@ == $%s))', v_field, v_variable)
                WHEN 'in'  THEN format('exists(%s ? (@ == $%s[*]))', v_field, v_variable)
                WHEN 'nin' THEN format('!exists(%s ? (@ == $%s[*]))', v_field, v_variable)
                WHEN 'gt'  THEN format('exists(%s ? (@ > $%s))', v_field, v_variable)
                WHEN 'gte' THEN format('exists(%s ? (@ >= $%s))', v_field, v_variable)
                WHEN 'lt'  THEN format('exists(%s ? (@ < $%s))', v_field, v_variable)
                ELSE            format('exists(%s ? (@ <= $%s))', v_field, v_variable) END;
        END LOOP;
    END LOOP;
    expression := '(' || array_to_string(v_parts, ' && ') || ')';
END
$$;

COMMENT ON FUNCTION memory.compile_filter_node(jsonb, text, jsonb, boolean, integer) IS
    'One condition of a Mem0-style filter as a jsonpath expression (values as variables)';

-- memory.filter_epoch(): a created_at / updated_at operand as epoch seconds.
CREATE OR REPLACE FUNCTION memory.filter_epoch(operand jsonb, field text, operator text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF jsonb_typeof(filter_epoch.operand) = 'number' THEN
        RETURN filter_epoch.operand;
    END IF;
    RETURN to_jsonb(date_part('epoch', (filter_epoch.operand #>> '{}')::timestamptz));
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation
               OR invalid_parameter_value THEN
    RAISE EXCEPTION 'filters: operator % on field % takes a timestamp or epoch seconds, got %',
        filter_epoch.operator, filter_epoch.field, left(filter_epoch.operand::text, 100) USING ERRCODE = '22023';
END
$$;

COMMENT ON FUNCTION memory.filter_epoch(jsonb, text, text) IS
    'A timestamp filter operand as epoch seconds (22023 unless a timestamp or a number)';

-- memory.search_scope(): the scope of one search, checked; NULL when nothing narrows it, so that
-- the search paths skip the scope test entirely.
CREATE OR REPLACE FUNCTION memory.search_scope(agent_id text, run_id text, filters jsonb,
                                               created_within tstzrange, updated_within tstzrange)
RETURNS memory.search_scope
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_scope memory.search_scope;
    v_settings memory.settings;
    v_compiled record;
BEGIN
    IF search_scope.agent_id IS NULL AND search_scope.run_id IS NULL AND search_scope.filters IS NULL
       AND search_scope.created_within IS NULL AND search_scope.updated_within IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_label(search_scope.agent_id, 'agent_id', v_settings.max_id_chars, false),
            memory.check_label(search_scope.run_id, 'run_id', v_settings.max_id_chars, false);
    IF search_scope.created_within = 'empty'::tstzrange OR search_scope.updated_within = 'empty'::tstzrange THEN
        RAISE EXCEPTION 'created_within and updated_within must not be empty ranges' USING ERRCODE = '22023';
    END IF;
    v_scope := ROW(search_scope.agent_id, search_scope.run_id, search_scope.created_within,
                   search_scope.updated_within, NULL, NULL, false);
    IF search_scope.filters IS NOT NULL AND search_scope.filters <> '{}'::jsonb THEN
        PERFORM memory.check_metadata(search_scope.filters, 'filters', v_settings.max_metadata_bytes,
                                      v_settings.max_metadata_depth);
        SELECT * INTO v_compiled FROM memory.compile_filter_node(search_scope.filters, '', '{}', false, 1);
        IF v_compiled.uses_columns THEN  -- metadata keys then live under "metadata" in the document
            SELECT * INTO v_compiled FROM memory.compile_filter_node(search_scope.filters, '."metadata"', '{}', false, 1);
        END IF;
        v_scope.filter_path := v_compiled.expression::jsonpath;
        v_scope.filter_vars := v_compiled.vars;
        v_scope.filter_columns := v_compiled.uses_columns;
    END IF;
    RETURN v_scope;
END
$$;

COMMENT ON FUNCTION memory.search_scope(text, text, jsonb, tstzrange, tstzrange) IS
    'The checked scope of a search (agent, run, time windows, compiled filter); NULL for none';

-- memory.in_scope(): the one test of a memory against a search scope. Inlined into the search
-- queries (plain SQL, no SET clause, built-ins only): the filter document is built only when the
-- filter names one of the memory's columns; otherwise the path reads the metadata itself.
CREATE OR REPLACE FUNCTION memory.in_scope(scope memory.search_scope, agent_id text, run_id text,
                                           memory_type text, metadata jsonb, categories text[],
                                           created_at timestamptz, updated_at timestamptz)
RETURNS boolean
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT in_scope.scope IS NULL OR (
        ((in_scope.scope).agent_id IS NULL OR in_scope.agent_id = (in_scope.scope).agent_id)
        AND ((in_scope.scope).run_id IS NULL OR in_scope.run_id = (in_scope.scope).run_id)
        AND ((in_scope.scope).created_within IS NULL OR in_scope.created_at <@ (in_scope.scope).created_within)
        AND ((in_scope.scope).updated_within IS NULL OR in_scope.updated_at <@ (in_scope.scope).updated_within)
        AND ((in_scope.scope).filter_path IS NULL OR coalesce(pg_catalog.jsonb_path_match(
                CASE WHEN (in_scope.scope).filter_columns
                     THEN pg_catalog.jsonb_build_object(
                              'metadata', in_scope.metadata, 'agent_id', in_scope.agent_id,
                              'run_id', in_scope.run_id, 'memory_type', in_scope.memory_type,
                              'categories', pg_catalog.to_jsonb(in_scope.categories),
                              'created_at', pg_catalog.date_part('epoch', in_scope.created_at),
                              'updated_at', pg_catalog.date_part('epoch', in_scope.updated_at))
                     ELSE in_scope.metadata END,
                (in_scope.scope).filter_path, (in_scope.scope).filter_vars, true), false)))
$$;

COMMENT ON FUNCTION memory.in_scope(memory.search_scope, text, text, text, jsonb, text[], timestamptz, timestamptz) IS
    'Whether a memory lies in a search scope (NULL scope: every memory)';

REVOKE ALL ON FUNCTION memory.compile_filter_node(jsonb, text, jsonb, boolean, integer),
    memory.filter_epoch(jsonb, text, text), memory.search_scope(text, text, jsonb, tstzrange, tstzrange),
    memory.in_scope(memory.search_scope, text, text, text, jsonb, text[], timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.compile_filter_node(jsonb, text, jsonb, boolean, integer),
    memory.filter_epoch(jsonb, text, text), memory.search_scope(text, text, jsonb, tstzrange, tstzrange),
    memory.in_scope(memory.search_scope, text, text, text, jsonb, text[], timestamptz, timestamptz)
    TO authenticated, service_role;

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
CREATE OR REPLACE FUNCTION memory.full_text_candidates(
    query_text text, query_embedding vector, query_user_id text, depth integer, metadata_filter jsonb,
    category_filter text[], scope memory.search_scope)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               text_score double precision, created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
STABLE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_common integer := (SELECT s.full_text_common_docs FROM memory.settings AS s);
    v_terms tsquery[];
    v_keys text[];
    v_docs bigint[];
    v_choose text[] := '{}';
    -- BM25's collection size. The user's memories are not counted for it (that count was the
    -- largest cost of a heavy user's query): with document frequencies capped at
    -- full_text_common_docs + 1, the ranking hardly depends on it (docs/memory.md).
    v_total constant bigint := 1000;
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
                                          AND (m.user_id = full_text_candidates.query_user_id) IS TRUE
                                          AND NOT m.is_deleted
                                        LIMIT v_common + 1) AS bounded) AS docs
          FROM unnest(to_tsvector(memory.text_search_config(), full_text_candidates.query_text)) AS l,
               LATERAL (SELECT full_text_candidates.query_user_id || chr(31) || l.lexeme) AS k(user_key)
          OFFSET 0) AS c;  -- OFFSET 0: each count once, not once per aggregate that orders by it
    IF v_terms IS NULL THEN
        RETURN;  -- only stop words
    END IF;
    v_terms := v_terms[1:8];
    v_keys := v_keys[1:8];
    v_docs := v_docs[1:8];
    FOR i IN 1 .. cardinality(v_terms) LOOP
        v_weights := v_weights || ln(1 + (greatest(v_total - v_docs[i], 0) + 0.5) / (v_docs[i] + 0.5));
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
                AND (m.user_id = full_text_candidates.query_user_id) IS TRUE
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
                ELSE 1 - (m.embedding <=> full_text_candidates.query_embedding) END,
           r.score, m.created_at, m.updated_at
    FROM ranked AS r
    JOIN memory.memories AS m ON m.id = r.id
    ORDER BY r.score DESC, m.updated_at DESC, r.id;
END
$$;

COMMENT ON FUNCTION memory.full_text_candidates(text, vector, text, integer, jsonb, text[], memory.search_scope) IS
    'Any-term full-text ranking of a user''s memories by the summed idf of matched terms';

-- memory.text_search_memories(): the full-text side on its own, with the search's scoping.
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
STABLE
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
-- memory.scope_size() counts the user's matching rows with a bounded index scan (rows not deleted:
-- an upper bound that the index answers alone), and memory.takes_exact_path() takes the exact
-- path while that count is at most memory.settings.exact_search_max_rows.
-- The function-level SET clauses restore every planner and hnsw setting when the function returns;
-- for hnsw.ef_search and hnsw.max_scan_tuples they only carry pgvector's defaults, since the body
-- sets both from memory.settings (set_config(..., true) inside the function is undone at its exit).
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
               m.embedding <=> search_memories_exact.query_embedding AS distance
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
        WHERE m.user_id = search_memories_ann.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
          AND (search_memories_ann.any_agent OR memory.same_agent(m.agent_id, search_memories_ann.agent_id))
          AND memory.matches_filters(m.metadata, m.categories, search_memories_ann.metadata_filter,
                                     search_memories_ann.category_filter)
          AND memory.in_scope(search_memories_ann.scope, m.agent_id, m.run_id, m.memory_type, m.metadata,
                              m.categories, m.created_at, m.updated_at)
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
-- the user's matching rows are at most memory.settings.exact_search_max_rows (or when there is
-- no vector index), iterative HNSW above.
CREATE OR REPLACE FUNCTION memory.takes_exact_path(query_user_id text, metadata_filter jsonb, category_filter text[])
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT memory.scope_size(takes_exact_path.query_user_id, takes_exact_path.metadata_filter,
                             takes_exact_path.category_filter, s.exact_search_max_rows) <= s.exact_search_max_rows
           OR NOT memory.has_ann_index()
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
        WHERE i.indrelid = 'memory.memories'::regclass AND am.amname IN ('hnsw', 'diskann') AND i.indisvalid)
$$;

COMMENT ON FUNCTION memory.has_ann_index() IS
    'Whether memory.memories has a valid HNSW (or DiskANN) index; without one, search is exact';

REVOKE ALL ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope),
    memory.takes_exact_path(text, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean, memory.search_scope),
    memory.nearest_memory(vector, text, text), memory.has_ann_index(),
    memory.vector_candidates(vector, text, integer, jsonb, text[], double precision, memory.search_scope),
    memory.takes_exact_path(text, jsonb, text[]) TO authenticated, service_role;

-- sql/memory/search_memories.sql
-- memory.search_memories(): a user's live memories (not deleted, not expired) nearest to the query
-- embedding, whose metadata contains metadata_filter and whose categories overlap category_filter
-- (an empty filter matches all), with cosine similarity >= similarity_threshold, best first.
-- Mem0's scoping narrows it further: agent_id, run_id, a filter in Mem0's language (filters, see
-- search_scope.sql) and windows on created_at / updated_at (created_within, updated_within).
-- memory.vector_candidates() (search_paths.sql) routes it to the exact or the HNSW path by the
-- size of the user's filtered slice, so light users get recall 1 and heavy users do not pay a
-- linear scan.
-- It has no side effects: call memory.touch_memories() for the results you use.
-- plan_cache_mode force_generic_plan: left to choose, the plan cache re-planned the exact path on
-- every call, which cost more than the search itself (docs/memory.md, "Measurements"). The
-- generic plans are the intended ones; the HNSW path forces custom plans for itself.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.search_memories(
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 5,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    similarity_threshold double precision DEFAULT 0.3,
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    filters jsonb DEFAULT NULL,
    created_within tstzrange DEFAULT NULL,
    updated_within tstzrange DEFAULT NULL)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_max_id_chars integer;
    v_scope memory.search_scope;
BEGIN
    PERFORM memory.check_embedding(search_memories.query_embedding, 'query_embedding');
    SELECT s.max_id_chars INTO v_max_id_chars FROM memory.settings AS s;
    PERFORM memory.check_label(search_memories.query_user_id, 'query_user_id', v_max_id_chars, true);
    PERFORM memory.check_count(search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(search_memories.metadata_filter, search_memories.category_filter);
    IF search_memories.similarity_threshold IS NULL OR NOT search_memories.similarity_threshold BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'similarity_threshold must be between 0 and 1, got %',
            coalesce(search_memories.similarity_threshold::text, 'NULL') USING ERRCODE = '22023';
    END IF;

    v_scope := memory.search_scope(search_memories.agent_id, search_memories.run_id, search_memories.filters,
                                   search_memories.created_within, search_memories.updated_within);
    v_categories := memory.normalize_categories(search_memories.category_filter);
    RETURN QUERY SELECT * FROM memory.vector_candidates(
        search_memories.query_embedding, search_memories.query_user_id, search_memories.match_count,
        search_memories.metadata_filter, v_categories, search_memories.similarity_threshold, v_scope);
END
$$;

COMMENT ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision, text, text, jsonb, tstzrange, tstzrange) IS
    'Nearest live memories of a user, filtered by metadata and categories, best first';
REVOKE ALL ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision, text, text, jsonb, tstzrange, tstzrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision, text, text, jsonb, tstzrange, tstzrange)
    TO authenticated, service_role;

-- sql/memory/hybrid_search_memories.sql
-- memory.hybrid_search_memories(): the vector ranking of memory.vector_candidates() (what
-- search_memories returns) and the any-term full-text ranking of memory.full_text_candidates(),
-- fused in one statement; the arguments and the scope are checked once, here.
-- Each side contributes its best candidate_depth memories (default 20, at least match_count).
-- fusion 'rrf' (reciprocal rank fusion): weight / (rrf_k + rank) per side, summed; a memory found
-- by one side only gets that side's share. fusion 'weighted': each side's scores are min-max
-- normalised over its candidates (the best is 1, the last 0; a lone candidate 1), then averaged
-- with the two weights. The defaults (rrf, rrf_k 10, equal weights, depth 20) are the best of
-- the measured grid on the development conversations (docs/memory.md, "Retrieval quality").
-- Both ranks and the fused score are returned, with the cosine similarity of every row.
-- Each side returns the columns of its rows itself, so the fusion joins the two candidate lists
-- only, never the whole table. Its plan does not depend on the values: a generic one
-- (plan_cache_mode), not planned anew on every call.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
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
    candidate_depth integer DEFAULT 20)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_depth integer;
    v_scope memory.search_scope;
BEGIN
    PERFORM memory.check_query_text(hybrid_search_memories.query_text);
    PERFORM memory.check_embedding(hybrid_search_memories.query_embedding, 'query_embedding');
    PERFORM memory.check_label(hybrid_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
    PERFORM memory.check_count(hybrid_search_memories.candidate_depth, 'candidate_depth');
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
    IF hybrid_search_memories.fusion IS NULL OR hybrid_search_memories.fusion NOT IN ('rrf', 'weighted') THEN
        RAISE EXCEPTION 'fusion must be ''rrf'' or ''weighted'', got %', coalesce(hybrid_search_memories.fusion, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    v_scope := memory.search_scope(hybrid_search_memories.agent_id, hybrid_search_memories.run_id,
                                   hybrid_search_memories.filters, hybrid_search_memories.created_within,
                                   hybrid_search_memories.updated_within);
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_depth := greatest(hybrid_search_memories.candidate_depth, hybrid_search_memories.match_count);

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
    ), normalised AS (
        SELECT se.*, coalesce((se.raw_score - min(se.raw_score) OVER ())
                              / nullif(max(se.raw_score) OVER () - min(se.raw_score) OVER (), 0), 1) AS norm
        FROM semantic AS se
    ), normalised_text AS (
        SELECT ft.*, coalesce((ft.raw_score - min(ft.raw_score) OVER ())
                              / nullif(max(ft.raw_score) OVER () - min(ft.raw_score) OVER (), 0), 1) AS norm
        FROM full_text AS ft
    )
    SELECT coalesce(se.id, ft.id), coalesce(se.memory, ft.memory), coalesce(se.metadata, ft.metadata),
           coalesce(se.categories, ft.categories), coalesce(se.similarity, ft.similarity),
           ft.rank, se.rank,
           CASE hybrid_search_memories.fusion
               WHEN 'rrf' THEN
                   coalesce(hybrid_search_memories.full_text_weight / (hybrid_search_memories.rrf_k + ft.rank), 0)
                   + coalesce(hybrid_search_memories.semantic_weight / (hybrid_search_memories.rrf_k + se.rank), 0)
               ELSE (hybrid_search_memories.full_text_weight * coalesce(ft.norm, 0)
                     + hybrid_search_memories.semantic_weight * coalesce(se.norm, 0))
                    / (hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight)
           END AS fused,
           coalesce(se.created_at, ft.created_at), coalesce(se.updated_at, ft.updated_at)
    FROM normalised AS se
    FULL JOIN normalised_text AS ft ON ft.id = se.id
    ORDER BY fused DESC, coalesce(se.id, ft.id)
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank or weighted scores, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer)
    TO authenticated, service_role;


-- The full-text index over memory.user_terms() (a new definition of that function needs a REINDEX).
-- fastupdate off: every search reads the index, and a pending list of recent inserts made each
-- lookup scan it (full-text search 25 ms p50 right after a load, 0.8 ms once vacuumed).
-- replaced by memories_user_terms; dropping it takes a moment's exclusive lock, like the ALTER below
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX IF EXISTS memory.memories_fts;
-- Inside the migration's transaction; on a large installation, build it CONCURRENTLY by hand
-- under this name first and the migration will find it.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX IF NOT EXISTS memories_user_terms ON memory.memories USING gin (memory.user_terms(user_id, fts))
    WITH (fastupdate = off);
-- new and rewritten rows keep their tsvector inline; VACUUM FULL moves the existing ones
ALTER TABLE memory.memories ALTER COLUMN fts SET STORAGE MAIN;

