-- Rollback of 0017_hybrid_depths: hybrid_search_memories(), unified_search() and
-- full_text_candidates() as 0016 left them; the signatures with semantic_depth are dropped.
SET LOCAL search_path = pg_catalog, extensions, public;
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision, integer);
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer);

-- sql/memory/text_search_memories.sql as 0016 left it
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
-- SECURITY DEFINER (0015): as the application's role, row-level security kept the per-user term
-- index (memories_user_terms) from serving the counts and the candidates (its && and @> are not
-- LEAKPROOF, lookup_scope.sql): every search read all the user's memories, or the whole table.
-- It reads the memories of memory.lookup_scope(query_user_id) only: the caller's own for
-- authenticated (another user's id gives no row, as the policy would), any user's for service_role.
CREATE OR REPLACE FUNCTION memory.full_text_candidates(
    query_text text, query_embedding vector, query_user_id text, depth integer, metadata_filter jsonb,
    category_filter text[], scope memory.search_scope)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               text_score double precision, created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(full_text_candidates.query_user_id);
    v_common integer := (SELECT s.full_text_common_docs FROM memory.settings AS s);
    v_terms tsquery[];
    v_keys text[];
    v_docs bigint[];
    v_choose text[] := '{}';
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
                                          AND (m.user_id = v_user) IS TRUE
                                          AND NOT m.is_deleted
                                        LIMIT v_common + 1) AS bounded) AS docs
          FROM unnest(to_tsvector(memory.text_search_config(), full_text_candidates.query_text)) AS l,
               LATERAL (SELECT v_user || chr(31) || l.lexeme) AS k(user_key)
          OFFSET 0) AS c;  -- OFFSET 0: each count once, not once per aggregate that orders by it
    IF v_terms IS NULL OR v_user IS NULL THEN
        RETURN;  -- only stop words, or another user's memories
    END IF;
    v_terms := v_terms[1:8];
    v_keys := v_keys[1:8];
    v_docs := v_docs[1:8];
    FOR i IN 1 .. cardinality(v_terms) LOOP
        -- BM25's idf over a collection of 1,000 (memory.term_weight, fusion.sql). The user's memories
        -- are not counted for it (that count was the largest cost of a heavy user's query): with
        -- document frequencies capped at full_text_common_docs + 1, the ranking hardly depends on it.
        v_weights := v_weights || memory.term_weight(v_docs[i]);
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
                AND (m.user_id = v_user) IS TRUE
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
                ELSE 1 - (m.embedding OPERATOR(extensions.<=>) full_text_candidates.query_embedding) END,
           r.score, m.created_at, m.updated_at
    FROM ranked AS r
    JOIN memory.memories AS m ON m.id = r.id
    ORDER BY r.score DESC, m.updated_at DESC, r.id;
END
$$;

COMMENT ON FUNCTION memory.full_text_candidates(text, vector, text, integer, jsonb, text[], memory.search_scope) IS
    'Any-term full-text ranking of a user''s memories by the summed idf of matched terms';

-- memory.text_search_memories(): the full-text side on its own, with the search's scoping; it
-- takes a token of the caller's 'search' bucket after the arguments are checked. VOLATILE, like
-- search_memories, since taking the token writes: PostgREST runs a STABLE function in a read-only
-- transaction, where that write fails (25006).
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
VOLATILE
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
    PERFORM memory.take_token('search', text_search_memories.query_user_id);  -- rate limit: rate_limits.sql
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

-- sql/memory/hybrid_search_memories.sql as 0016 left it
-- memory.hybrid_search_memories(): the vector ranking of memory.vector_candidates() (what
-- search_memories returns) and the any-term full-text ranking of memory.full_text_candidates(),
-- fused in one statement; the arguments and the scope are checked once, here.
-- Each side contributes its best candidate_depth memories (default 20, at least match_count).
-- fusion 'rrf' (reciprocal rank fusion): weight / (rrf_k + rank) per side, summed; a memory found
-- by one side only gets that side's share. fusion 'weighted': each side's scores are min-max
-- normalised over its candidates (the best is 1, the last 0; a lone candidate 1), then averaged
-- with the two weights. The formulas are defined once, in fusion.sql (agent.unified_search
-- fuses the same way). The defaults (rrf, rrf_k 10, equal weights, depth 20) are the best of
-- the measured grid on the development conversations (docs/memory.md, "Retrieval quality").
-- Both ranks and the fused score are returned, with the cosine similarity of every row.
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked
-- (PGRST, HTTP 429, when empty); its vector side is not charged again as a search.
-- entity_weight (from 0012; default 0, off) boosts the candidates linked to entities the query
-- names (memory.query_entities: exact names or aliases among its word n-grams, at most 8, the
-- most selective first). A candidate's boost is the sum, over those entities, of
-- memory.entity_boost_weight(links) (Mem0's damping: an entity on every memory adds nothing);
-- 'rrf' adds entity_weight x boost / (rrf_k + 1), what a first rank in a third ranking would add,
-- 'weighted' averages entity_weight x min(boost, 1) with the two sides. entity_boost returns it.
-- Each side returns the columns of its rows itself, so the fusion joins the two candidate lists
-- only, never the whole table. Its plan does not depend on the values: a generic one
-- (plan_cache_mode), not planned anew on every call.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
-- The signature changes (a new argument): the old one is dropped, not left as an overload.
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer);
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
    candidate_depth integer DEFAULT 20,
    entity_weight double precision DEFAULT 0)
