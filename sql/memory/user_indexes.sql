-- Per-user HNSW indexes: a heavy user's own graph beside the shared one (0022, issue 17).
--
-- A user holding a small share of a large table is the shared HNSW index's worst case: the
-- filtered walk meets the user's rows at the rate of that share, so a user with 10,000 of
-- 1,000,000 memories (1%) walked past a hundred rows for each of theirs and searched slower
-- than the exact path (docs/scale.md, "Per-user indexes"). A partial HNSW index over that user's
-- live rows alone (`WHERE NOT is_deleted AND user_id = '...'`, the shared index's definition
-- otherwise) is a graph in which every row is theirs. The HNSW path plans each call with its
-- arguments as constants (plan_cache_mode force_custom_plan), so the planner proves the
-- predicate and takes the user's own index by itself.
-- Who gets one: users with at least memory.settings.user_index_min_memories live memories that
-- hold at most user_index_max_share of the table's rows (a larger share finds its rows fast in
-- the shared graph), the largest user_index_max_count of them (each index costs its user's
-- writes a second graph insert, and every plan on memory.memories a predicate to test). A user
-- keeps the index until they fall below half that size or above twice that share, so a user at
-- the boundary does not churn.
-- memory.user_index_plan() says what to create and drop; a CREATE INDEX CONCURRENTLY cannot run
-- inside a function, so `mempg maintain` runs the statements it returns, one by one, outside a
-- transaction (runner/operations.py). A build that fails leaves an invalid index, which the
-- next plan drops and creates again.
-- Index names carry a hash of the user id (memory.user_index_name()); the predicate itself, and
-- so the user id, is readable in pg_indexes by any role that can read the catalog, as table
-- and index names are.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here.
CREATE OR REPLACE FUNCTION memory.user_index_name(user_id text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT 'memories_ann_user_' || left(md5(user_index_name.user_id), 16)
$$;

COMMENT ON FUNCTION memory.user_index_name(text) IS
    'Name of a user''s own HNSW index on memory.memories (a hash of the user id)';

CREATE OR REPLACE FUNCTION memory.has_user_index(user_id text)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
        WHERE c.relname = memory.user_index_name(has_user_index.user_id)
          AND c.relnamespace = 'memory'::regnamespace
          AND i.indrelid = 'memory.memories'::regclass
          AND i.indisvalid)
$$;

COMMENT ON FUNCTION memory.has_user_index(text) IS
    'Whether the user has a valid HNSW index of their own on memory.memories';

-- memory.user_index_ef_search(): hnsw.ef_search for a search through a user's own index:
-- memory.settings.user_index_ef_search for a graph of user_index_min_memories rows, growing with
-- the log of its size: ef x (1 + 1.5 log10(rows / min)), at least ef, at most 1,000. The rows are
-- the user's count in memory.quota_usage. Fitted at 1,000,000 clustered 384-dim rows: users of
-- 10,000 had recall@10 1.000 at 40; users of 100,000 0.970 at 40, 0.975 at 60 and 1.000 at 100,
-- which the rule gives them (docs/scale.md).
CREATE OR REPLACE FUNCTION memory.user_index_ef_search(user_id text)
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT least(1000, ceil(s.user_index_ef_search
                            * (1 + 1.5 * log(greatest(1, coalesce(u.memories, 0)::numeric
                                                         / s.user_index_min_memories)))))::integer
    FROM memory.settings AS s
    LEFT JOIN memory.quota_usage AS u ON u.user_id = user_index_ef_search.user_id
$$;

COMMENT ON FUNCTION memory.user_index_ef_search(text) IS
    'hnsw.ef_search for a search through the user''s own HNSW index (grows with the log of its rows)';

CREATE OR REPLACE FUNCTION memory.user_index_plan()
RETURNS TABLE (action text, user_id text, index_name text, statement text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH s AS (
        SELECT st.user_index_min_memories AS min_memories, st.user_index_max_share AS max_share,
               st.user_index_max_count AS max_count,
               greatest(c.reltuples, 1)::double precision AS table_rows
        FROM memory.settings AS st
        CROSS JOIN pg_catalog.pg_class AS c
        WHERE c.oid = 'memory.memories'::regclass
    ),
    shared_index AS (  -- the shared HNSW index's definition from USING on
        SELECT substr(d.definition, strpos(d.definition, ' USING ') + 1) AS using_clause,
               strpos(d.definition, ' WHERE ') > 0 AS is_partial
        FROM (SELECT pg_catalog.pg_get_indexdef(i.indexrelid) AS definition
              FROM pg_catalog.pg_index AS i
              JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
              JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
              WHERE i.indrelid = 'memory.memories'::regclass AND c.relname = 'memories_embedding_ann'
                AND am.amname = 'hnsw' AND i.indisvalid) AS d
    ),
    kept AS (  -- users who keep (or may get) an index: within twice the bounds, the largest first
        SELECT u.user_id, memory.user_index_name(u.user_id) AS index_name,
               u.memories >= s.min_memories AND u.memories <= s.max_share * s.table_rows AS qualifies
        FROM (SELECT q.user_id, q.memories,
                     row_number() OVER (ORDER BY q.memories DESC, q.user_id) AS rank
              FROM memory.quota_usage AS q CROSS JOIN s
              WHERE q.memories >= s.min_memories / 2
                AND q.memories <= 2 * s.max_share * s.table_rows) AS u
        CROSS JOIN s
        WHERE u.rank <= s.max_count
    ),
    existing AS (
        SELECT c.relname::text AS index_name, i.indisvalid AS is_valid
        FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'memory.memories'::regclass
          AND c.relname LIKE 'memories\_ann\_user\_%'
    )
    SELECT p.action, p.user_id, p.index_name, p.statement
    FROM (
        SELECT 1 AS step, 'drop' AS action, k.user_id, e.index_name,
               format('DROP INDEX CONCURRENTLY IF EXISTS memory.%I', e.index_name) AS statement
        FROM existing AS e
        LEFT JOIN kept AS k ON k.index_name = e.index_name
        WHERE NOT e.is_valid OR k.index_name IS NULL
        UNION ALL
        SELECT 2, 'create', k.user_id, k.index_name,
               format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON memory.memories %s %s user_id = %L',
                      k.index_name, si.using_clause, CASE WHEN si.is_partial THEN 'AND' ELSE 'WHERE' END,
                      k.user_id)
        FROM kept AS k
        CROSS JOIN shared_index AS si
        WHERE k.qualifies
          AND NOT EXISTS (SELECT 1 FROM existing AS e WHERE e.index_name = k.index_name AND e.is_valid)
    ) AS p
    ORDER BY p.step, p.index_name
$$;

COMMENT ON FUNCTION memory.user_index_plan() IS
    'Per-user HNSW indexes to drop and to create (statements for mempg maintain, run outside a transaction)';

REVOKE ALL ON FUNCTION memory.user_index_name(text), memory.has_user_index(text),
    memory.user_index_ef_search(text), memory.user_index_plan() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.user_index_name(text), memory.has_user_index(text),
    memory.user_index_ef_search(text) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION memory.user_index_plan() TO service_role;
