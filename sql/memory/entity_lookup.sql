-- Index lookups of entities by name, by trigram and by full text, as their owner.
-- Why SECURITY DEFINER: under row-level security PostgreSQL evaluates a query's own conditions
-- after the policy's, unless their operators are LEAKPROOF, and the operators these indexes
-- serve (&& on text[], pg_trgm's %, @@) are not: as the application's role every lookup became a
-- scan of all the user's entities (620 ms for one exact name among 10,000 in bench/entities.py).
-- Each function reads one user's live entities only: memory.lookup_scope() (lookup_scope.sql) is
-- that user when the caller may see them, else NULL, and NULL matches no row. They return ids
-- and match scores; the callers read the rows themselves, under row-level security.
-- search_path is pinned on every function here, so a caller's own search_path never changes what
-- a name means. Their plans do not depend on the values (the same index whatever the name), so
-- they are generic (plan_cache_mode): planning the trigram lookup took twice as long as running it.
CREATE OR REPLACE FUNCTION memory.entities_named(user_id text, keys text[], type_filter text DEFAULT NULL)
RETURNS TABLE (id uuid, entity_type text, normalized_name text, importance real, created_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(entities_named.user_id);
BEGIN
    RETURN QUERY
    SELECT e.id, e.entity_type, e.normalized_name, e.importance, e.created_at
    FROM memory.entities AS e
    WHERE memory.entity_name_keys(e.user_id, e.name, e.aliases) && entities_named.keys
      AND NOT e.is_deleted AND e.merged_into IS NULL AND e.user_id = v_user
      AND (entities_named.type_filter IS NULL OR e.entity_type = entities_named.type_filter);
END
$$;

COMMENT ON FUNCTION memory.entities_named(text, text[], text) IS
    'Live entities of a user whose normalised name or alias has one of the given index keys (memory.entity_name_key)';

CREATE OR REPLACE FUNCTION memory.entities_like(user_id text, normalized_name text, type_filter text DEFAULT NULL,
                                                max_count integer DEFAULT 1, min_similarity real DEFAULT 0.3)
RETURNS TABLE (id uuid, similarity double precision)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET pg_trgm.similarity_threshold = '0.3'
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(entities_like.user_id);
BEGIN
    -- the index itself skips names below min_similarity (undone on return, by the SET clause)
    PERFORM set_config('pg_trgm.similarity_threshold', greatest(entities_like.min_similarity, 0.01)::text, true);
    RETURN QUERY
    SELECT e.id, extensions.similarity(e.normalized_name, entities_like.normalized_name)::double precision
    FROM memory.entities AS e
    WHERE e.user_id = v_user AND NOT e.is_deleted AND e.merged_into IS NULL
      AND (entities_like.type_filter IS NULL OR e.entity_type = entities_like.type_filter)
      AND e.normalized_name OPERATOR(extensions.%) entities_like.normalized_name
    ORDER BY 2 DESC, e.id
    LIMIT entities_like.max_count;
END
$$;

COMMENT ON FUNCTION memory.entities_like(text, text, text, integer, real) IS
    'A user''s live entities by pg_trgm similarity of the normalised names (at least min_similarity), best first';

CREATE OR REPLACE FUNCTION memory.entities_matching(user_id text, query tsquery, type_filter text DEFAULT NULL,
                                                    max_count integer DEFAULT 20)
RETURNS TABLE (id uuid, text_score double precision)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(entities_matching.user_id);
BEGIN
    RETURN QUERY
    SELECT e.id, ts_rank(e.fts, entities_matching.query)::double precision
    FROM memory.entities AS e
    WHERE e.fts @@ entities_matching.query AND e.user_id = v_user AND NOT e.is_deleted AND e.merged_into IS NULL
      AND (entities_matching.type_filter IS NULL OR e.entity_type = entities_matching.type_filter)
    ORDER BY 2 DESC, e.id
    LIMIT entities_matching.max_count;
END
$$;

COMMENT ON FUNCTION memory.entities_matching(text, tsquery, text, integer) IS
    'A user''s live entities whose names, aliases or string attributes match a tsquery, by ts_rank';

REVOKE ALL ON FUNCTION memory.entities_named(text, text[], text),
    memory.entities_like(text, text, text, integer, real), memory.entities_matching(text, tsquery, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entities_named(text, text[], text),
    memory.entities_like(text, text, text, integer, real), memory.entities_matching(text, tsquery, text, integer)
    TO authenticated, service_role;
