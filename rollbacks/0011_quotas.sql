-- 0011_quotas rollback: no quotas or rate limits. The functions that took tokens (deduplication,
-- search, hybrid search, text search) and the health report as 0010 left them, then the quota
-- objects dropped.
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

-- sql/memory/hybrid_search_memories.sql before 0011
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

-- sql/memory/text_search_memories.sql before 0011
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
