-- 0005_memory_input_safety rollback: the functions as 0002 defined them, then the functions and
-- settings columns that 0005 added are dropped.

-- sql/memory/check_arguments.sql as 0002 left it
-- Argument checks shared by the memory functions, so that bad input always gets the same clear
-- error: SQLSTATE 22004 for a NULL that is required, 22023 for a value out of range, and the
-- message names the parameter.
CREATE OR REPLACE FUNCTION memory.check_embedding(embedding vector, parameter text)
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_expected integer := memory.embedding_dim();
BEGIN
    IF check_embedding.embedding IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', parameter USING ERRCODE = '22004';
    END IF;
    IF vector_dims(check_embedding.embedding) <> v_expected THEN
        RAISE EXCEPTION '% has % dimensions; this database stores %-dimensional embeddings',
            parameter, vector_dims(check_embedding.embedding), v_expected
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_embedding(vector, text) IS
    'Raises 22004 for a NULL embedding and 22023 for one of the wrong dimension';

CREATE OR REPLACE FUNCTION memory.check_filters(metadata_filter jsonb, category_filter text[])
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF metadata_filter IS NULL OR jsonb_typeof(metadata_filter) <> 'object' THEN
        RAISE EXCEPTION 'metadata_filter must be a JSON object, got %', coalesce(jsonb_typeof(metadata_filter), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF category_filter IS NULL THEN
        RAISE EXCEPTION 'category_filter must not be NULL (use ''{}'' for no filter)' USING ERRCODE = '22004';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_filters(jsonb, text[]) IS
    'Raises 22023 unless metadata_filter is a JSON object, 22004 for a NULL category_filter';

CREATE OR REPLACE FUNCTION memory.check_count(value integer, parameter text, maximum integer DEFAULT 1000)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF value IS NULL OR value < 1 OR value > maximum THEN
        RAISE EXCEPTION '% must be between 1 and %, got %', parameter, maximum, coalesce(value::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_count(integer, text, integer) IS
    'Raises 22023 unless 1 <= value <= maximum';

REVOKE ALL ON FUNCTION memory.check_embedding(vector, text), memory.check_filters(jsonb, text[]),
    memory.check_count(integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.check_embedding(vector, text), memory.check_filters(jsonb, text[]),
    memory.check_count(integer, text, integer) TO authenticated, service_role;

-- sql/memory/normalize_memory.sql as 0002 left it
-- Trigger memories_10_normalize (BEFORE INSERT OR UPDATE; runs first, names are ordered on purpose):
-- categories are normalised on every write; an all-zero embedding is refused before deduplication
-- sees it (its cosine similarity is NaN and would silently disable dedup); a change of text or
-- embedding bumps version unless the writer already did; updated_at follows content changes.
CREATE OR REPLACE FUNCTION memory.normalize_memory()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.categories := memory.normalize_categories(coalesce(NEW.categories, '{}'));
    IF NEW.embedding IS NOT NULL AND vector_norm(NEW.embedding) = 0 THEN
        RAISE EXCEPTION 'embedding must not be all zeros (cosine similarity with it is undefined)'
            USING ERRCODE = '23514', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.memory IS DISTINCT FROM OLD.memory OR NEW.embedding IS DISTINCT FROM OLD.embedding)
           AND NEW.version = OLD.version THEN
            NEW.version := OLD.version + 1;
        END IF;
        IF (NEW.memory, NEW.metadata, NEW.categories, NEW.version, NEW.is_deleted, NEW.expires_at)
           IS DISTINCT FROM (OLD.memory, OLD.metadata, OLD.categories, OLD.version, OLD.is_deleted, OLD.expires_at)
        THEN
            NEW.updated_at := now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.normalize_memory() IS
    'Trigger: normalises categories, refuses zero embeddings, bumps version on content change';
REVOKE ALL ON FUNCTION memory.normalize_memory() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_10_normalize ON memory.memories;
CREATE TRIGGER memories_10_normalize
    BEFORE INSERT OR UPDATE ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.normalize_memory();

-- sql/memory/deduplicate_memories.sql as 0002 left it
-- Trigger memories_20_deduplicate (BEFORE INSERT): a plain INSERT from psql is deduplicated too.
-- Within one user and agent (NULL agent is its own scope), in this order:
--   same normalised text     -> NOOP: the existing memory's relevance and last access are
--                               refreshed, metadata merged (new keys win), categories unioned;
--   cosine >= replace (0.98) -> UPDATE: the existing memory takes the new text and embedding;
--   cosine >= merge (0.95)   -> MERGE: it keeps its text; categories and metadata are merged;
--   otherwise                -> ADD: the new row is inserted.
-- NOOP, UPDATE and MERGE cancel the insert (INSERT 0 0) and leave '<id> <event>' in the
-- transaction-local setting memory.dedup_result, which memory.add_memory() returns.
-- Concurrency: a transaction-level advisory lock per (user, agent) serialises writers of one scope,
-- and each query below takes a fresh snapshot (READ COMMITTED), so the second of two concurrent
-- inserts sees the first once it commits. The unique index on (user, agent, hash) of live rows is
-- the backstop for the exact path (under REPEATABLE READ it raises 23505 rather than duplicate).
-- Plans are custom (plan_cache_mode), and the hash is computed once into a variable: PL/pgSQL's
-- cached generic plan looked the hash up through the user_id index, filtering the user's rows and
-- calling text_hash() on each (4.6 ms per insert at 400 memories, measured), instead of one probe
-- of the unique index.
CREATE OR REPLACE FUNCTION memory.deduplicate_memories()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_custom_plan'
AS $$
DECLARE
    v_settings memory.settings;
    v_hash text := memory.text_hash(NEW.memory);
    v_existing_id uuid;
    v_similarity double precision;
    v_event text;
BEGIN
    IF NEW.is_deleted THEN
        RETURN NEW;  -- restoring history (a dump, an import): nothing to compare with
    END IF;
    PERFORM pg_advisory_xact_lock(memory.scope_lock_key(NEW.user_id, NEW.agent_id));
    SELECT * INTO v_settings FROM memory.settings;

    SELECT m.id INTO v_existing_id
    FROM memory.memories AS m
    WHERE m.user_id = NEW.user_id AND coalesce(m.agent_id, '') = coalesce(NEW.agent_id, '')
      AND m.hash = v_hash AND NOT m.is_deleted
    FOR UPDATE;

    IF FOUND THEN
        v_event := 'NOOP';
    ELSE
        SELECT n.id, n.similarity INTO v_existing_id, v_similarity
        FROM memory.nearest_memory(NEW.embedding, NEW.user_id, NEW.agent_id) AS n;
        IF v_similarity >= v_settings.replace_threshold THEN
            v_event := 'UPDATE';
        ELSIF v_similarity >= v_settings.merge_threshold THEN
            v_event := 'MERGE';
        ELSE
            PERFORM set_config('memory.dedup_result', NEW.id::text || ' ADD', true);
            RETURN NEW;
        END IF;
    END IF;

    PERFORM set_config('memory.dedup_event', v_event, true);  -- read by the history trigger
    UPDATE memory.memories AS m SET
        memory = CASE WHEN v_event = 'UPDATE' THEN NEW.memory ELSE m.memory END,
        embedding = CASE WHEN v_event = 'UPDATE' THEN NEW.embedding ELSE m.embedding END,
        version = CASE WHEN v_event = 'NOOP' THEN m.version ELSE m.version + 1 END,
        metadata = m.metadata || NEW.metadata,
        categories = m.categories || NEW.categories,
        relevance_score = greatest(m.relevance_score, NEW.relevance_score),
        access_count = m.access_count + 1,
        last_accessed_at = now(),
        expires_at = CASE WHEN m.expires_at IS NULL OR NEW.expires_at IS NULL THEN NULL
                          ELSE greatest(m.expires_at, NEW.expires_at) END
    WHERE m.id = v_existing_id;
    PERFORM set_config('memory.dedup_event', '', true);
    PERFORM set_config('memory.dedup_result', v_existing_id::text || ' ' || v_event, true);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.deduplicate_memories() IS
    'Trigger: turns an INSERT into NOOP, UPDATE or MERGE of an existing memory of the same user and agent';
REVOKE ALL ON FUNCTION memory.deduplicate_memories() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_20_deduplicate ON memory.memories;
CREATE TRIGGER memories_20_deduplicate
    BEFORE INSERT ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.deduplicate_memories();

-- sql/memory/add_memory.sql as 0002 left it
-- memory.add_memory(): Mem0's add, in SQL. Inserts through the deduplication trigger and returns
-- what happened: ADD (a new memory), or NOOP, UPDATE or MERGE of the existing memory it matched.
CREATE OR REPLACE FUNCTION memory.add_memory(
    user_id text,
    memory text,
    embedding vector,
    metadata jsonb DEFAULT '{}',
    categories text[] DEFAULT '{}',
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    memory_type text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_id uuid;
    v_result text;
BEGIN
    IF add_memory.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(add_memory.user_id) = '' THEN
        RAISE EXCEPTION 'user_id must not be empty' USING ERRCODE = '22023';
    END IF;
    IF add_memory.memory IS NULL THEN
        RAISE EXCEPTION 'memory must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM memory.check_embedding(add_memory.embedding, 'embedding');
    IF add_memory.metadata IS NOT NULL AND jsonb_typeof(add_memory.metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object, got %', jsonb_typeof(add_memory.metadata)
            USING ERRCODE = '22023';
    END IF;
    IF add_memory.expires_at IS NOT NULL AND add_memory.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', add_memory.expires_at USING ERRCODE = '22023';
    END IF;

    PERFORM set_config('memory.dedup_result', '', true);
    INSERT INTO memory.memories AS m (user_id, memory, embedding, metadata, categories, agent_id, run_id,
                                      memory_type, expires_at)
    VALUES (add_memory.user_id, add_memory.memory, add_memory.embedding, coalesce(add_memory.metadata, '{}'),
            coalesce(add_memory.categories, '{}'), add_memory.agent_id, add_memory.run_id,
            add_memory.memory_type, add_memory.expires_at)
    RETURNING m.id INTO v_id;

    IF v_id IS NOT NULL THEN
        RETURN QUERY SELECT v_id, 'ADD'::text;
    ELSE
        v_result := current_setting('memory.dedup_result', true);
        RETURN QUERY SELECT split_part(v_result, ' ', 1)::uuid, split_part(v_result, ' ', 2);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz)
    TO authenticated, service_role;

-- sql/memory/update_memory.sql as 0002 left it
-- memory.update_memory(): change a live memory in place. Arguments left NULL keep their value; a
-- new text needs its new embedding. Metadata and categories given replace the old ones. The
-- version goes up and the history trigger records an UPDATE.
CREATE OR REPLACE FUNCTION memory.update_memory(
    id uuid,
    memory text DEFAULT NULL,
    embedding vector DEFAULT NULL,
    metadata jsonb DEFAULT NULL,
    categories text[] DEFAULT NULL)
RETURNS TABLE (memory_id uuid, event text, version integer)
LANGUAGE plpgsql
VOLATILE
AS $$
#variable_conflict use_variable
DECLARE
    v_version integer;
BEGIN
    IF update_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF update_memory.memory IS NOT NULL AND update_memory.embedding IS NULL THEN
        RAISE EXCEPTION 'embedding must be given with a new memory text' USING ERRCODE = '22004';
    END IF;
    IF update_memory.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(update_memory.embedding, 'embedding');
    END IF;
    IF update_memory.metadata IS NOT NULL AND jsonb_typeof(update_memory.metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object, got %', jsonb_typeof(update_memory.metadata)
            USING ERRCODE = '22023';
    END IF;
    IF num_nonnulls(update_memory.memory, update_memory.embedding, update_memory.metadata, update_memory.categories) = 0 THEN
        RAISE EXCEPTION 'nothing to update: give memory and embedding, metadata or categories' USING ERRCODE = '22023';
    END IF;
    UPDATE memory.memories AS m SET
        memory = coalesce(update_memory.memory, m.memory),
        embedding = coalesce(update_memory.embedding, m.embedding),
        metadata = coalesce(update_memory.metadata, m.metadata),
        categories = coalesce(update_memory.categories, m.categories),
        version = m.version + 1
    WHERE m.id = update_memory.id AND NOT m.is_deleted
    RETURNING m.version INTO v_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'memory % not found', update_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY SELECT update_memory.id, 'UPDATE'::text, v_version;
END
$$;

COMMENT ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) IS
    'Changes a live memory in place (NULL keeps a value); version + 1 and a history row; P0002 when not found';
REVOKE ALL ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]) TO authenticated, service_role;

-- sql/memory/search_paths.sql as 0002 left it
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
-- memory.scope_size() counts the user's matching rows with a bounded index scan, and the exact
-- path is taken while that count is at most memory.settings.exact_search_max_rows.
-- The function-level SET clauses restore every planner and hnsw setting when the function returns.
-- An empty metadata filter is skipped explicitly: `metadata @> '{}'` matches every row, yet the
-- planner answered it with a scan of the whole GIN index (18 ms per call at 28,000 rows, measured
-- in the benchmark), on every search and every deduplicated insert.
-- Without filters it counts from the btree alone (an index-only scan): the generic plan of one
-- query serving both cases read every counted row from the heap (3,000 pages, 25 ms cold, for a
-- heavy user), as the filter columns live there.
CREATE OR REPLACE FUNCTION memory.scope_size(query_user_id text, metadata_filter jsonb,
                                             category_filter text[], bound integer)
RETURNS integer
LANGUAGE plpgsql
STABLE
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
                    AND (scope_size.metadata_filter = '{}'::jsonb OR m.metadata @> scope_size.metadata_filter)
                    AND (cardinality(scope_size.category_filter) = 0 OR m.categories && scope_size.category_filter)
                  LIMIT scope_size.bound + 1) AS bounded);
