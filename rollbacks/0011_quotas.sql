-- 0011_quotas rollback: no quotas or rate limits. The functions that took tokens (deduplication,
-- search, hybrid search) and the health report as they were before 0011, then the quota objects
-- dropped. Written against 0009's definitions: once 0010 (retrieval quality) is merged before
-- 0011, the two search functions here must be 0010's.
SET LOCAL search_path = pg_catalog, extensions, public;

DROP TRIGGER memories_15_rate_limit_update ON memory.memories;
DROP TRIGGER memories_15_rate_limit_delete ON memory.memories;
DROP TRIGGER memories_90_quota_usage_insert ON memory.memories;
DROP TRIGGER memories_90_quota_usage_update ON memory.memories;
DROP TRIGGER memories_90_quota_usage_delete ON memory.memories;

-- sql/memory/deduplicate_memories.sql before 0011
-- Trigger memories_20_deduplicate (BEFORE INSERT): a plain INSERT from psql is deduplicated too.
-- Within one user and agent (NULL agent is its own scope), in this order:
--   same normalised text     -> NOOP: metadata merged (new keys win), categories unioned, and the
--                               existing memory's relevance and last access refreshed;
--   cosine >= replace (0.98) -> UPDATE: the existing memory takes the new text and embedding;
--   cosine >= merge (0.95)   -> MERGE: it keeps its text; categories and metadata are merged;
--   otherwise                -> ADD: the new row is inserted.
-- The row was checked by memories_10_normalize first, and a merged result is checked against the
-- same bounds before it is written. Similarities compare through memory.meets_threshold (NaN never
-- matches), and a memory stored before 0005 with an unusable embedding is never matched: its
-- similarity with anything is NaN or, once pgvector clamps an infinite ratio, exactly 1. NOOP, UPDATE and MERGE cancel the insert (INSERT 0 0) and leave '<id> <event>' in the
-- hand-off of dedup_outcome.sql, which memory.add_memory() returns.
-- Concurrency: a transaction-level advisory lock per (user, agent) serialises writers of one scope;
-- under READ COMMITTED each query below takes a fresh snapshot, so the second of two concurrent
-- inserts sees the first once it commits. The matched row is not locked while deciding: if a
-- concurrent transaction deletes it meanwhile, the update finds no live row and the insert goes
-- ahead as an ADD. Under REPEATABLE READ and SERIALIZABLE, a NOOP that changes nothing but the
-- access bookkeeping (relevance, access count, last access) skips that bookkeeping when another
-- transaction changed the row after this one's snapshot, instead of failing with 40001: access
-- statistics are best effort there, the memory itself is never lost. A NOOP that merges new
-- metadata or categories is a real write and conflicts as PostgreSQL's isolation levels say.
-- Plans are custom (plan_cache_mode), and the hash is computed once into a variable: PL/pgSQL's
-- cached generic plan looked the hash up through the user_id index instead of one probe of the
-- unique index.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.deduplicate_memories()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_custom_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
    v_hash text := memory.text_hash(NEW.memory);
    v_existing_id uuid;
    v_similarity double precision;
    v_event text;
    v_old_metadata jsonb;
    v_old_categories text[];
    v_old_expires_at timestamptz;
    v_metadata jsonb;
    v_categories text[];
    v_expires_at timestamptz;
    v_updated integer;
    v_usable boolean;
