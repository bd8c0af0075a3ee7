-- memory.entity_neighbourhood(): the entities reachable from one entity through facts holding at
-- as_of (default now), up to depth hops (1 to 3), in both directions, each with its shortest
-- distance, the fact and relation that first reached it (least distance, then relation, then
-- fact id) and the path. Walked breadth first (from 0020; before, a recursive CTE with a CYCLE
-- clause walked every path): an entity is walked on once, from the hop that first reaches it,
-- and only if it is live (retracted facts, deleted and merged entities are not walked); one
-- DISTINCT ON over all hops picks each entity's row, and the entities are read once, for the rows
-- kept. The same entities, distances, facts and paths as before, except that where two paths of
-- one length end with the same fact (depth 3 only) the path kept is the one through the middle
-- entity's own first fact (the CTE kept either). Depth 2 does a fifth less work, depth 3 half
-- (docs/entities.md, "Measurements").
-- It runs as the caller, so row-level security applies at every hop: another user's entity is
-- never reached (nor is an unknown id). Its plan does not depend on the values (the same indexes
-- whatever the entity), so it is generic (plan_cache_mode): a custom plan of this statement took
-- 3 ms to make, on each of a session's first five calls.
-- memory.facts_around(): the facts holding at as_of that join an entity to another, both
-- directions, the one hop both functions walk. It has no SET clause, so that the planner inlines
-- it into the walk's LATERAL joins (a function call per hop cost more than the hop); its body
-- names every table and operator by schema.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every other function here, so a
-- caller's own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.facts_around(entity_id uuid, as_of timestamptz, relations text[])
RETURNS TABLE (other uuid, relation text, direction text, fact_id uuid)
LANGUAGE sql
STABLE
AS $$
    SELECT r.object_id, r.relation, 'out'::text, r.id
    FROM memory.entity_relations AS r
    WHERE r.subject_id OPERATOR(pg_catalog.=) facts_around.entity_id AND r.object_id IS NOT NULL
      AND r.expired_at IS NULL AND r.valid OPERATOR(pg_catalog.@>) facts_around.as_of
      AND (facts_around.relations IS NULL OR r.relation OPERATOR(pg_catalog.=) ANY (facts_around.relations))
    UNION ALL
    SELECT r.subject_id, r.relation, 'in'::text, r.id
    FROM memory.entity_relations AS r
    WHERE r.object_id OPERATOR(pg_catalog.=) facts_around.entity_id
      AND r.expired_at IS NULL AND r.valid OPERATOR(pg_catalog.@>) facts_around.as_of
      AND (facts_around.relations IS NULL OR r.relation OPERATOR(pg_catalog.=) ANY (facts_around.relations))
$$;

COMMENT ON FUNCTION memory.facts_around(uuid, timestamptz, text[]) IS
    'Facts holding at as_of that join an entity to another, in both directions (one hop of entity_neighbourhood)';

CREATE OR REPLACE FUNCTION memory.entity_neighbourhood(
    entity_id uuid,
    depth integer DEFAULT 1,
    as_of timestamptz DEFAULT NULL,
    relations text[] DEFAULT NULL)
RETURNS TABLE (id uuid, name text, entity_type text, distance integer, relation text, direction text,
               fact_id uuid, path uuid[])
LANGUAGE plpgsql
STABLE
SET plan_cache_mode = 'force_generic_plan'
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
    WITH hop1 AS (  -- the live entities one fact away, each by its least relation, then fact id
        SELECT DISTINCT ON (n.other) n.other AS node, n.relation, n.direction, n.fact_id,
               ARRAY[v_start, n.other] AS path
        FROM memory.entities AS s
        CROSS JOIN LATERAL memory.facts_around(s.id, v_as_of, entity_neighbourhood.relations) AS n
        JOIN memory.entities AS e ON e.id = n.other AND NOT e.is_deleted AND e.merged_into IS NULL
        WHERE s.id = v_start AND NOT s.is_deleted
        ORDER BY n.other, n.relation, n.fact_id
    ), reach2 AS (  -- every fact from there (depth 2 and 3)
        SELECT n.other AS node, n.relation, n.direction, n.fact_id, w.path || n.other AS path
        FROM hop1 AS w
        CROSS JOIN LATERAL memory.facts_around(w.node, v_as_of, entity_neighbourhood.relations) AS n
        WHERE entity_neighbourhood.depth >= 2 AND n.other <> v_start
    ), hop2 AS (  -- the live entities first reached at hop 2 (depth 3 only)
        SELECT DISTINCT ON (c.node) c.node, c.path
        FROM reach2 AS c
        JOIN memory.entities AS e ON e.id = c.node AND NOT e.is_deleted AND e.merged_into IS NULL
        WHERE entity_neighbourhood.depth >= 3 AND NOT EXISTS (SELECT FROM hop1 AS x WHERE x.node = c.node)
        ORDER BY c.node, c.relation, c.fact_id
    ), reach3 AS (
        SELECT n.other AS node, n.relation, n.direction, n.fact_id, w.path || n.other AS path
        FROM hop2 AS w
        CROSS JOIN LATERAL memory.facts_around(w.node, v_as_of, entity_neighbourhood.relations) AS n
        WHERE n.other <> v_start
    )
    SELECT w.node, e.name, e.entity_type, w.hops, w.relation, w.direction, w.fact_id, w.path
    FROM (
        SELECT DISTINCT ON (a.node) a.node, a.hops, a.relation, a.direction, a.fact_id, a.path
        FROM (SELECT h.node, 1 AS hops, h.relation, h.direction, h.fact_id, h.path FROM hop1 AS h
              UNION ALL
              SELECT c.node, 2, c.relation, c.direction, c.fact_id, c.path FROM reach2 AS c
              UNION ALL
              SELECT c.node, 3, c.relation, c.direction, c.fact_id, c.path FROM reach3 AS c) AS a
        ORDER BY a.node, a.hops, a.relation, a.fact_id
    ) AS w
    JOIN memory.entities AS e ON e.id = w.node AND NOT e.is_deleted AND e.merged_into IS NULL
    ORDER BY w.node;
END
$$;

COMMENT ON FUNCTION memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) IS
    'Entities reachable through current facts (or as of a time) within depth 1-3, with distance, relation and path';

REVOKE ALL ON FUNCTION memory.facts_around(uuid, timestamptz, text[]),
    memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.facts_around(uuid, timestamptz, text[]),
    memory.entity_neighbourhood(uuid, integer, timestamptz, text[]) TO authenticated, service_role;
