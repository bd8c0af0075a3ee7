-- agent.unified_search(): one hybrid search over a user's memories, RAG chunks, conversation
-- messages and entities (0025), each row saying what it is (`kind`) and where it came from:
-- origin_agent_id and origin_session_id (a memory's agent and run, a message's agent and
-- session), or origin_source_id, document_id, uri and ordinal (a chunk's repository, document
-- and place in it). An entity's content is its name, its metadata {entity_type, aliases,
-- attributes}; merged and deleted entities are never found.
-- The ranking is the hybrid search's (hybrid_search_memories.sql), over the union of the kinds:
--   semantic side:  the nearest semantic_depth rows of each kind (memory.vector_candidates for
--                   memories, agent.vector_candidates for the others: the same routing rule,
--                   exact up to memory.settings.exact_search_max_rows rows, iterative HNSW above),
--                   ranked together by cosine similarity (one embedding space);
--   full-text side: the best candidate_depth rows by the any-term idf ranking
--                   (memory.full_text_candidates for memories,
--                   agent.full_text_candidates for the others: the same term weights, statistics
--                   per user and corpus), ranked together by score;
--   fused by memory.fused_score (rrf, k 10, by default; or weighted). Ties are broken as the
--   hybrid search breaks them (full text: the more recent row; semantic and fused: the id), so
--   that with memories alone both return the same ranking.
-- Scope: kinds chooses what is searched ('memory', 'chunk', 'conversation', 'entity'; all by
-- default); agent_id narrows memories and conversations to that agent (chunks and entities
-- belong to no agent); source_id narrows chunks to that repository (the others have none). Chunks
-- with the same text (memory.text_hash) in several documents are one hit: the best-ranked copy.
-- Cost: every side reads at most its bounded candidates of the user's own rows through the
-- user's index keys, so a search grows with the user's matching rows, not with the table.
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.takes_exact_path(): exact search for a user's rows of one kind ('chunk', 'conversation',
-- 'entity') while the rows its HNSW index holds for them (those with an embedding; for entities,
-- live ones) are at most memory.settings.exact_search_max_rows (counted up to one more, from a
-- btree with the HNSW index's predicate: agent.conversations_embedded_user and
-- memory.entities_embedded_user, 0025), or when the kind's HNSW index is missing; iterative HNSW
-- above. Until 0025 messages without an embedding were counted too, so a user with many of them
-- and few embedded walked the graph for rows it does not hold. What memory.takes_exact_path adds
-- for memories is not here: those tables keep no per-user count, so there is no share rule (a
-- share below exact_search_max_share searched exactly) and no per-user index.
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
    ELSIF takes_exact_path.kind = 'entity' THEN
        IF to_regclass('memory.entities_embedding_ann') IS NULL THEN
            RETURN true;
        END IF;
        SELECT count(*) INTO v_rows
        FROM (SELECT 1 FROM memory.entities AS e
              WHERE e.user_id = takes_exact_path.query_user_id
                AND e.embedding IS NOT NULL AND NOT e.is_deleted AND e.merged_into IS NULL
              LIMIT v_bound + 1) AS bounded;
    ELSE
        IF to_regclass('agent.conversations_embedding_ann') IS NULL THEN
            RETURN true;
        END IF;
        SELECT count(*) INTO v_rows
        FROM (SELECT 1 FROM agent.conversations AS v
              WHERE v.user_id = takes_exact_path.query_user_id AND v.embedding IS NOT NULL
                AND (takes_exact_path.agent_id IS NULL OR v.agent_id = takes_exact_path.agent_id)
              LIMIT v_bound + 1) AS bounded;
    END IF;
    RETURN v_rows <= v_bound;
END
$$;

COMMENT ON FUNCTION agent.takes_exact_path(text, text, text, text) IS
    'Whether a vector search of a user''s chunks, messages or entities is exact (few rows) or iterative HNSW';