END
$$;

COMMENT ON FUNCTION memory.scope_size(text, jsonb, text[], integer) IS
    'Live memories of a user matching the filters, counted up to bound + 1 (routing of search)';

CREATE OR REPLACE FUNCTION memory.search_memories_exact(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE sql
STABLE
AS $$
    WITH scoped AS MATERIALIZED (
        SELECT m.id, m.memory, m.metadata, m.categories, m.created_at, m.updated_at,
               m.embedding <=> search_memories_exact.query_embedding AS distance
        FROM memory.memories AS m
        WHERE m.user_id = search_memories_exact.query_user_id AND NOT m.is_deleted
          AND (m.expires_at IS NULL OR m.expires_at > now())
          AND (search_memories_exact.any_agent OR m.agent_id IS NOT DISTINCT FROM search_memories_exact.agent_id)
          AND (search_memories_exact.metadata_filter = '{}'::jsonb OR m.metadata @> search_memories_exact.metadata_filter)
          AND (cardinality(search_memories_exact.category_filter) = 0
               OR m.categories && search_memories_exact.category_filter)
    )
    SELECT s.id, s.memory, s.metadata, s.categories, 1 - s.distance, s.created_at, s.updated_at
    FROM scoped AS s
    WHERE 1 - s.distance >= search_memories_exact.similarity_threshold
    ORDER BY s.distance, s.id
    LIMIT search_memories_exact.match_count
$$;

COMMENT ON FUNCTION memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean) IS
    'Exact nearest memories of one user (btree on user_id, every distance computed); recall 1';