BEGIN
    IF NEW.is_deleted THEN
        RETURN NEW;  -- restoring history (a dump, an import): nothing to compare with
    END IF;
    PERFORM pg_advisory_xact_lock(memory.scope_lock_key(NEW.user_id, NEW.agent_id));
    SELECT * INTO v_settings FROM memory.settings;

    SELECT m.id INTO v_existing_id
    FROM memory.memories AS m
    WHERE m.user_id = NEW.user_id AND memory.same_agent(m.agent_id, NEW.agent_id)
      AND m.hash = v_hash AND NOT m.is_deleted;

    IF FOUND THEN
        v_event := 'NOOP';
    ELSE
        SELECT n.id, n.similarity INTO v_existing_id, v_similarity
        FROM memory.nearest_memory(NEW.embedding, NEW.user_id, NEW.agent_id) AS n;
        v_event := CASE WHEN NOT memory.meets_threshold(v_similarity, v_settings.merge_threshold) THEN 'ADD'
                        WHEN memory.meets_threshold(v_similarity, v_settings.replace_threshold) THEN 'UPDATE'
                        ELSE 'MERGE' END;
    END IF;

    IF v_event <> 'ADD' THEN  -- the matched memory, read once
        SELECT m.metadata, m.categories, m.expires_at, v_event = 'NOOP' OR memory.embedding_is_usable(m.embedding)
        INTO v_old_metadata, v_old_categories, v_old_expires_at, v_usable
        FROM memory.memories AS m WHERE m.id = v_existing_id;
    END IF;
    IF v_event = 'ADD' OR NOT v_usable THEN
        PERFORM memory.set_dedup_outcome(NEW.id, 'ADD');
        RETURN NEW;
    END IF;
    v_metadata := v_old_metadata || NEW.metadata;
    v_categories := memory.normalize_categories(v_old_categories || NEW.categories);
    v_expires_at := CASE WHEN v_old_expires_at IS NULL OR NEW.expires_at IS NULL THEN NULL
                         ELSE greatest(v_old_expires_at, NEW.expires_at) END;
    PERFORM memory.check_metadata(v_metadata, format('metadata (merged into memory %s)', v_existing_id),
                                  v_settings.max_metadata_bytes, v_settings.max_metadata_depth);
    PERFORM memory.check_categories(v_categories, format('categories (merged into memory %s)', v_existing_id),
                                    v_settings.max_categories, v_settings.max_category_chars);

    IF v_event = 'NOOP' AND v_metadata = v_old_metadata AND v_categories = v_old_categories
       AND v_expires_at IS NOT DISTINCT FROM v_old_expires_at THEN
        v_updated := memory.record_duplicate_access(v_existing_id, NEW.relevance_score);
    ELSE
        PERFORM memory.set_dedup_event(v_event);  -- read by the history trigger
        UPDATE memory.memories AS m SET
            memory = CASE WHEN v_event = 'UPDATE' THEN NEW.memory ELSE m.memory END,
            embedding = CASE WHEN v_event = 'UPDATE' THEN NEW.embedding ELSE m.embedding END,
            version = CASE WHEN v_event = 'NOOP' THEN m.version ELSE m.version + 1 END,
            metadata = v_metadata,
            categories = v_categories,
            relevance_score = greatest(m.relevance_score, NEW.relevance_score),
            access_count = m.access_count + 1,
            last_accessed_at = now(),
            expires_at = v_expires_at
        WHERE m.id = v_existing_id AND NOT m.is_deleted;
        GET DIAGNOSTICS v_updated = ROW_COUNT;
        PERFORM memory.set_dedup_event(NULL);
    END IF;
    IF v_updated = 0 THEN  -- deleted by a concurrent transaction since we looked: add the new one
        PERFORM memory.set_dedup_outcome(NEW.id, 'ADD');
        RETURN NEW;
    END IF;
    PERFORM memory.set_dedup_outcome(v_existing_id, v_event);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.deduplicate_memories() IS
    'Trigger: turns an INSERT into NOOP, UPDATE or MERGE of an existing memory of the same user and agent';
REVOKE ALL ON FUNCTION memory.deduplicate_memories() FROM PUBLIC;

-- memory.record_duplicate_access(): the bookkeeping of a NOOP that brings nothing new: relevance
-- back up, access count + 1, last access now. Returns 1, or 0 when the memory is no longer live.
-- Under REPEATABLE READ and SERIALIZABLE a row changed by another transaction after this one's
-- snapshot cannot be updated (40001); the bookkeeping is then skipped (the memory is there: 1),
-- in a subtransaction taken only at those levels (READ COMMITTED pays for none).
CREATE OR REPLACE FUNCTION memory.bump_access(id uuid, relevance double precision)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH bumped AS (
        UPDATE memory.memories AS m
        SET relevance_score = greatest(m.relevance_score, bump_access.relevance),
            access_count = m.access_count + 1, last_accessed_at = now()
        WHERE m.id = bump_access.id AND NOT m.is_deleted
        RETURNING 1
    )
    SELECT count(*)::integer FROM bumped
$$;

COMMENT ON FUNCTION memory.bump_access(uuid, double precision) IS
    'Relevance up to at least the given one, access count + 1, last access now; 1 if the memory is live, else 0';

