"""memory.entity_neighbourhood() (0020: breadth first) against the recursive CTE it replaced, kept
here as the oracle: the same rows on a random graph with retracted, ended, deleted and merged
parts, at every depth, with and without a relations filter and an as_of in the past."""

from __future__ import annotations

import random

import pytest

from helpers import Database
from vectors import owner

# 0019's function, word for word but for its name (sql/memory/entity_neighbourhood.sql before 0020)
RECURSIVE_NEIGHBOURHOOD = """
CREATE FUNCTION pg_temp.recursive_neighbourhood(
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
    v_as_of timestamptz := coalesce(recursive_neighbourhood.as_of, now());
BEGIN
    IF recursive_neighbourhood.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF recursive_neighbourhood.depth IS NULL OR recursive_neighbourhood.depth NOT BETWEEN 1 AND 3 THEN
        RAISE EXCEPTION 'depth must be between 1 and 3, got %', coalesce(recursive_neighbourhood.depth::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF array_position(recursive_neighbourhood.relations, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'relations must not contain NULL' USING ERRCODE = '22023';
    END IF;
    v_start := memory.live_entity_id(recursive_neighbourhood.entity_id);
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
              AND (recursive_neighbourhood.relations IS NULL OR r.relation = ANY (recursive_neighbourhood.relations))
            UNION ALL
            SELECT r.subject_id, r.relation, 'in'::text, r.id
            FROM memory.entity_relations AS r
            WHERE r.object_id = w.node AND r.expired_at IS NULL AND r.valid @> v_as_of
              AND (recursive_neighbourhood.relations IS NULL OR r.relation = ANY (recursive_neighbourhood.relations))
        ) AS n
        WHERE w.hops < recursive_neighbourhood.depth
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

"""

RELATIONS = ["knows", "member_of", "works_on", "likes", "related_to"]


@pytest.fixture
def graph(db: Database):
    rng = random.Random(20)
    with owner(db.url) as admin:
        ids = [
            admin.execute(
                "INSERT INTO memory.entities (user_id, entity_type, name) VALUES (%s, 'person', %s) RETURNING id::text",
                ("alice" if i < 70 else "bob", f"person {i}"),
            ).fetchone()[0]
            for i in range(80)
        ]
        alice = ids[:70]
        for n in range(420):
            s, o = rng.sample(alice, 2)
            start = f"2020-01-{1 + n % 28:02d}"
            admin.execute(
                "INSERT INTO memory.entity_relations (user_id, subject_id, relation, object_id, valid_from, valid_to)"
                " VALUES ('alice', %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (s, rng.choice(RELATIONS), o, start, "2021-06-01" if n % 7 == 0 else None),
            )
        admin.execute(
            "UPDATE memory.entity_relations SET expired_at = now() WHERE hashtext(id::text) % 9 = 0"
        )
        admin.execute(
            "UPDATE memory.entities SET is_deleted = true, deleted_at = now() WHERE id = ANY(%s::uuid[])",
            (alice[60:64],),
        )
        for into, gone in [(alice[0], alice[64]), (alice[1], alice[65])]:
            admin.execute("SELECT memory.merge_entities(%s, %s)", (into, gone))
        yield admin, alice


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_the_walk_returns_what_the_recursive_walk_returned(graph, depth):
    admin, alice = graph
    admin.execute(RECURSIVE_NEIGHBOURHOOD)
    admin.execute(
        "GRANT EXECUTE ON FUNCTION pg_temp.recursive_neighbourhood(uuid, integer, timestamptz, text[]) TO authenticated"
    )
    admin.execute(
        "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', 'alice', false)"
    )
    columns = "id, name, entity_type, distance, relation, direction, fact_id" + (
        ", path" if depth < 3 else ""
    )
    compared = 0
    for start in alice[::3] + alice[60:66]:  # deleted and merged starts too
        for relations, as_of in [(None, None), (["knows", "likes"], None), (None, "2020-02-01")]:
            arguments = (start, depth, as_of, relations)
            new = admin.execute(
                f"SELECT {columns} FROM memory.entity_neighbourhood(%s, %s, %s, %s) ORDER BY id",
                arguments,
            ).fetchall()
            old = admin.execute(
                f"SELECT {columns} FROM pg_temp.recursive_neighbourhood(%s, %s, %s, %s) ORDER BY id",
                arguments,
            ).fetchall()
            assert new == old, (start, depth, relations, as_of)
            compared += len(new)
    assert compared > 200 * depth  # the graph is connected enough to mean something
    if depth == 3:  # paths: equal length, from the start to the entity, ending with its fact
        rows = admin.execute(
            "SELECT id, distance, path FROM memory.entity_neighbourhood(%s, 3)", (alice[3],)
        ).fetchall()
        assert all(len(path) == distance + 1 and path[-1] == node for node, distance, path in rows)
