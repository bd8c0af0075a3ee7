-- memory.entity_neighbourhood(): the entities reachable from one entity through facts holding at
-- as_of (default now), up to depth hops (1 to 3), in both directions, each with its shortest
-- distance, the fact and relation that first reached it and the path. A recursive CTE whose
-- CYCLE clause stops a walk that comes back to an entity on its own path; retracted facts,
-- deleted and merged entities are not walked. It runs as the caller, so row-level security
-- applies at every hop: another user's entity is never reached (nor is an unknown id).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.entity_neighbourhood(
    entity_id uuid,
    depth integer DEFAULT 1,
    as_of timestamptz DEFAULT NULL,
    relations text[] DEFAULT NULL)
RETURNS TABLE (id uuid, name text, entity_type text, distance integer, relation text, direction text,
               fact_id uuid, path uuid[])
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_start uuid;
    v_as_of timestamptz := coalesce(entity_neighbourhood.as_of, now());
BEGIN
    IF entity_neighbourhood.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF entity_neighbourhood.depth IS NULL OR entity_neighbourhood.depth NOT BETWEEN 1 AND 3 THEN
        RAISE EXCEPTION 'depth must be between 1 and 3, got %', coalesce(entity_neighbourhood.depth::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF array_position(entity_neighbourhood.relations, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'relations must not contain NULL' USING ERRCODE = '22023';
    END IF;
    v_start := memory.live_entity_id(entity_neighbourhood.entity_id);
    RETURN QUERY
    WITH RECURSIVE walk (node, hops, relation, direction, fact_id, path) AS (
        SELECT e.id, 0, NULL::text, NULL::text, NULL::uuid, ARRAY[e.id]
        FROM memory.entities AS e
        WHERE e.id = v_start AND NOT e.is_deleted
        UNION ALL
        SELECT n.other, w.hops + 1, n.relation, n.direction, n.fact_id, w.path || n.other
        FROM walk AS w
        CROSS JOIN LATERAL (
            SELECT r.object_id AS other, r.relation, 'out'::text AS direction, r.id AS fact_id
            FROM memory.entity_relations AS r
            WHERE r.subject_id = w.node AND r.object_id IS NOT NULL AND r.expired_at IS NULL
              AND r.valid @> v_as_of
              AND (entity_neighbourhood.relations IS NULL OR r.relation = ANY (entity_neighbourhood.relations))
            UNION ALL
            SELECT r.subject_id, r.relation, 'in'::text, r.id
            FROM memory.entity_relations AS r
            WHERE r.object_id = w.node AND r.expired_at IS NULL AND r.valid @> v_as_of
              AND (entity_neighbourhood.relations IS NULL OR r.relation = ANY (entity_neighbourhood.relations))
        ) AS n
        WHERE w.hops < entity_neighbourhood.depth
          -- a walk goes on through live entities only; the last hop's are checked once, below
          AND (w.hops = 0 OR EXISTS (SELECT FROM memory.entities AS e
                                     WHERE e.id = w.node AND NOT e.is_deleted AND e.merged_into IS NULL))
    ) CYCLE node SET is_cycle USING cycle_path
    SELECT DISTINCT ON (w.node) w.node, e.name, e.entity_type, w.hops, w.relation, w.direction,
           w.fact_id, w.path
    FROM walk AS w
    JOIN memory.entities AS e ON e.id = w.node AND NOT e.is_deleted AND e.merged_into IS NULL
    WHERE NOT w.is_cycle AND w.hops > 0 AND w.node <> v_start
    ORDER BY w.node, w.hops, w.relation, w.fact_id;
END
$$;

COMMENT ON FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) IS
    'Entities reachable through current facts (or as of a time) within depth 1-3, with distance, relation and path';

REVOKE ALL ON FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) TO authenticated, service_role;