CREATE OR REPLACE FUNCTION memory.search_memories_ann(
    query_embedding vector, query_user_id text, match_count integer, metadata_filter jsonb,
    category_filter text[], similarity_threshold double precision, agent_id text DEFAULT NULL,
    any_agent boolean DEFAULT true)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = '100'
SET hnsw.max_scan_tuples = '20000'
SET enable_sort = 'off'
SET plan_cache_mode = 'force_custom_plan'
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
        WHERE m.user_id = search_memories_ann.query_user_id AND NOT m.is_deleted
          AND (m.expires_at IS NULL OR m.expires_at > now())
          AND (search_memories_ann.any_agent OR m.agent_id IS NOT DISTINCT FROM search_memories_ann.agent_id)
          AND (search_memories_ann.metadata_filter = '{}'::jsonb OR m.metadata @> search_memories_ann.metadata_filter)
          AND (cardinality(search_memories_ann.category_filter) = 0
               OR m.categories && search_memories_ann.category_filter)
        ORDER BY m.embedding <=> search_memories_ann.query_embedding
        LIMIT search_memories_ann.match_count * 2 + 10  -- relaxed order: take a margin, re-sort below
    )
    SELECT c.id, c.memory, c.metadata, c.categories, 1 - c.distance, c.created_at, c.updated_at
    FROM candidates AS c
    WHERE 1 - c.distance >= search_memories_ann.similarity_threshold
    ORDER BY c.distance, c.id
    LIMIT search_memories_ann.match_count;