CREATE OR REPLACE FUNCTION memory.record_duplicate_access(id uuid, relevance double precision)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        RETURN memory.bump_access(record_duplicate_access.id, record_duplicate_access.relevance);
    END IF;
    BEGIN
        RETURN memory.bump_access(record_duplicate_access.id, record_duplicate_access.relevance);
    EXCEPTION WHEN serialization_failure THEN
        RETURN 1;  -- changed after our snapshot by another transaction: skip the bookkeeping
    END;
END
$$;

COMMENT ON FUNCTION memory.record_duplicate_access(uuid, double precision) IS
    'NOOP bookkeeping (bump_access); skipped on a serialization conflict under REPEATABLE READ / SERIALIZABLE';
REVOKE ALL ON FUNCTION memory.bump_access(uuid, double precision),
    memory.record_duplicate_access(uuid, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.bump_access(uuid, double precision),
    memory.record_duplicate_access(uuid, double precision) TO authenticated, service_role;

DROP TRIGGER IF EXISTS memories_20_deduplicate ON memory.memories;
CREATE TRIGGER memories_20_deduplicate
    BEFORE INSERT ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.deduplicate_memories();

-- sql/memory/search_memories.sql before 0011
-- memory.search_memories(): a user's live memories (not deleted, not expired) nearest to the query
-- embedding, whose metadata contains metadata_filter and whose categories overlap category_filter
-- (an empty filter matches all), with cosine similarity >= similarity_threshold, best first.
-- It routes to the exact or the HNSW path (see search_paths.sql) by the size of the user's
-- filtered slice, so light users get recall 1 and heavy users do not pay a linear scan.
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
    similarity_threshold double precision DEFAULT 0.3)
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

    v_categories := memory.normalize_categories(search_memories.category_filter);
    IF memory.takes_exact_path(search_memories.query_user_id, search_memories.metadata_filter, v_categories) THEN
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

-- sql/memory/hybrid_search_memories.sql before 0011
-- memory.hybrid_search_memories(): reciprocal rank fusion of a full-text ranking
-- (websearch_to_tsquery over the generated tsvector, ts_rank_cd) and the vector ranking of
-- memory.search_memories(), in one statement. Each side contributes weight / (rrf_k + rank);
-- a memory found by one side only gets that side's share. Both ranks and the fused score are
-- returned, with the cosine similarity of every row.
-- Each side returns the columns of its rows itself, so the fusion joins the two candidate lists
-- only: no join back to memory.memories, whose plan was a sequential scan of the whole table
-- (every user's rows read and removed by the filter), making the cost grow with the table
-- instead of with the user's memories.
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
    rrf_k integer DEFAULT 60)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_candidates integer;
    v_max_query_chars integer := (SELECT s.max_query_chars FROM memory.settings AS s);