-- agent.walk_limit(): hnsw.max_scan_tuples for the HNSW path of one kind (0025): the walk of
-- memory.hnsw_scan_settings() for a user holding at least exact_search_max_rows + 1 of the
-- entries of the kind's HNSW index (the path is taken only then, so that is a lower bound of
-- their share, and a longer walk than their share needs only costs when their rows are not met
-- sooner), at most the index's entries. Until 0025 the walk stopped at
-- memory.settings.hnsw_max_scan_tuples (20,000 entries) whatever the index's size: a user just
-- above the bound among millions of rows got a few of theirs, not depth.
-- Without statistics for the index (never analyzed: reltuples -1), or with statistics older than
-- the user's own rows (reltuples at most the bound), the walk is not cut (2,147,483,647): a walk
-- ends once it has the rows it needs, and recall comes first. ANALYZE (autovacuum) restores the
-- bound.
-- The first pass stays the settings' hnsw_ef_search: a lower bound of the share would widen it
-- for heavy users, and a light share's rows come from the later passes (search_paths.sql).
CREATE OR REPLACE FUNCTION agent.walk_limit(kind text, needed integer)
RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_index regclass;
    v_entries double precision;
    v_bound integer := (SELECT s.exact_search_max_rows FROM memory.settings AS s);
BEGIN
    v_index := CASE walk_limit.kind WHEN 'chunk' THEN to_regclass('agent.chunks_embedding_ann')
                                    WHEN 'conversation' THEN to_regclass('agent.conversations_embedding_ann')
                                    WHEN 'entity' THEN to_regclass('memory.entities_embedding_ann') END;
    IF walk_limit.kind IS NULL OR walk_limit.kind NOT IN ('chunk', 'conversation', 'entity') THEN
        RAISE EXCEPTION 'kind must be chunk, conversation or entity, got %', coalesce(left(walk_limit.kind, 100), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT c.reltuples INTO v_entries FROM pg_catalog.pg_class AS c WHERE c.oid = v_index;
    IF v_entries IS NULL OR v_entries <= v_bound THEN
        RETURN 2147483647;
    END IF;
    RETURN (SELECT h.max_scan_tuples
            FROM memory.hnsw_scan_settings((v_bound + 1) / v_entries, walk_limit.needed, v_entries) AS h);
END
$$;

COMMENT ON FUNCTION agent.walk_limit(text, integer) IS
    'hnsw.max_scan_tuples for the HNSW path of a kind: long enough for a user just above the exact path''s bound';

-- agent.vector_candidates(): the nearest chunks (one per distinct text), messages and entities
-- (live, not merged) with an embedding of a user, at most `depth` of each kind, with a similarity
-- of at least 0 (the threshold of the hybrid search's vector side). The HNSW paths walk at most
-- agent.walk_limit() entries. The ANN queries run with enable_sort
-- off (as memory.search_memories_ann does), so the planner walks the HNSW graph instead of
-- sorting the user's rows; the exact ones compute every distance of a MATERIALIZED set. Hashes
-- are sorted in the "C" collation: byte order is all DISTINCT ON needs, and the database's
-- linguistic collation made that sort most of the cost (5 ms for 200 chunks, measured). Both
-- paths read the hashes of the nearest depth * 2 + 10 chunks only (from 0021): beside the inline
-- 1536-dim vector (storage plain) a chunk's text and hash are stored out of line, and the exact
-- path's DISTINCT ON over every chunk of the user read three TOAST pages per chunk.
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
    v_stored_query memory.memories.embedding%TYPE := vector_candidates.query_embedding;  -- cast once: stored_embedding.sql
    v_needed integer := vector_candidates.depth * 2 + 10;  -- relaxed order and copies of one text: a margin
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM set_config('hnsw.ef_search', greatest(v_settings.hnsw_ef_search, vector_candidates.depth)::text, true);
    IF 'chunk' = ANY (vector_candidates.kinds) THEN
        IF agent.takes_exact_path('chunk', vector_candidates.query_user_id, NULL, vector_candidates.source_id) THEN
            RETURN QUERY
            WITH scoped AS MATERIALIZED (
                SELECT c.id, c.content_hash, c.created_at, c.embedding <=> v_stored_query AS distance
                FROM agent.chunks AS c
                WHERE c.user_id = vector_candidates.query_user_id
                  AND (vector_candidates.source_id IS NULL OR c.source_id = vector_candidates.source_id)
            ), nearest AS (
                SELECT s.id, s.content_hash, s.created_at, s.distance
                FROM scoped AS s
                ORDER BY s.distance, s.id
                LIMIT v_needed  -- copies of one text: the ANN path's margin
            ), distinct_texts AS (
                SELECT DISTINCT ON (s.content_hash COLLATE "C") s.id, s.content_hash, s.created_at, s.distance
                FROM nearest AS s
                ORDER BY s.content_hash COLLATE "C", s.distance, s.created_at, s.id
            )
            SELECT 'chunk'::text, d.id, 'chunk:' || d.content_hash, 1 - d.distance, d.created_at
            FROM distinct_texts AS d
            WHERE memory.meets_threshold(1 - d.distance, 0)
            ORDER BY d.distance, d.id
            LIMIT vector_candidates.depth;
        ELSE
            PERFORM set_config('enable_sort', 'off', true),
                    set_config('hnsw.max_scan_tuples', agent.walk_limit('chunk', v_needed)::text, true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT c.id, c.content_hash, c.created_at, c.embedding <=> v_stored_query AS distance
                FROM agent.chunks AS c
                WHERE c.user_id = vector_candidates.query_user_id
                  AND (vector_candidates.source_id IS NULL OR c.source_id = vector_candidates.source_id)
                ORDER BY c.embedding <=> v_stored_query
                LIMIT v_needed
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
                SELECT v.id, v.created_at, v.embedding <=> v_stored_query AS distance
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
            PERFORM set_config('enable_sort', 'off', true),
                    set_config('hnsw.max_scan_tuples', agent.walk_limit('conversation', v_needed)::text, true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT v.id, v.created_at, v.embedding <=> v_stored_query AS distance
                FROM agent.conversations AS v
                WHERE v.user_id = vector_candidates.query_user_id AND v.embedding IS NOT NULL
                  AND (vector_candidates.agent_id IS NULL OR v.agent_id = vector_candidates.agent_id)
                ORDER BY v.embedding <=> v_stored_query
                LIMIT v_needed
            )
            SELECT 'conversation'::text, s.id, 'conversation:' || s.id, 1 - s.distance, s.created_at
            FROM candidates AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance + 0, s.id  -- + 0: a real re-sort (search_paths.sql)
            LIMIT vector_candidates.depth;
            PERFORM set_config('enable_sort', 'on', true);
        END IF;
    END IF;
    IF 'entity' = ANY (vector_candidates.kinds) THEN
        IF agent.takes_exact_path('entity', vector_candidates.query_user_id, NULL, NULL) THEN
            RETURN QUERY
            WITH scoped AS MATERIALIZED (
                SELECT e.id, e.updated_at, e.embedding <=> v_stored_query AS distance
                FROM memory.entities AS e
                WHERE e.user_id = vector_candidates.query_user_id AND e.embedding IS NOT NULL
                  AND NOT e.is_deleted AND e.merged_into IS NULL
            )
            SELECT 'entity'::text, s.id, 'entity:' || s.id, 1 - s.distance, s.updated_at
            FROM scoped AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance, s.id
            LIMIT vector_candidates.depth;
        ELSE
            PERFORM set_config('enable_sort', 'off', true),
                    set_config('hnsw.max_scan_tuples', agent.walk_limit('entity', v_needed)::text, true);
            RETURN QUERY
            WITH candidates AS MATERIALIZED (
                SELECT e.id, e.updated_at, e.embedding <=> v_stored_query AS distance
                FROM memory.entities AS e
                WHERE e.user_id = vector_candidates.query_user_id AND e.embedding IS NOT NULL
                  AND NOT e.is_deleted AND e.merged_into IS NULL
                ORDER BY e.embedding <=> v_stored_query
                LIMIT v_needed
            )
            SELECT 'entity'::text, s.id, 'entity:' || s.id, 1 - s.distance, s.updated_at
            FROM candidates AS s
            WHERE memory.meets_threshold(1 - s.distance, 0)
            ORDER BY s.distance + 0, s.id  -- + 0: a real re-sort (search_paths.sql)
            LIMIT vector_candidates.depth;
            PERFORM set_config('enable_sort', 'on', true);
        END IF;
    END IF;
END
$$;

COMMENT ON FUNCTION agent.vector_candidates(vector, text, integer, text[], text, text) IS
    'Nearest chunks (one per distinct text), messages and entities of a user, at most depth of each kind';

-- agent.full_text_candidates(): memory.full_text_candidates' ranking over a user's chunks,
-- messages and entities (names, aliases and string attributes; live, not merged: 0025) together: each distinct query lexeme's documents are counted (up to
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
    v_entities boolean := 'entity' = ANY (full_text_candidates.kinds);
    v_terms tsquery[];
    v_keys text[];
    v_docs bigint[];
    v_weights double precision[] := '{}';
    v_choose text[] := '{}';
BEGIN
    IF NOT (v_chunks OR v_messages OR v_entities) THEN
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
                                                LIMIT v_common + 1) AS bounded)
                       + (SELECT count(*) FROM (SELECT 1 FROM memory.entities AS e
                                                WHERE v_entities AND memory.user_terms(e.user_id, e.fts) @> ARRAY[k.user_key]
                                                  AND (e.user_id = v_user) IS TRUE
                                                  AND NOT e.is_deleted AND e.merged_into IS NULL
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
        UNION ALL
        (SELECT 'entity'::text, e.id, 'entity:' || e.id, e.fts, e.updated_at
         FROM memory.entities AS e
         WHERE v_entities AND memory.user_terms(e.user_id, e.fts) && v_choose
           AND (e.user_id = v_user) IS TRUE AND NOT e.is_deleted AND e.merged_into IS NULL
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
    'Any-term full-text ranking of a user''s chunks (one per distinct text), messages and entities by the summed idf of matched terms';

-- The signature changes (semantic_depth, 0017): the old one is dropped, not left as an overload.
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer);
CREATE OR REPLACE FUNCTION agent.unified_search(
    query_text text,
    query_embedding vector,
    query_user_id text,
    match_count integer DEFAULT 10,
    kinds text[] DEFAULT '{memory,chunk,conversation,entity}',
    agent_id text DEFAULT NULL,
    source_id text DEFAULT NULL,
    full_text_weight double precision DEFAULT 1,
    semantic_weight double precision DEFAULT 1,
    rrf_k integer DEFAULT 10,
    fusion text DEFAULT 'rrf',
    candidate_depth integer DEFAULT 20,
    semantic_depth integer DEFAULT 10)
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
    v_semantic_depth integer;
    v_scope memory.search_scope;
    v_memories boolean;
    v_stored_query memory.memories.embedding%TYPE;  -- the query, cast once: stored_embedding.sql
BEGIN
    PERFORM memory.check_query_text(unified_search.query_text);
    PERFORM memory.check_embedding(unified_search.query_embedding, 'query_embedding');
    PERFORM memory.check_label(unified_search.query_user_id, 'query_user_id', v_max_id_chars, true);
    PERFORM memory.check_count(unified_search.match_count, 'match_count');
    PERFORM memory.check_count(unified_search.candidate_depth, 'candidate_depth');
    PERFORM memory.check_count(unified_search.semantic_depth, 'semantic_depth');
    PERFORM memory.check_label(unified_search.agent_id, 'agent_id', v_max_id_chars);
    PERFORM memory.check_label(unified_search.source_id, 'source_id', v_max_id_chars);
    IF unified_search.kinds IS NULL THEN
        RAISE EXCEPTION 'kinds must not be NULL (memory, chunk, conversation, entity)' USING ERRCODE = '22004';
    END IF;
    IF cardinality(unified_search.kinds) = 0 OR array_position(unified_search.kinds, NULL) IS NOT NULL
       OR NOT unified_search.kinds <@ ARRAY['memory', 'chunk', 'conversation', 'entity'] THEN
        RAISE EXCEPTION 'kinds must be a non-empty list of memory, chunk, conversation, entity, got %',
            left(unified_search.kinds::text, 200) USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_fusion(unified_search.fusion, unified_search.full_text_weight,
                                unified_search.semantic_weight, unified_search.rrf_k);
    v_scope := memory.search_scope(unified_search.agent_id, NULL, NULL, NULL, NULL);
    PERFORM memory.take_token('hybrid_search', unified_search.query_user_id);  -- rate limit: rate_limits.sql
    v_stored_query := unified_search.query_embedding;  -- once checked: a bad one gets check_embedding's error
    v_depth := greatest(unified_search.candidate_depth, unified_search.match_count);
    v_semantic_depth := greatest(unified_search.semantic_depth, unified_search.match_count);
    v_memories := 'memory' = ANY (unified_search.kinds);

    RETURN QUERY
    WITH semantic AS (
        SELECT 'memory'::text AS kind, s.id, 'memory:' || s.id AS key, s.similarity AS raw_score, s.updated_at AS recency
        FROM memory.vector_candidates(unified_search.query_embedding, unified_search.query_user_id, v_semantic_depth,
                                      '{}', '{}', 0, v_scope) AS s
        WHERE v_memories
        UNION ALL
        SELECT a.kind, a.id, a.key, a.score, a.recency
        FROM agent.vector_candidates(unified_search.query_embedding, unified_search.query_user_id, v_semantic_depth,
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
    SELECT f.hit_kind, f.hit_id, coalesce(m.memory, c.content, v.content, e.name),
           coalesce(m.metadata, d.metadata, v.metadata,
                    CASE WHEN e.id IS NOT NULL
                         THEN jsonb_build_object('entity_type', e.entity_type, 'aliases', to_jsonb(e.aliases),
                                                 'attributes', e.attributes) END),
           coalesce(m.agent_id, v.agent_id), coalesce(m.run_id, v.session_id), c.source_id, c.document_id, d.uri,
           c.ordinal,
           1 - (coalesce(m.embedding, c.embedding, v.embedding, e.embedding) <=> v_stored_query),
           f.text_rank, f.vector_rank, f.fused_score, coalesce(m.created_at, c.created_at, v.created_at, e.created_at)
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
    LEFT JOIN LATERAL (SELECT x.* FROM memory.entities AS x
                       WHERE f.hit_kind = 'entity' AND x.id = f.hit_id LIMIT 1) AS e ON true
    ORDER BY f.fused_score DESC, f.hit_id;
END
$$;

COMMENT ON FUNCTION agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer) IS
    'Hybrid search over a user''s memories, RAG chunks, conversations and entities; each row names its kind and origin';

REVOKE ALL ON FUNCTION agent.takes_exact_path(text, text, text, text), agent.walk_limit(text, integer),
    agent.vector_candidates(vector, text, integer, text[], text, text),
    agent.full_text_candidates(text, text, integer, text[], text, text),
    agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.takes_exact_path(text, text, text, text), agent.walk_limit(text, integer),
    agent.vector_candidates(vector, text, integer, text[], text, text),
    agent.full_text_candidates(text, text, integer, text[], text, text),
    agent.unified_search(text, vector, text, integer, text[], text, text, double precision, double precision, integer, text, integer, integer)
    TO authenticated, service_role;