END
$$;

COMMENT ON FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean) IS
    'Nearest memories of one user through an iterative HNSW scan (for users with many memories)';

CREATE OR REPLACE FUNCTION memory.nearest_memory(embedding vector, user_id text, agent_id text)
RETURNS TABLE (id uuid, similarity double precision)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_bound integer := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
BEGIN
    -- The user's size (all agents) decides the path: an upper bound of the scope's size.
    IF memory.scope_size(nearest_memory.user_id, '{}', '{}', v_bound) <= v_bound OR NOT memory.has_ann_index() THEN
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
AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
        JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
        WHERE i.indrelid = 'memory.memories'::regclass AND am.amname IN ('hnsw', 'diskann') AND i.indisvalid)
$$;

COMMENT ON FUNCTION memory.has_ann_index() IS
    'Whether memory.memories has a valid HNSW (or DiskANN) index; without one, search is exact';

REVOKE ALL ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.nearest_memory(vector, text, text), memory.has_ann_index() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.scope_size(text, jsonb, text[], integer),
    memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean),
    memory.nearest_memory(vector, text, text), memory.has_ann_index() TO authenticated, service_role;

-- sql/memory/search_memories.sql as 0002 left it
-- memory.search_memories(): a user's live memories (not deleted, not expired) nearest to the query
-- embedding, whose metadata contains metadata_filter and whose categories overlap category_filter
-- (an empty filter matches all), with cosine similarity >= similarity_threshold, best first.
-- It routes to the exact or the HNSW path (see search_paths.sql) by the size of the user's
-- filtered slice, so light users get recall 1 and heavy users do not pay a linear scan.
-- It has no side effects: call memory.touch_memories() for the results you use.
-- plan_cache_mode force_generic_plan: left to choose, the plan cache kept re-planning the exact
-- path on every call (its custom plans fold the empty filters away and look cheaper than the
-- generic plan), which cost more than the search itself: a light user's search took 381 us as
-- service_role and 619 us under RLS (planning the policy too), against 144 and 129 us with generic
-- plans, measured side by side in one session. The generic plans are the intended ones (the btree
-- on user_id for the count and the exact path); the HNSW path forces custom plans for itself.
CREATE OR REPLACE FUNCTION memory.search_memories(
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 5,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    similarity_threshold double precision DEFAULT 0.3)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
AS $$
DECLARE
    v_categories text[];
    v_bound integer;