BEGIN
    IF hybrid_search_memories.query_text IS NULL THEN
        RAISE EXCEPTION 'query_text must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF btrim(hybrid_search_memories.query_text) = '' THEN
        RAISE EXCEPTION 'query_text must not be empty (use search_memories for vector-only search)'
            USING ERRCODE = '22023';
    END IF;
    IF length(hybrid_search_memories.query_text) > v_max_query_chars THEN
        RAISE EXCEPTION 'query_text is % characters long; at most % are allowed',
            length(hybrid_search_memories.query_text), v_max_query_chars USING ERRCODE = '22001';
    END IF;
    PERFORM memory.check_embedding(hybrid_search_memories.query_embedding, 'query_embedding');
    PERFORM memory.check_label(hybrid_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
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
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_candidates := least(hybrid_search_memories.match_count * 2, 1000);

    RETURN QUERY
    WITH semantic AS (
        SELECT s.id, s.memory, s.metadata, s.categories, s.similarity, s.created_at, s.updated_at,
               row_number() OVER (ORDER BY s.similarity DESC, s.id) AS rank
        FROM memory.search_memories(hybrid_search_memories.query_embedding, hybrid_search_memories.query_user_id,
                                    v_candidates, hybrid_search_memories.metadata_filter, v_categories, 0) AS s
    ), full_text AS (
        SELECT r.id, r.memory, r.metadata, r.categories,
               1 - (r.embedding <=> hybrid_search_memories.query_embedding) AS similarity,
               r.created_at, r.updated_at,
               row_number() OVER (ORDER BY r.text_rank DESC, r.id) AS rank
        FROM (
            SELECT m.id, m.memory, m.metadata, m.categories, m.embedding, m.created_at, m.updated_at,
                   ts_rank_cd(m.fts, q.query) AS text_rank
            FROM memory.memories AS m,
                 websearch_to_tsquery('english', hybrid_search_memories.query_text) AS q(query)
            WHERE m.user_id = hybrid_search_memories.query_user_id AND memory.is_live(m.is_deleted, m.expires_at)
              AND m.fts @@ q.query
              AND memory.matches_filters(m.metadata, m.categories, hybrid_search_memories.metadata_filter,
                                         v_categories)
            ORDER BY text_rank DESC, m.id
            LIMIT v_candidates
        ) AS r
    )
    SELECT coalesce(se.id, ft.id), coalesce(se.memory, ft.memory), coalesce(se.metadata, ft.metadata),
           coalesce(se.categories, ft.categories), coalesce(se.similarity, ft.similarity),
           ft.rank, se.rank,
           coalesce(hybrid_search_memories.full_text_weight / (hybrid_search_memories.rrf_k + ft.rank), 0)
             + coalesce(hybrid_search_memories.semantic_weight / (hybrid_search_memories.rrf_k + se.rank), 0) AS fused,
           coalesce(se.created_at, ft.created_at), coalesce(se.updated_at, ft.updated_at)
    FROM semantic AS se
    FULL JOIN full_text AS ft ON ft.id = se.id
    ORDER BY fused DESC, coalesce(se.id, ft.id)
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer)
    TO authenticated, service_role;

-- sql/ops/health_report.sql before 0011
-- ops.health_report(): everything above in one jsonb document, and a 0-100 score: 100 minus a
-- named deduction per finding. A finding's severity (warning or critical) gives the overall
-- status that `mempg health` turns into its exit code. Unused indexes are listed but cost no
-- points: on a young database every index is unused.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION ops.health_report(recall_sample integer DEFAULT 5)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_deductions jsonb := '[]';
    v_finding record;
    v_dead_warning numeric := (SELECT t.warning FROM ops.thresholds AS t WHERE t.metric = 'dead_tuple_ratio');
    v_dead_critical numeric := (SELECT t.critical FROM ops.thresholds AS t WHERE t.metric = 'dead_tuple_ratio');
    v_dead_minimum numeric := (SELECT s.value FROM ops.settings AS s WHERE s.key = 'dead_tuples_min');
    v_vectors jsonb;
    v_score integer;
