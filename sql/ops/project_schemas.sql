-- ops.project_schemas(): the one list of mempg's schemas, read by the ops views and functions and
-- by the runner (verify, schema, maintain). No SET clause, so the planner inlines it: its body
-- is a constant.
CREATE OR REPLACE FUNCTION ops.project_schemas()
RETURNS text[]
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['memory', 'app', 'travel', 'ops', 'mempg', 'agent']::text[]
$$;

COMMENT ON FUNCTION ops.project_schemas() IS 'The schemas that belong to mempg';
REVOKE ALL ON FUNCTION ops.project_schemas() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.project_schemas() TO service_role;