BEGIN
    PERFORM memory.check_embedding(search_memories.query_embedding, 'query_embedding');
    IF search_memories.query_user_id IS NULL THEN
        RAISE EXCEPTION 'query_user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF vector_norm(search_memories.query_embedding) = 0 THEN
        RAISE EXCEPTION 'query_embedding must not be all zeros' USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(search_memories.metadata_filter, search_memories.category_filter);
    IF search_memories.similarity_threshold IS NULL OR NOT search_memories.similarity_threshold BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'similarity_threshold must be between 0 and 1, got %',
            coalesce(search_memories.similarity_threshold::text, 'NULL') USING ERRCODE = '22023';
    END IF;

    v_categories := memory.normalize_categories(search_memories.category_filter);
    v_bound := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
    IF memory.scope_size(search_memories.query_user_id, search_memories.metadata_filter, v_categories, v_bound) <= v_bound
       OR NOT memory.has_ann_index() THEN
        RETURN QUERY SELECT * FROM memory.search_memories_exact(
            search_memories.query_embedding, search_memories.query_user_id, search_memories.match_count,
            search_memories.metadata_filter, v_categories, search_memories.similarity_threshold);
    ELSE
        RETURN QUERY SELECT * FROM memory.search_memories_ann(
            search_memories.query_embedding, search_memories.query_user_id, search_memories.match_count,
            search_memories.metadata_filter, v_categories, search_memories.similarity_threshold);
    END IF;