BEGIN
    PERFORM pg_catalog.pg_stat_clear_snapshot();  -- read current statistics, not this transaction's cached copy
    SELECT coalesce(jsonb_agg(to_jsonb(v)), '[]') INTO v_vectors FROM ops.vector_index_health(health_report.recall_sample) AS v;
    FOR v_finding IN
        SELECT format('database %s is %s (%s)', h.metric, h.status, h.value) AS reason, h.status AS severity,
               CASE h.status WHEN 'critical' THEN 20 ELSE 5 END AS points
        FROM ops.database_health AS h WHERE h.status <> 'ok'
        UNION ALL
        SELECT format('table %s.%s has %s dead tuples (ratio %s)', s.schema_name, s.table_name, s.dead_tuples, s.dead_ratio),
               CASE WHEN s.dead_ratio >= v_dead_critical THEN 'critical' ELSE 'warning' END,
               CASE WHEN s.dead_ratio >= v_dead_critical THEN 10 ELSE 5 END
        FROM ops.table_stats AS s WHERE s.dead_ratio >= v_dead_warning AND s.dead_tuples >= v_dead_minimum
        UNION ALL
        SELECT format('index %s.%s is invalid (maintained on every write, never used): drop or rebuild it',
                      i.schema_name, i.index_name), 'warning', 15
        FROM ops.index_usage AS i WHERE i.is_invalid
        UNION ALL
        SELECT format('index %s.%s duplicates another index', i.schema_name, i.index_name), 'warning', 3
        FROM ops.index_usage AS i WHERE i.is_duplicate
        UNION ALL
        SELECT format('vector index %s.%s was built for fewer rows: rebuild with %s', v ->> 'schema_name',
                      v ->> 'index_name', v -> 'recommended_parameters'), 'warning', 5
        FROM jsonb_array_elements(v_vectors) AS v WHERE (v ->> 'needs_rebuild')::boolean
        UNION ALL
        SELECT format('search_memories recall estimate is %s', round((v ->> 'estimated_recall')::numeric, 3)), 'warning', 10
        FROM jsonb_array_elements(v_vectors) AS v WHERE (v ->> 'estimated_recall')::numeric < 0.9
    LOOP
        v_deductions := v_deductions || jsonb_build_object('reason', v_finding.reason, 'severity', v_finding.severity,
                                                           'points', v_finding.points);
    END LOOP;
    v_score := greatest(0, 100 - coalesce((SELECT sum((d ->> 'points')::integer) FROM jsonb_array_elements(v_deductions) AS d), 0));
    RETURN jsonb_build_object(
        'generated_at', now(),
        'database', current_database(),
        'score', v_score,
        'status', CASE WHEN v_deductions @> '[{"severity": "critical"}]' THEN 'critical'
                       WHEN jsonb_array_length(v_deductions) > 0 THEN 'warning' ELSE 'ok' END,
        'deductions', v_deductions,
        'database_health', (SELECT coalesce(jsonb_agg(to_jsonb(h)), '[]') FROM ops.database_health AS h),
        'table_stats', (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.schema_name, s.table_name), '[]') FROM ops.table_stats AS s),
        'index_usage', (SELECT coalesce(jsonb_agg(to_jsonb(i) ORDER BY i.schema_name, i.index_name), '[]') FROM ops.index_usage AS i),
        'slow_queries', (SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]') FROM ops.slow_queries() AS q),
        'vector_indexes', v_vectors,
        'capacity', (SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]') FROM ops.capacity_estimate() AS c));
END
$$;

COMMENT ON FUNCTION ops.health_report(integer) IS
    'All health views and functions as jsonb, with a 0-100 score and each deduction named';
REVOKE ALL ON FUNCTION ops.health_report(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.health_report(integer) TO service_role;

DROP VIEW ops.quota_pressure;
DROP VIEW ops.quota_refusals;
DROP FUNCTION memory.quota_status(text);
DROP FUNCTION memory.recount_quota_usage(text);
DROP FUNCTION memory.count_quota_usage();
DROP FUNCTION memory.adjust_quota_usage(text, integer, bigint, text);
DROP FUNCTION memory.quota_bytes(text, jsonb);
DROP FUNCTION memory.limit_memory_writes();
DROP FUNCTION memory.take_token(text, text);
DROP FUNCTION memory.refuse_quota(text, text, text, text, text, integer);
DROP FUNCTION memory.bucket_level(double precision, timestamptz, integer, double precision, timestamptz);
DROP FUNCTION memory.quota_now();
DROP FUNCTION memory.quota_plan(text);
DROP FUNCTION memory.quota_subject(text);
DROP TABLE memory.rate_buckets;
DROP TABLE memory.quota_usage;
DROP TABLE memory.quota_settings;
DROP TABLE memory.user_quota_plans;
DROP TABLE memory.rate_limits;
DROP TABLE memory.quota_plans;
DROP SEQUENCE memory.quota_refusals_rate_add;
DROP SEQUENCE memory.quota_refusals_rate_update;
DROP SEQUENCE memory.quota_refusals_rate_delete;
DROP SEQUENCE memory.quota_refusals_rate_search;
DROP SEQUENCE memory.quota_refusals_rate_hybrid_search;
DROP SEQUENCE memory.quota_refusals_cap_add;
DROP SEQUENCE memory.quota_refusals_cap_update;
DROP DOMAIN memory.quota_operation;

-- sql/ops/grants.sql before 0011
-- Privileges of schema ops: service_role only. Nothing here is granted to authenticated or anon.
REVOKE ALL ON ALL TABLES IN SCHEMA ops FROM PUBLIC, anon, authenticated;
GRANT SELECT ON ops.database_health, ops.table_stats, ops.index_usage, ops.thresholds, ops.settings TO service_role;
GRANT UPDATE ON ops.thresholds, ops.settings TO service_role;
