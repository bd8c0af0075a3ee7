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