END
$$;

COMMENT ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision) IS
    'Nearest live memories of a user, filtered by metadata and categories, best first';
REVOKE ALL ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision)
    TO authenticated, service_role;

-- sql/memory/hybrid_search_memories.sql as 0002 left it
-- memory.hybrid_search_memories(): reciprocal rank fusion of a full-text ranking
-- (websearch_to_tsquery over the generated tsvector, ts_rank_cd) and the vector ranking of
-- memory.search_memories(), in one statement. Each side contributes weight / (rrf_k + rank);
-- a memory found by one side only gets that side's share. Both ranks and the fused score are
-- returned, with the cosine similarity of every row.
CREATE OR REPLACE FUNCTION memory.hybrid_search_memories(
    query_text text,
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 10,
    metadata_filter jsonb DEFAULT '{}',
    category_filter text[] DEFAULT '{}',
    full_text_weight double precision DEFAULT 1,
    semantic_weight double precision DEFAULT 1,
    rrf_k integer DEFAULT 60)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_categories text[];
    v_candidates integer;
BEGIN
    IF hybrid_search_memories.query_text IS NULL THEN
        RAISE EXCEPTION 'query_text must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(hybrid_search_memories.query_text) = '' THEN
        RAISE EXCEPTION 'query_text must not be empty (use search_memories for vector-only search)'
            USING ERRCODE = '22023';
    END IF;
    IF length(hybrid_search_memories.query_text) > 10000 THEN
        RAISE EXCEPTION 'query_text is longer than 10000 characters' USING ERRCODE = '22001';
    END IF;
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
    PERFORM memory.check_filters(hybrid_search_memories.metadata_filter, hybrid_search_memories.category_filter);
    IF hybrid_search_memories.full_text_weight IS NULL OR hybrid_search_memories.semantic_weight IS NULL
       OR hybrid_search_memories.full_text_weight < 0 OR hybrid_search_memories.semantic_weight < 0
       OR hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight = 0
       OR hybrid_search_memories.full_text_weight = 'NaN' OR hybrid_search_memories.semantic_weight = 'NaN'
       OR hybrid_search_memories.full_text_weight = 'Infinity' OR hybrid_search_memories.semantic_weight = 'Infinity' THEN
        RAISE EXCEPTION 'full_text_weight and semantic_weight must be finite, >= 0 and not both 0, got % and %',
            hybrid_search_memories.full_text_weight, hybrid_search_memories.semantic_weight USING ERRCODE = '22023';
    END IF;
    IF hybrid_search_memories.rrf_k IS NULL OR hybrid_search_memories.rrf_k < 1 THEN
        RAISE EXCEPTION 'rrf_k must be at least 1, got %', coalesce(hybrid_search_memories.rrf_k::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_candidates := least(hybrid_search_memories.match_count * 2, 1000);

    RETURN QUERY
    WITH semantic AS (
        SELECT s.id, row_number() OVER (ORDER BY s.similarity DESC, s.id) AS rank
        FROM memory.search_memories(hybrid_search_memories.query_embedding, hybrid_search_memories.query_user_id,
                                    v_candidates, hybrid_search_memories.metadata_filter, v_categories, 0) AS s
    ), full_text AS (
        SELECT ranked.id, row_number() OVER (ORDER BY ranked.text_rank DESC, ranked.id) AS rank
        FROM (
            SELECT m.id, ts_rank_cd(m.fts, q.query) AS text_rank
            FROM memory.memories AS m,
                 websearch_to_tsquery('english', hybrid_search_memories.query_text) AS q(query)
            WHERE m.user_id = hybrid_search_memories.query_user_id AND NOT m.is_deleted
              AND (m.expires_at IS NULL OR m.expires_at > now())
              AND m.fts @@ q.query
              AND (hybrid_search_memories.metadata_filter = '{}'::jsonb OR m.metadata @> hybrid_search_memories.metadata_filter)
              AND (cardinality(v_categories) = 0 OR m.categories && v_categories)
            ORDER BY text_rank DESC, m.id
            LIMIT v_candidates
        ) AS ranked
    )
    SELECT m.id, m.memory, m.metadata, m.categories,
           1 - (m.embedding <=> hybrid_search_memories.query_embedding),
           ft.rank, se.rank,
           coalesce(hybrid_search_memories.full_text_weight / (hybrid_search_memories.rrf_k + ft.rank), 0)
             + coalesce(hybrid_search_memories.semantic_weight / (hybrid_search_memories.rrf_k + se.rank), 0) AS fused,
           m.created_at, m.updated_at
    FROM semantic AS se
    FULL JOIN full_text AS ft ON ft.id = se.id
    JOIN memory.memories AS m ON m.id = coalesce(se.id, ft.id)
    ORDER BY fused DESC, m.id
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer)
    TO authenticated, service_role;