RETURNS TABLE (id uuid, memory text, metadata jsonb, categories text[], similarity double precision,
               full_text_rank bigint, semantic_rank bigint, score double precision,
               created_at timestamptz, updated_at timestamptz, entity_boost double precision)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_categories text[];
    v_depth integer;
    v_scope memory.search_scope;
    v_entities uuid[] := '{}';
    v_entity_weights double precision[] := '{}';
BEGIN
    PERFORM memory.check_query_text(hybrid_search_memories.query_text);
    PERFORM memory.check_embedding(hybrid_search_memories.query_embedding, 'query_embedding');
    PERFORM memory.check_label(hybrid_search_memories.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_count(hybrid_search_memories.match_count, 'match_count');
    PERFORM memory.check_count(hybrid_search_memories.candidate_depth, 'candidate_depth');
    PERFORM memory.check_filters(hybrid_search_memories.metadata_filter, hybrid_search_memories.category_filter);
    PERFORM memory.check_fusion(hybrid_search_memories.fusion, hybrid_search_memories.full_text_weight,
                                hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k);
    IF hybrid_search_memories.entity_weight IS NULL OR NOT hybrid_search_memories.entity_weight BETWEEN 0 AND 1000000 THEN
        RAISE EXCEPTION 'entity_weight must be between 0 and 1000000, got %',
            coalesce(hybrid_search_memories.entity_weight::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    v_scope := memory.search_scope(hybrid_search_memories.agent_id, hybrid_search_memories.run_id,
                                   hybrid_search_memories.filters, hybrid_search_memories.created_within,
                                   hybrid_search_memories.updated_within);
    PERFORM memory.take_token('hybrid_search', hybrid_search_memories.query_user_id);  -- rate limit: rate_limits.sql
    v_categories := memory.normalize_categories(hybrid_search_memories.category_filter);
    v_depth := greatest(hybrid_search_memories.candidate_depth, hybrid_search_memories.match_count);
    IF hybrid_search_memories.entity_weight > 0 THEN
        SELECT coalesce(array_agg(q.entity_id), '{}'), coalesce(array_agg(memory.entity_boost_weight(q.links)), '{}')
        INTO v_entities, v_entity_weights
        FROM memory.query_entities(hybrid_search_memories.query_text, hybrid_search_memories.query_user_id) AS q;
    END IF;

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
    ), boosted AS (
        SELECT me.memory_id AS id, sum(q.weight) AS boost
        FROM unnest(v_entities, v_entity_weights) AS q(entity_id, weight)
        JOIN memory.memory_entities AS me ON me.entity_id = q.entity_id
        WHERE me.memory_id IN (SELECT c.id FROM semantic AS c UNION SELECT c.id FROM full_text AS c)
        GROUP BY me.memory_id
    ), normalised AS (
        SELECT se.*, memory.normalised_score(se.raw_score, min(se.raw_score) OVER (), max(se.raw_score) OVER ()) AS norm
        FROM semantic AS se
    ), normalised_text AS (
        SELECT ft.*, memory.normalised_score(ft.raw_score, min(ft.raw_score) OVER (), max(ft.raw_score) OVER ()) AS norm
        FROM full_text AS ft
    )
    SELECT coalesce(se.id, ft.id), coalesce(se.memory, ft.memory), coalesce(se.metadata, ft.metadata),
           coalesce(se.categories, ft.categories), coalesce(se.similarity, ft.similarity),
           ft.rank, se.rank,
           CASE hybrid_search_memories.fusion
               WHEN 'rrf' THEN
                   memory.fused_score('rrf', hybrid_search_memories.full_text_weight,
                                      hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k,
                                      ft.rank, se.rank, ft.norm, se.norm)
                   + hybrid_search_memories.entity_weight * coalesce(b.boost, 0) / (hybrid_search_memories.rrf_k + 1)
               ELSE (memory.fused_score('weighted', hybrid_search_memories.full_text_weight,
                                        hybrid_search_memories.semantic_weight, hybrid_search_memories.rrf_k,
                                        ft.rank, se.rank, ft.norm, se.norm)
                     * (hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight)
                     + hybrid_search_memories.entity_weight * least(coalesce(b.boost, 0), 1))
                    / (hybrid_search_memories.full_text_weight + hybrid_search_memories.semantic_weight
                       + hybrid_search_memories.entity_weight)
           END AS fused,
           coalesce(se.created_at, ft.created_at), coalesce(se.updated_at, ft.updated_at), coalesce(b.boost, 0)
    FROM normalised AS se
    FULL JOIN normalised_text AS ft ON ft.id = se.id
    LEFT JOIN boosted AS b ON b.id = coalesce(se.id, ft.id)
    ORDER BY fused DESC, coalesce(se.id, ft.id)
    LIMIT hybrid_search_memories.match_count;
END
$$;

COMMENT ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision) IS
    'Full-text and vector search of a user''s memories fused by reciprocal rank or weighted scores, with both ranks';
REVOKE ALL ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer, text, text, jsonb, tstzrange, tstzrange, text, integer, double precision)
    TO authenticated, service_role;

-- sql/agent/unified_search.sql as 0016 left it
-- agent.unified_search(): one hybrid search over a user's memories, RAG chunks and conversation
-- messages (entities join once they exist), each row saying what it is (`kind`) and where it
-- came from: origin_agent_id and origin_session_id (a memory's agent and run, a message's agent
-- and session), or origin_source_id, document_id, uri and ordinal (a chunk's repository,
-- document and place in it).
-- The ranking is the hybrid search's (hybrid_search_memories.sql), over the union of the kinds:
--   semantic side:  the nearest candidate_depth rows of each kind (memory.vector_candidates for
--                   memories, agent.vector_candidates for the others: the same routing rule,
--                   exact up to memory.settings.exact_search_max_rows rows, iterative HNSW above),
--                   ranked together by cosine similarity (one embedding space);
--   full-text side: the any-term idf ranking (memory.full_text_candidates for memories,
--                   agent.full_text_candidates for the others: the same term weights, statistics
--                   per user and corpus), ranked together by score;
--   fused by memory.fused_score (rrf, k 10, by default; or weighted). Ties are broken as the
--   hybrid search breaks them (full text: the more recent row; semantic and fused: the id), so
--   that with memories alone both return the same ranking.
-- Scope: kinds chooses what is searched ('memory', 'chunk', 'conversation'; all by default);
-- agent_id narrows memories and conversations to that agent (chunks belong to no agent);
-- source_id narrows chunks to that repository (memories and conversations have none). Chunks
-- with the same text (memory.text_hash) in several documents are one hit: the best-ranked copy.
-- Cost: every side reads at most its bounded candidates of the user's own rows through the
-- user's index keys, so a search grows with the user's matching rows, not with the table.
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.takes_exact_path(): exact search for a user's rows of one kind while they are at most
-- memory.settings.exact_search_max_rows (memory.takes_exact_path's rule), or with no HNSW index.
CREATE OR REPLACE FUNCTION agent.takes_exact_path(kind text, query_user_id text, agent_id text, source_id text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_bound integer := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
    v_rows integer;
BEGIN
    IF takes_exact_path.kind = 'chunk' THEN
        IF to_regclass('agent.chunks_embedding_ann') IS NULL THEN
            RETURN true;
        END IF;
        SELECT count(*) INTO v_rows
        FROM (SELECT 1 FROM agent.chunks AS c
              WHERE c.user_id = takes_exact_path.query_user_id
                AND (takes_exact_path.source_id IS NULL OR c.source_id = takes_exact_path.source_id)
              LIMIT v_bound + 1) AS bounded;
    ELSE
        IF to_regclass('agent.conversations_embedding_ann') IS NULL THEN
            RETURN true;
        END IF;
        SELECT count(*) INTO v_rows
        FROM (SELECT 1 FROM agent.conversations AS v
              WHERE v.user_id = takes_exact_path.query_user_id
                AND (takes_exact_path.agent_id IS NULL OR v.agent_id = takes_exact_path.agent_id)
              LIMIT v_bound + 1) AS bounded;
    END IF;
    RETURN v_rows <= v_bound;
END
$$;

COMMENT ON FUNCTION agent.takes_exact_path(text, text, text, text) IS
    'Whether a vector search of a user''s chunks or messages is exact (few rows) or iterative HNSW';

-- agent.vector_candidates(): the nearest chunks (one per distinct text) and messages (those with
-- an embedding) of a user, at most `depth` of each kind, with a similarity of at least 0 (the
-- threshold of the hybrid search's vector side). The ANN queries run with enable_sort
-- off (as memory.search_memories_ann does), so the planner walks the HNSW graph instead of
-- sorting the user's rows; the exact ones compute every distance of a MATERIALIZED set. Hashes
-- are sorted in the "C" collation: byte order is all DISTINCT ON needs, and the database's
-- linguistic collation made that sort most of the cost (5 ms for 200 chunks, measured).
CREATE OR REPLACE FUNCTION agent.vector_candidates(query_embedding vector, query_user_id text, depth integer,
                                                   kinds text[], agent_id text, source_id text)
RETURNS TABLE (kind text, id uuid, key text, score double precision, recency timestamptz)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = '40'
SET hnsw.max_scan_tuples = '20000'
SET enable_sort = 'on'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM set_config('hnsw.ef_search', greatest(v_settings.hnsw_ef_search, vector_candidates.depth)::text, true),
            set_config('hnsw.max_scan_tuples', v_settings.hnsw_max_scan_tuples::text, true);
    IF 'chunk' = ANY (vector_candidates.kinds) THEN
        IF agent.takes_exact_path('chunk', vector_candidates.query_user_id, NULL, vector_candidates.source_id) THEN
            RETURN QUERY
            WITH scoped AS MATERIALIZED (
                SELECT c.id, c.content_hash, c.created_at, c.embedding <=> vector_candidates.query_embedding AS distance
                FROM agent.chunks AS c
                WHERE c.user_id = vector_candidates.query_user_id
                  AND (vector_candidates.source_id IS NULL OR c.source_id = vector_candidates.source_id)
            ), distinct_texts AS (
                SELECT DISTINCT ON (s.content_hash COLLATE "C") s.id, s.content_hash, s.created_at, s.distance
                FROM scoped AS s
                ORDER BY s.content_hash COLLATE "C", s.distance, s.created_at, s.id
            )
            SELECT 'chunk'::text, d.id, 'chunk:' || d.content_hash, 1 - d.distance, d.created_at
            FROM distinct_texts AS d
            WHERE memory.meets_threshold(1 - d.distance, 0)
            ORDER BY d.distance, d.id
            LIMIT vector_candidates.depth;
        ELSE
            PERFORM set_config('enable_sort', 'off', true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT c.id, c.content_hash, c.created_at, c.embedding <=> vector_candidates.query_embedding AS distance
                FROM agent.chunks AS c
                WHERE c.user_id = vector_candidates.query_user_id
                  AND (vector_candidates.source_id IS NULL OR c.source_id = vector_candidates.source_id)
                ORDER BY c.embedding <=> vector_candidates.query_embedding
                LIMIT vector_candidates.depth * 2 + 10  -- relaxed order and duplicates: a margin
            ), distinct_texts AS (
                SELECT DISTINCT ON (s.content_hash COLLATE "C") s.id, s.content_hash, s.created_at, s.distance
                FROM candidates AS s
                ORDER BY s.content_hash COLLATE "C", s.distance, s.created_at, s.id
            )
            SELECT 'chunk'::text, d.id, 'chunk:' || d.content_hash, 1 - d.distance, d.created_at
            FROM distinct_texts AS d
            WHERE memory.meets_threshold(1 - d.distance, 0)
            ORDER BY d.distance, d.id
            LIMIT vector_candidates.depth;
            PERFORM set_config('enable_sort', 'on', true);
        END IF;
    END IF;
    IF 'conversation' = ANY (vector_candidates.kinds) THEN
        IF agent.takes_exact_path('conversation', vector_candidates.query_user_id, vector_candidates.agent_id, NULL) THEN
            RETURN QUERY
            WITH scoped AS MATERIALIZED (
                SELECT v.id, v.created_at, v.embedding <=> vector_candidates.query_embedding AS distance
                FROM agent.conversations AS v
                WHERE v.user_id = vector_candidates.query_user_id AND v.embedding IS NOT NULL
                  AND (vector_candidates.agent_id IS NULL OR v.agent_id = vector_candidates.agent_id)
            )
            SELECT 'conversation'::text, s.id, 'conversation:' || s.id, 1 - s.distance, s.created_at
            FROM scoped AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance, s.id
            LIMIT vector_candidates.depth;
        ELSE
            PERFORM set_config('enable_sort', 'off', true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT v.id, v.created_at, v.embedding <=> vector_candidates.query_embedding AS distance
                FROM agent.conversations AS v
                WHERE v.user_id = vector_candidates.query_user_id AND v.embedding IS NOT NULL
                  AND (vector_candidates.agent_id IS NULL OR v.agent_id = vector_candidates.agent_id)
                ORDER BY v.embedding <=> vector_candidates.query_embedding
                LIMIT vector_candidates.depth * 2 + 10
            )
            SELECT 'conversation'::text, s.id, 'conversation:' || s.id, 1 - s.distance, s.created_at
            FROM candidates AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance, s.id
            LIMIT vector_candidates.depth;
            PERFORM set_config('enable_sort', 'on', true);
        END IF;
    END IF;
END
$$;

COMMENT ON FUNCTION agent.vector_candidates(vector, text, integer, text[], text, text) IS
    'Nearest chunks (one per distinct text) and messages of a user, at most depth of each kind';

-- agent.full_text_candidates(): memory.full_text_candidates' ranking over a user's chunks and
-- messages together: each distinct query lexeme's documents are counted (up to
-- memory.settings.full_text_common_docs + 1 per kind) through the (user, lexeme) GIN keys of
-- memory.user_terms, weighted by memory.term_weight, the selective terms (at most that many
-- documents; else the rarest) choose at most 8 x (full_text_common_docs + 1) candidates per kind,
-- and a candidate scores the summed weights of the terms it holds. At most 8 terms (the rarest).
-- A chunk text held by several documents is one candidate (its best-ranked copy).
-- SECURITY DEFINER (0015), as memory.full_text_candidates(): under row-level security the GIN keys'
-- && and @> (not LEAKPROOF) could not be index conditions for the application's role; it reads
-- the rows of memory.lookup_scope(query_user_id) only and returns ids, which the caller reads
-- under row-level security.
CREATE OR REPLACE FUNCTION agent.full_text_candidates(query_text text, query_user_id text, depth integer,
                                                      kinds text[], agent_id text, source_id text)
RETURNS TABLE (kind text, id uuid, key text, score double precision, recency timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := memory.lookup_scope(full_text_candidates.query_user_id);
    v_common integer := (SELECT s.full_text_common_docs FROM memory.settings AS s);
    v_chunks boolean := 'chunk' = ANY (full_text_candidates.kinds);
    v_messages boolean := 'conversation' = ANY (full_text_candidates.kinds);
    v_terms tsquery[];
    v_keys text[];
    v_docs bigint[];
    v_weights double precision[] := '{}';
    v_choose text[] := '{}';
BEGIN
    IF NOT (v_chunks OR v_messages) THEN
        RETURN;
    END IF;
    SELECT array_agg(c.term ORDER BY c.docs, c.lexeme), array_agg(c.user_key ORDER BY c.docs, c.lexeme),
           array_agg(c.docs ORDER BY c.docs, c.lexeme)
    INTO v_terms, v_keys, v_docs
    FROM (SELECT l.lexeme, memory.lexeme_query(l.lexeme) AS term, k.user_key,
                 least((SELECT count(*) FROM (SELECT 1 FROM agent.chunks AS c
                                              WHERE v_chunks AND memory.user_terms(c.user_id, c.fts) @> ARRAY[k.user_key]
                                                AND (c.user_id = v_user) IS TRUE
                                                AND (full_text_candidates.source_id IS NULL
                                                     OR c.source_id = full_text_candidates.source_id)
                                              LIMIT v_common + 1) AS bounded)
                       + (SELECT count(*) FROM (SELECT 1 FROM agent.conversations AS v
                                                WHERE v_messages AND memory.user_terms(v.user_id, v.fts) @> ARRAY[k.user_key]
                                                  AND (v.user_id = v_user) IS TRUE
                                                  AND (full_text_candidates.agent_id IS NULL
                                                       OR v.agent_id = full_text_candidates.agent_id)
                                                LIMIT v_common + 1) AS bounded),
                       v_common + 1) AS docs
          FROM unnest(to_tsvector(memory.text_search_config(), full_text_candidates.query_text)) AS l,
               LATERAL (SELECT v_user || chr(31) || l.lexeme) AS k(user_key)
          OFFSET 0) AS c
    WHERE c.docs > 0;
    IF v_terms IS NULL THEN
        RETURN;  -- only stop words, or no term in the user's rows
    END IF;
    v_terms := v_terms[1:8];
    v_keys := v_keys[1:8];
    v_docs := v_docs[1:8];
    FOR i IN 1 .. cardinality(v_terms) LOOP
        v_weights := v_weights || memory.term_weight(v_docs[i]);
        IF v_docs[i] <= v_common OR i = 1 THEN
            v_choose := v_choose || v_keys[i];
        END IF;
    END LOOP;

    RETURN QUERY
    WITH candidates AS (
        (SELECT 'chunk'::text AS kind, c.id, 'chunk:' || c.content_hash AS key, c.fts, c.created_at AS recency
         FROM agent.chunks AS c
         WHERE v_chunks AND memory.user_terms(c.user_id, c.fts) && v_choose
           AND (c.user_id = v_user) IS TRUE
           AND (full_text_candidates.source_id IS NULL OR c.source_id = full_text_candidates.source_id)
         LIMIT 8 * (v_common + 1))
        UNION ALL
        (SELECT 'conversation'::text, v.id, 'conversation:' || v.id, v.fts, v.created_at
         FROM agent.conversations AS v
         WHERE v_messages AND memory.user_terms(v.user_id, v.fts) && v_choose
           AND (v.user_id = v_user) IS TRUE
           AND (full_text_candidates.agent_id IS NULL OR v.agent_id = full_text_candidates.agent_id)
         LIMIT 8 * (v_common + 1))
    ), scored AS (
        SELECT DISTINCT ON (c.key COLLATE "C") c.kind, c.id, c.key, c.recency,
               (SELECT sum(t.weight) FROM unnest(v_terms, v_weights) AS t(term, weight) WHERE c.fts @@ t.term) AS text_score
        FROM candidates AS c
        ORDER BY c.key COLLATE "C", text_score DESC, c.recency, c.id
    )
    SELECT s.kind, s.id, s.key, s.text_score, s.recency
    FROM scored AS s
    ORDER BY s.text_score DESC, s.recency DESC, s.id
    LIMIT full_text_candidates.depth;
END
$$;

COMMENT ON FUNCTION agent.full_text_candidates(text, text, integer, text[], text, text) IS
    'Any-term full-text ranking of a user''s chunks (one per distinct text) and messages by the summed idf of matched terms';

CREATE OR REPLACE FUNCTION agent.unified_search(
    query_text text,
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 10,
    kinds text[] DEFAULT '{memory,chunk,conversation}',
    agent_id text DEFAULT NULL,
    source_id text DEFAULT NULL,
    full_text_weight double precision DEFAULT 1,
    semantic_weight double precision DEFAULT 1,
    rrf_k integer DEFAULT 10,
    fusion text DEFAULT 'rrf',
    candidate_depth integer DEFAULT 20)
RETURNS TABLE (kind text, id uuid, content text, metadata jsonb, origin_agent_id text, origin_session_id text,
               origin_source_id text, document_id uuid, uri text, ordinal integer, similarity double precision, full_text_rank bigint,
               semantic_rank bigint, score double precision, created_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max_id_chars integer := (SELECT s.max_id_chars FROM memory.settings AS s);
    v_depth integer;
    v_scope memory.search_scope;
    v_memories boolean;
BEGIN
    PERFORM memory.check_query_text(unified_search.query_text);
    PERFORM memory.check_embedding(unified_search.query_embedding, 'query_embedding');
    PERFORM memory.check_label(unified_search.query_user_id, 'query_user_id', v_max_id_chars, true);
    PERFORM memory.check_count(unified_search.match_count, 'match_count');
    PERFORM memory.check_count(unified_search.candidate_depth, 'candidate_depth');
    PERFORM memory.check_label(unified_search.agent_id, 'agent_id', v_max_id_chars);
    PERFORM memory.check_label(unified_search.source_id, 'source_id', v_max_id_chars);
    IF unified_search.kinds IS NULL THEN
        RAISE EXCEPTION 'kinds must not be NULL (memory, chunk, conversation)' USING ERRCODE = '22004';
    END IF;
    IF cardinality(unified_search.kinds) = 0 OR array_position(unified_search.kinds, NULL) IS NOT NULL
       OR NOT unified_search.kinds <@ ARRAY['memory', 'chunk', 'conversation'] THEN
        RAISE EXCEPTION 'kinds must be a non-empty list of memory, chunk, conversation, got %',
            left(unified_search.kinds::text, 200) USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_fusion(unified_search.fusion, unified_search.full_text_weight,
                                unified_search.semantic_weight, unified_search.rrf_k);
    v_scope := memory.search_scope(unified_search.agent_id, NULL, NULL, NULL, NULL);
    PERFORM memory.take_token('hybrid_search', unified_search.query_user_id);  -- rate limit: rate_limits.sql
    v_depth := greatest(unified_search.candidate_depth, unified_search.match_count);
    v_memories := 'memory' = ANY (unified_search.kinds);

    RETURN QUERY
    WITH semantic AS (
        SELECT 'memory'::text AS kind, s.id, 'memory:' || s.id AS key, s.similarity AS raw_score, s.updated_at AS recency
        FROM memory.vector_candidates(unified_search.query_embedding, unified_search.query_user_id, v_depth, '{}', '{}',
                                      0, v_scope) AS s
        WHERE v_memories
        UNION ALL
        SELECT a.kind, a.id, a.key, a.score, a.recency
        FROM agent.vector_candidates(unified_search.query_embedding, unified_search.query_user_id, v_depth,
                                     unified_search.kinds, unified_search.agent_id, unified_search.source_id) AS a
    ), full_text AS (
        SELECT 'memory'::text AS kind, f.id, 'memory:' || f.id AS key, f.text_score AS raw_score, f.updated_at AS recency
        FROM memory.full_text_candidates(unified_search.query_text, NULL, unified_search.query_user_id, v_depth, '{}',
                                         '{}', v_scope) AS f
        WHERE v_memories
        UNION ALL
        SELECT a.kind, a.id, a.key, a.score, a.recency
        FROM agent.full_text_candidates(unified_search.query_text, unified_search.query_user_id, v_depth,
                                        unified_search.kinds, unified_search.agent_id, unified_search.source_id) AS a
    ), semantic_ranked AS (
        SELECT se.*, row_number() OVER (ORDER BY se.raw_score DESC, se.id) AS rank,
               memory.normalised_score(se.raw_score, min(se.raw_score) OVER (), max(se.raw_score) OVER ()) AS norm
        FROM semantic AS se
    ), full_text_ranked AS (
        SELECT ft.*, row_number() OVER (ORDER BY ft.raw_score DESC, ft.recency DESC, ft.id) AS rank,
               memory.normalised_score(ft.raw_score, min(ft.raw_score) OVER (), max(ft.raw_score) OVER ()) AS norm
        FROM full_text AS ft
    ), fused AS (
        SELECT j.* FROM (
            SELECT coalesce(se.kind, ft.kind) AS hit_kind, coalesce(se.id, ft.id) AS hit_id, ft.rank AS text_rank,
                   se.rank AS vector_rank,
                   memory.fused_score(unified_search.fusion, unified_search.full_text_weight,
                                      unified_search.semantic_weight, unified_search.rrf_k, ft.rank, se.rank, ft.norm,
                                      se.norm) AS fused_score,
                   greatest(se.recency, ft.recency) AS recency
            FROM semantic_ranked AS se
            FULL JOIN full_text_ranked AS ft ON ft.key = se.key) AS j
        ORDER BY j.fused_score DESC, j.hit_id
        LIMIT unified_search.match_count
    )
    SELECT f.hit_kind, f.hit_id, coalesce(m.memory, c.content, v.content), coalesce(m.metadata, d.metadata, v.metadata),
           coalesce(m.agent_id, v.agent_id), coalesce(m.run_id, v.session_id), c.source_id, c.document_id, d.uri,
           c.ordinal,
           1 - (coalesce(m.embedding, c.embedding, v.embedding) <=> unified_search.query_embedding),
           f.text_rank, f.vector_rank, f.fused_score, coalesce(m.created_at, c.created_at, v.created_at)
    -- each hit read by its primary key (LIMIT 1 keeps these from being flattened into joins:
    -- estimating 2,000 fused rows, the planner hashed every row of the user's three tables, 25 of
    -- a 64 ms search)
    FROM fused AS f
    LEFT JOIN LATERAL (SELECT x.* FROM memory.memories AS x
                       WHERE f.hit_kind = 'memory' AND x.id = f.hit_id LIMIT 1) AS m ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.chunks AS x
                       WHERE f.hit_kind = 'chunk' AND x.id = f.hit_id LIMIT 1) AS c ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.documents AS x WHERE x.id = c.document_id LIMIT 1) AS d ON true
    LEFT JOIN LATERAL (SELECT x.* FROM agent.conversations AS x
                       WHERE f.hit_kind = 'conversation' AND x.id = f.hit_id LIMIT 1) AS v ON true
    ORDER BY f.fused_score DESC, f.hit_id;
END
$$;

COMMENT ON FUNCTION agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer) IS
    'Hybrid search over a user''s memories, RAG chunks and conversations; each row names its kind and origin';

REVOKE ALL ON FUNCTION agent.takes_exact_path(text, text, text, text),
    agent.vector_candidates(vector, text, integer, text[], text, text),
    agent.full_text_candidates(text, text, integer, text[], text, text),
    agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.takes_exact_path(text, text, text, text),
    agent.vector_candidates(vector, text, integer, text[], text, text),
    agent.full_text_candidates(text, text, integer, text[], text, text),
    agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer)
    TO authenticated, service_role;