-- sql/memory/list_memories.sql as 0002 left it
-- memory.list_memories(): a user's live memories, newest first, one page at a time. Keyset
-- pagination on (created_at, id): pass the last row's created_at and id to get the next page.
-- Pages stay stable while memories are added (new ones sort before the first page), unlike OFFSET.
CREATE OR REPLACE FUNCTION memory.list_memories(
    user_id text,
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    after_created_at timestamptz DEFAULT NULL,
    after_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS SETOF memory.memory_record
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF list_memories.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF (list_memories.after_created_at IS NULL) <> (list_memories.after_id IS NULL) THEN
        RAISE EXCEPTION 'after_created_at and after_id form one cursor: give both or neither'
            USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(list_memories.page_size, 'page_size');
    RETURN QUERY
    SELECT m.id, m.user_id, m.agent_id, m.run_id, m.memory, m.metadata, m.categories, m.memory_type, m.source,
           m.hash, m.relevance_score, m.access_count, m.last_accessed_at, m.version, m.expires_at,
           m.created_at, m.updated_at
    FROM memory.memories AS m
    WHERE m.user_id = list_memories.user_id AND NOT m.is_deleted
      AND (list_memories.agent_id IS NULL OR m.agent_id = list_memories.agent_id)
      AND (list_memories.run_id IS NULL OR m.run_id = list_memories.run_id)
      AND (list_memories.after_created_at IS NULL
           OR (m.created_at, m.id) < (list_memories.after_created_at, list_memories.after_id))
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT list_memories.page_size;
END
$$;

COMMENT ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) IS
    'A page of a user''s live memories, newest first; keyset cursor (created_at, id)';
REVOKE ALL ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer) TO authenticated, service_role;

DROP FUNCTION memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz);
DROP FUNCTION memory.record_duplicate_access(uuid, double precision);
DROP FUNCTION memory.bump_access(uuid, double precision);
DROP FUNCTION memory.check_categories(text[], text, integer, integer);
DROP FUNCTION memory.check_metadata(jsonb, text, integer, integer);
DROP FUNCTION memory.check_label(text, text, integer, boolean);
DROP FUNCTION memory.meets_threshold(double precision, double precision);
DROP FUNCTION memory.embedding_is_usable(vector);

ALTER TABLE memory.settings
    DROP COLUMN max_memory_chars,
    DROP COLUMN max_id_chars,
    DROP COLUMN max_memory_type_chars,
    DROP COLUMN max_source_chars,
    DROP COLUMN max_metadata_bytes,
    DROP COLUMN max_metadata_depth,
    DROP COLUMN max_categories,
    DROP COLUMN max_category_chars,
    DROP COLUMN max_query_chars;
