-- 0013_agent_data: agent operations data in a schema of its own, `agent` (issue 14), under
-- row-level security like the rest of mempg (every row belongs to a user):
-- * conversations: messages of an agent's sessions, optional embedding, keyset listing by
--   session (turn order) and by agent (newest first);
-- * documents and chunks for RAG: re-ingesting a document replaces its chunks in one transaction
--   when its content hash changed and writes nothing when it did not; chunks keep a hash of
--   their normalised text, so the same text in two documents is one search hit;
-- * ingestions: a queue with a status machine (queued -> running -> completed | failed, retries
--   with a limit and a backoff), claimed with FOR UPDATE SKIP LOCKED for a lease (visibility
--   timeout) that returns a crashed worker's job to the queue;
-- * workflow_executions: a status machine with its timestamps and a generated duration;
-- * metrics: append-only samples, range-partitioned by day (created ahead and dropped after the
--   retention by agent.maintain_metric_partitions, which `mempg maintain` calls), with the
--   (user_id, component, recorded_at) index INCLUDE (metrics) and p50/p95 per component and hour;
-- * agent.unified_search: the hybrid ranking of 0010 over memories, chunks and conversations.
-- The fusion and term-weight formulas move into memory.fused_score, memory.normalised_score,
-- memory.check_fusion and memory.term_weight (sql/memory/fusion.sql), which
-- hybrid_search_memories and full_text_candidates now call (their results are unchanged), so
-- that the unified search ranks by the same definitions; ops.project_schemas() lists `agent`.
-- Vector columns take the dimension chosen at install (mempg.embedding_dim()), tsvectors the
-- text-search configuration (mempg.settings), as memory.memories does.
-- Extension types by name, whatever search_path the runner's session started with:
SET LOCAL search_path = pg_catalog, extensions, public;

CREATE SCHEMA agent;
COMMENT ON SCHEMA agent IS 'Agent operations data: conversations, RAG documents and chunks, the ingestion queue, workflow executions, metrics';

CREATE TABLE agent.settings (
    singleton               boolean PRIMARY KEY DEFAULT true CONSTRAINT one_row CHECK (singleton),
    visibility_timeout      interval NOT NULL DEFAULT '5 minutes'
        CONSTRAINT visibility_timeout_range CHECK (visibility_timeout > interval '0' AND visibility_timeout <= interval '1 day'),
    max_attempts            integer NOT NULL DEFAULT 3 CONSTRAINT max_attempts_range CHECK (max_attempts BETWEEN 1 AND 100),
    retry_delay             interval NOT NULL DEFAULT '10 seconds'
        CONSTRAINT retry_delay_range CHECK (retry_delay >= interval '0' AND retry_delay <= interval '1 day'),
    metric_partitions_ahead integer NOT NULL DEFAULT 7
        CONSTRAINT metric_partitions_ahead_range CHECK (metric_partitions_ahead BETWEEN 1 AND 366),
    metric_retention        interval NOT NULL DEFAULT '30 days'
        CONSTRAINT metric_retention_range CHECK (metric_retention >= interval '1 day'),
    max_content_chars       integer NOT NULL DEFAULT 100000
        CONSTRAINT max_content_chars_range CHECK (max_content_chars BETWEEN 1 AND 100000),
    max_chunks              integer NOT NULL DEFAULT 10000 CONSTRAINT max_chunks_range CHECK (max_chunks BETWEEN 1 AND 100000)
);
COMMENT ON TABLE agent.settings IS 'Settings of the agent schema, one row: UPDATE it (service_role) to change them';
COMMENT ON COLUMN agent.settings.visibility_timeout IS 'Lease of a claimed ingestion: after it the job is claimed again (claim_ingestion may pass its own)';
COMMENT ON COLUMN agent.settings.max_attempts IS 'Attempts of an ingestion before it fails (enqueue_ingestion may pass its own)';
COMMENT ON COLUMN agent.settings.retry_delay IS 'Backoff of a failed attempt: retry_delay, then twice, four times as long, ...';
COMMENT ON COLUMN agent.settings.metric_partitions_ahead IS 'Daily partitions of agent.metrics kept ready ahead of today';
COMMENT ON COLUMN agent.settings.metric_retention IS 'Partitions whose whole day is older than this are dropped by maintenance';
COMMENT ON COLUMN agent.settings.max_content_chars IS 'Longest message or chunk text (the table''s ceiling: 100,000)';
COMMENT ON COLUMN agent.settings.max_chunks IS 'Most chunks in one ingested document';
INSERT INTO agent.settings DEFAULT VALUES;

CREATE TABLE agent.documents (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      text NOT NULL CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
    source_id    text NOT NULL CONSTRAINT source_id_valid CHECK (source_id <> '' AND length(source_id) <= 255),
    uri          text NOT NULL CONSTRAINT uri_valid CHECK (uri <> '' AND length(uri) <= 2048),
    content_hash text NOT NULL CONSTRAINT content_hash_is_sha256 CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    metadata     jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    version      integer NOT NULL DEFAULT 1 CONSTRAINT version_positive CHECK (version >= 1),
    chunk_count  integer NOT NULL DEFAULT 0 CONSTRAINT chunk_count_not_negative CHECK (chunk_count >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- one document per uri of a source: also the index of a repository's listing
    CONSTRAINT documents_uri_unique UNIQUE (user_id, source_id, uri),
    -- the target of the chunks' foreign key, which keeps their user and source the document's
    CONSTRAINT documents_owner_unique UNIQUE (id, user_id, source_id)
);
COMMENT ON TABLE agent.documents IS 'RAG documents: a uri of a source (repository), its content hash and version';
COMMENT ON COLUMN agent.documents.content_hash IS 'sha256 of the chunk texts in order (agent.document_hash): re-ingestion compares it';

-- The tables with a vector column take the install's dimension (created by EXECUTE, as 0002
-- does), and their tsvector the install's text-search configuration. Embedding storage as in
-- 0002 (PLAIN up to 1,800 dimensions: no TOAST fetch per distance), tsvectors MAIN as in 0010
-- (scoring reads each candidate's). HNSW indexes up to 2,000 dimensions, as pgvector allows.
DO $$
DECLARE
    v_dim integer := mempg.embedding_dim();
    v_config text := (SELECT s.value FROM mempg.settings AS s WHERE s.key = 'text_search_config');
BEGIN
    IF v_dim IS NULL OR v_config IS NULL THEN
        RAISE EXCEPTION 'mempg.settings holds no embedding_dim or text_search_config: apply 0001 and 0010 first'
            USING ERRCODE = '55000';
    END IF;
    EXECUTE format($ddl$
        CREATE TABLE agent.conversations (
            id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            turn       bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT conversations_turn_unique UNIQUE,
            user_id    text NOT NULL CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
            agent_id   text NOT NULL CONSTRAINT agent_id_valid CHECK (agent_id <> '' AND length(agent_id) <= 255),
            session_id text NOT NULL CONSTRAINT session_id_valid CHECK (session_id <> '' AND length(session_id) <= 255),
            role       text NOT NULL CONSTRAINT role_known CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content    text NOT NULL CONSTRAINT content_not_blank CHECK (content ~ '[^[:space:]]')
                       CONSTRAINT content_length CHECK (length(content) <= 100000),
            metadata   jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
            embedding  vector(%1$s) CONSTRAINT embedding_not_zero CHECK (vector_norm(embedding) > 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            fts        tsvector NOT NULL GENERATED ALWAYS AS (to_tsvector(%2$L::regconfig, content)) STORED
        )$ddl$, v_dim, v_config);
    EXECUTE format($ddl$
        CREATE TABLE agent.chunks (
            id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            document_id  uuid NOT NULL,
            user_id      text NOT NULL,
            source_id    text NOT NULL,
            ordinal      integer NOT NULL CONSTRAINT ordinal_not_negative CHECK (ordinal >= 0),
            content      text NOT NULL CONSTRAINT content_not_blank CHECK (content ~ '[^[:space:]]')
                         CONSTRAINT content_length CHECK (length(content) <= 100000),
            content_hash text NOT NULL GENERATED ALWAYS AS (memory.text_hash(content)) STORED,
            embedding    vector(%1$s) NOT NULL CONSTRAINT embedding_not_zero CHECK (vector_norm(embedding) > 0),
            created_at   timestamptz NOT NULL DEFAULT now(),
            fts          tsvector NOT NULL GENERATED ALWAYS AS (to_tsvector(%2$L::regconfig, content)) STORED,
            CONSTRAINT chunks_ordinal_unique UNIQUE (document_id, ordinal),
            CONSTRAINT chunks_document_fkey FOREIGN KEY (document_id, user_id, source_id)
                REFERENCES agent.documents (id, user_id, source_id) ON DELETE CASCADE ON UPDATE CASCADE
        )$ddl$, v_dim, v_config);
    EXECUTE format('ALTER TABLE agent.conversations ALTER COLUMN embedding SET STORAGE %1$s, ALTER COLUMN fts SET STORAGE MAIN',
                   CASE WHEN v_dim <= 1800 THEN 'PLAIN' ELSE 'MAIN' END);
    EXECUTE format('ALTER TABLE agent.chunks ALTER COLUMN embedding SET STORAGE %1$s, ALTER COLUMN fts SET STORAGE MAIN',
                   CASE WHEN v_dim <= 1800 THEN 'PLAIN' ELSE 'MAIN' END);
    IF v_dim <= 2000 THEN
        CREATE INDEX conversations_embedding_ann ON agent.conversations USING hnsw (embedding vector_cosine_ops)
            WITH (m = 16, ef_construction = 128) WHERE embedding IS NOT NULL;
        CREATE INDEX chunks_embedding_ann ON agent.chunks USING hnsw (embedding vector_cosine_ops)
            WITH (m = 16, ef_construction = 128);
    ELSE
        RAISE NOTICE 'no vector index on agent.conversations and agent.chunks: pgvector indexes at most 2000 dimensions and this database uses %; their search stays exact', v_dim;
    END IF;
    -- the (user, lexeme) keys of full-text search (0010), one posting list per user and term
    CREATE INDEX conversations_user_terms ON agent.conversations USING gin (memory.user_terms(user_id, fts))
        WITH (fastupdate = off);
    CREATE INDEX chunks_user_terms ON agent.chunks USING gin (memory.user_terms(user_id, fts)) WITH (fastupdate = off);
    -- listing a session in order; an agent's messages by time (the seed's agent_conversations_agent_idx)
    CREATE INDEX conversations_user_session_turn ON agent.conversations (user_id, session_id, turn);
    CREATE INDEX conversations_user_agent_created ON agent.conversations (user_id, agent_id, created_at DESC, turn DESC);
    -- a user's chunks of a repository (routing, scoping), and the duplicates of a text
    CREATE INDEX chunks_user_source ON agent.chunks (user_id, source_id);
    CREATE INDEX chunks_user_content_hash ON agent.chunks (user_id, content_hash);
END
$$;
COMMENT ON TABLE agent.conversations IS 'Messages of agents'' sessions, one row per message; turn orders them';
COMMENT ON COLUMN agent.conversations.turn IS 'Order of messages (an identity): keyset cursor of agent.session_messages';
COMMENT ON TABLE agent.chunks IS 'Chunks of RAG documents with their embeddings; replaced whole when the document changes';
COMMENT ON COLUMN agent.chunks.content_hash IS 'memory.text_hash of the chunk text: the same text in two documents is one search hit';

CREATE TABLE agent.ingestions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text NOT NULL CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
    source_id    text NOT NULL CONSTRAINT source_id_valid CHECK (source_id <> '' AND length(source_id) <= 255),
    uri          text CONSTRAINT uri_valid CHECK (uri <> '' AND length(uri) <= 2048),
    status       text NOT NULL DEFAULT 'queued'
                 CONSTRAINT status_known CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    attempts     integer NOT NULL DEFAULT 0 CONSTRAINT attempts_not_negative CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 3 CONSTRAINT max_attempts_range CHECK (max_attempts BETWEEN 1 AND 100),
    worker       text CONSTRAINT worker_valid CHECK (worker <> '' AND length(worker) <= 255),
    visible_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    documents    integer CONSTRAINT documents_not_negative CHECK (documents >= 0),
    chunks       integer CONSTRAINT chunks_not_negative CHECK (chunks >= 0),
    error        text,
    metadata     jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    duration     interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
    CONSTRAINT running_has_worker CHECK (status <> 'running' OR worker IS NOT NULL),
    CONSTRAINT finished_when_final CHECK ((status IN ('completed', 'failed')) = (finished_at IS NOT NULL))
);
COMMENT ON TABLE agent.ingestions IS 'Ingestion jobs: a queue claimed with FOR UPDATE SKIP LOCKED (agent.claim_ingestion)';
COMMENT ON COLUMN agent.ingestions.visible_at IS 'When the job can be claimed: queued, after its backoff; running, when its lease expires';
COMMENT ON COLUMN agent.ingestions.worker IS 'The worker holding the lease (running), else the last one that did';
COMMENT ON COLUMN agent.ingestions.duration IS 'finished_at - started_at of the last attempt';
-- the claim's index: only jobs a worker may take, by when they become visible
CREATE INDEX ingestions_claimable ON agent.ingestions (visible_at, id) WHERE status IN ('queued', 'running');
-- the seed's rag_ingestions_status_idx, per user: "failed jobs, newest first"
CREATE INDEX ingestions_user_status_created ON agent.ingestions (user_id, status, created_at DESC, id DESC);

CREATE TABLE agent.workflow_executions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      text NOT NULL CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
    workflow_id  text NOT NULL CONSTRAINT workflow_id_valid CHECK (workflow_id <> '' AND length(workflow_id) <= 255),
    adapter      text NOT NULL CONSTRAINT adapter_valid CHECK (adapter <> '' AND length(adapter) <= 255),
    repositories text[] NOT NULL DEFAULT '{}'
                 CONSTRAINT repositories_valid CHECK (array_position(repositories, NULL) IS NULL AND cardinality(repositories) <= 1000),
    status       text NOT NULL DEFAULT 'pending'
                 CONSTRAINT status_known CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    result       jsonb,
    error        text,
    metadata     jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    duration     interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
    CONSTRAINT finished_when_final CHECK ((status IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);
COMMENT ON TABLE agent.workflow_executions IS 'Runs of workflows through an adapter over repositories, with their status machine';
COMMENT ON COLUMN agent.workflow_executions.duration IS 'finished_at - started_at, computed by the table (NULL until both are set)';
-- the seed's workflow_executions_adapter_status_idx, per user
CREATE INDEX workflow_executions_user_adapter_status ON agent.workflow_executions (user_id, adapter, status, created_at DESC, id DESC);
-- the runs of one workflow, newest first
CREATE INDEX workflow_executions_user_workflow ON agent.workflow_executions (user_id, workflow_id, created_at DESC);

-- The samples are append-only and nothing references one, so they have no key (a partitioned
-- table's primary key would have to include recorded_at).
CREATE TABLE agent.metrics (
    user_id     text NOT NULL CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
    component   text NOT NULL CONSTRAINT component_valid CHECK (component <> '' AND length(component) <= 255),
    metric_type text NOT NULL CONSTRAINT metric_type_valid CHECK (metric_type <> '' AND length(metric_type) <= 255),
    metrics     jsonb NOT NULL
                CONSTRAINT metrics_is_object CHECK (jsonb_typeof(metrics) = 'object')
                CONSTRAINT metrics_size CHECK (octet_length(metrics::text) <= 2000),
    recorded_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (recorded_at);
COMMENT ON TABLE agent.metrics IS 'Performance samples of components, append-only, one partition per UTC day (agent.maintain_metric_partitions)';
COMMENT ON COLUMN agent.metrics.metrics IS 'Named numbers of one sample; at most 2000 bytes as JSON text, since the index includes it';
-- the seed's performance_metrics_component_timestamp_idx, per user; INCLUDE (metrics) lets a
-- window of one component be read from the index alone
CREATE INDEX metrics_user_component_recorded ON agent.metrics (user_id, component, recorded_at DESC) INCLUDE (metrics);

-- Autovacuum in the style of the memory tables (0004): vacuum and analyze at a few percent of
-- dead or new rows rather than PostgreSQL's 20%. Every ingestion is updated two or three times
-- (claimed, completed), so the queue is vacuumed at 1% and 100 rows: a bloated claim index is
-- what slows a queue down. Conversations and chunks grow by inserts (and re-ingestion deletes
-- chunks); the metric partitions get theirs when they are created.
ALTER TABLE agent.ingestions SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 100,
                                  autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE agent.conversations SET (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE agent.chunks SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_insert_scale_factor = 0.05,
                              autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE agent.documents SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE agent.workflow_executions SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);

-- sql/ops/project_schemas.sql
-- ops.project_schemas(): the one list of mempg's schemas, read by the ops views and functions and
-- by the runner (verify, schema, maintain). No SET clause, so the planner inlines it: its body
-- is a constant.
CREATE OR REPLACE FUNCTION ops.project_schemas()
RETURNS text[]
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['memory', 'app', 'travel', 'ops', 'mempg', 'agent']::text[]
$$;

COMMENT ON FUNCTION ops.project_schemas() IS 'The schemas that belong to mempg';
REVOKE ALL ON FUNCTION ops.project_schemas() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.project_schemas() TO service_role;

-- sql/memory/fusion.sql
-- The rules of hybrid ranking, each defined once, for hybrid_search_memories and for
-- agent.unified_search (0013), which fuse a full-text and a vector ranking the same way:
--   memory.check_fusion(): the fusion parameters (22023 naming the one out of range);
--   memory.normalised_score(): min-max normalisation of a side's raw scores for 'weighted'
--     (the best candidate 1, the last 0; a lone candidate, or all equal, 1);
--   memory.fused_score(): 'rrf', weight / (rrf_k + rank) per side (memory.rrf_share, 0012),
--     summed (a row found by one side gets that side's share only); 'weighted', the weighted mean of the normalised scores;
--   memory.term_weight(): the idf of a query term found in `docs` documents (BM25's, over a
--     collection of 1,000: text_search_memories.sql says why the size hardly matters).
-- normalised_score, fused_score and term_weight have no SET clause, so the planner inlines them:
-- their bodies use built-in functions and operators only. check_fusion pins search_path.
CREATE OR REPLACE FUNCTION memory.check_fusion(fusion text, full_text_weight double precision,
                                               semantic_weight double precision, rrf_k integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF NOT coalesce(check_fusion.full_text_weight BETWEEN 0 AND 1000000
                    AND check_fusion.semantic_weight BETWEEN 0 AND 1000000
                    AND check_fusion.full_text_weight + check_fusion.semantic_weight > 0, false) THEN
        RAISE EXCEPTION 'full_text_weight and semantic_weight must be between 0 and 1000000 and not both 0, got % and %',
            coalesce(check_fusion.full_text_weight::text, 'NULL'),
            coalesce(check_fusion.semantic_weight::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF check_fusion.rrf_k IS NULL OR check_fusion.rrf_k < 1 THEN
        RAISE EXCEPTION 'rrf_k must be at least 1, got %', coalesce(check_fusion.rrf_k::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF check_fusion.fusion IS NULL OR check_fusion.fusion NOT IN ('rrf', 'weighted') THEN
        RAISE EXCEPTION 'fusion must be ''rrf'' or ''weighted'', got %', coalesce(check_fusion.fusion, 'NULL')
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_fusion(text, double precision, double precision, integer) IS
    'Raises 22023 for a fusion other than rrf/weighted, weights out of range or both 0, rrf_k below 1';

CREATE OR REPLACE FUNCTION memory.normalised_score(score double precision, lowest double precision,
                                                   highest double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce((normalised_score.score - normalised_score.lowest)
                    / nullif(normalised_score.highest - normalised_score.lowest, 0), 1)
$$;

COMMENT ON FUNCTION memory.normalised_score(double precision, double precision, double precision) IS
    'Min-max normalisation of a score among its side''s candidates (1 when they are all equal)';

CREATE OR REPLACE FUNCTION memory.fused_score(fusion text, full_text_weight double precision,
                                              semantic_weight double precision, rrf_k integer,
                                              full_text_rank bigint, semantic_rank bigint,
                                              full_text_norm double precision, semantic_norm double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE fused_score.fusion
               WHEN 'rrf' THEN
                   memory.rrf_share(fused_score.full_text_weight, fused_score.rrf_k, fused_score.full_text_rank)
                   + memory.rrf_share(fused_score.semantic_weight, fused_score.rrf_k, fused_score.semantic_rank)
               ELSE (fused_score.full_text_weight * coalesce(fused_score.full_text_norm, 0)
                     + fused_score.semantic_weight * coalesce(fused_score.semantic_norm, 0))
                    / (fused_score.full_text_weight + fused_score.semantic_weight)
           END
$$;

COMMENT ON FUNCTION memory.fused_score(text, double precision, double precision, integer, bigint, bigint, double precision, double precision) IS
    'Score of a row in a hybrid ranking: reciprocal rank fusion, or the weighted mean of normalised scores';

CREATE OR REPLACE FUNCTION memory.term_weight(docs bigint)
RETURNS double precision
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT ln(1 + (greatest(1000 - term_weight.docs, 0) + 0.5) / (term_weight.docs + 0.5))::double precision
$$;

COMMENT ON FUNCTION memory.term_weight(bigint) IS
    'idf of a query term in `docs` documents (BM25''s, over a collection of 1000)';

REVOKE ALL ON FUNCTION memory.check_fusion(text, double precision, double precision, integer),
    memory.normalised_score(double precision, double precision, double precision),
    memory.fused_score(text, double precision, double precision, integer, bigint, bigint, double precision, double precision),
    memory.term_weight(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.check_fusion(text, double precision, double precision, integer),
    memory.normalised_score(double precision, double precision, double precision),
    memory.fused_score(text, double precision, double precision, integer, bigint, bigint, double precision, double precision),
    memory.term_weight(bigint) TO authenticated, service_role;

-- sql/memory/text_search_memories.sql
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

-- sql/memory/hybrid_search_memories.sql
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

-- sql/agent/check_arguments.sql
-- Argument checks of the agent functions, with the SQLSTATEs of the memory functions
-- (docs/agent.md, "Bad input"): 22004 a required value is NULL, 22023 a value that is not
-- allowed, 22001 over a bound of agent.settings or memory.settings. Identifiers are checked by
-- memory.check_label, metadata by memory.check_metadata and embeddings by memory.check_embedding,
-- so one rule holds for every entry point of mempg.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.check_content(): the text of a message or a chunk: not NULL, not blank, at most
-- agent.settings.max_content_chars characters.
CREATE OR REPLACE FUNCTION agent.check_content(value text, parameter text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max integer := (SELECT s.max_content_chars FROM agent.settings AS s);
BEGIN
    IF check_content.value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', check_content.parameter USING ERRCODE = '22004';
    END IF;
    IF length(check_content.value) > v_max THEN
        RAISE EXCEPTION '% is % characters long; at most % are allowed', check_content.parameter,
            length(check_content.value), v_max USING ERRCODE = '22001';
    END IF;
    IF check_content.value !~ '[^[:space:]]' THEN
        RAISE EXCEPTION '% must not be empty or blank', check_content.parameter USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION agent.check_content(text, text) IS
    'Raises 22004 for NULL, 22023 for blank, 22001 over agent.settings.max_content_chars';

-- agent.check_identifiers(): the identifiers of a call (user_id required, the others optional
-- unless named in `required`), each at most memory.settings.max_id_chars characters; uri and
-- path-like values at most 2,048.
CREATE OR REPLACE FUNCTION agent.check_identifiers(names text[], vals text[], required text[] DEFAULT '{user_id}')
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max integer := (SELECT s.max_id_chars FROM memory.settings AS s);
BEGIN
    FOR i IN 1 .. cardinality(check_identifiers.names) LOOP
        PERFORM memory.check_label(check_identifiers.vals[i], check_identifiers.names[i],
                                   CASE WHEN check_identifiers.names[i] = 'uri' THEN 2048 ELSE v_max END,
                                   check_identifiers.names[i] = ANY (check_identifiers.required));
    END LOOP;
END
$$;

COMMENT ON FUNCTION agent.check_identifiers(text[], text[], text[]) IS
    'Raises 22004 for a required NULL, 22023 for a blank identifier, 22001 over memory.settings.max_id_chars (uri: 2048)';

-- agent.check_metadata(): a JSON object within memory.settings' bytes and depth.
CREATE OR REPLACE FUNCTION agent.check_metadata(value jsonb, parameter text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
BEGIN
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_metadata(check_metadata.value, check_metadata.parameter, v_settings.max_metadata_bytes,
                                  v_settings.max_metadata_depth);
END
$$;

COMMENT ON FUNCTION agent.check_metadata(jsonb, text) IS
    'Raises 22004 for NULL, 22023 unless a JSON object, 22001 over memory.settings'' bytes or depth';

-- agent.check_page(): a keyset cursor (both halves or neither) and a page size.
CREATE OR REPLACE FUNCTION agent.check_page(cursor_parts integer, page_size integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF check_page.cursor_parts = 1 THEN
        RAISE EXCEPTION 'the cursor is two values (a time and an id): give both or neither' USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_count(check_page.page_size, 'page_size');
END
$$;

COMMENT ON FUNCTION agent.check_page(integer, integer) IS
    'Raises 22023 for half a keyset cursor or a page size outside 1..1000';

REVOKE ALL ON FUNCTION agent.check_content(text, text), agent.check_identifiers(text[], text[], text[]),
    agent.check_metadata(jsonb, text), agent.check_page(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.check_content(text, text), agent.check_identifiers(text[], text[], text[]),
    agent.check_metadata(jsonb, text), agent.check_page(integer, integer) TO authenticated, service_role;

-- sql/agent/status_machine.sql
-- The status machines of agent.ingestions and agent.workflow_executions, in one place:
--   ingestions:          (new) -> queued -> running -> completed | failed
--                        running -> queued   (a failed attempt with attempts left: retried later)
--                        failed  -> queued   (agent.retry_ingestion: a person retries it)
--   workflow_executions: (new) -> pending | running; pending -> running | cancelled;
--                        running -> completed | failed | cancelled
-- A row may stay in its status (a lease that expired is claimed again: running, one attempt
-- more; metadata changes) unless that status is final: completed, and a workflow's failed and
-- cancelled, take no change at all. The trigger
-- agent_10_status_machine on both tables refuses anything else with SQLSTATE 55000
-- (object_not_in_prerequisite_state), whichever way the row is written (a function, a plain
-- UPDATE), and keeps the timestamps: started_at when a row enters running, finished_at when it
-- reaches a final status (clock_timestamp(), so a duration inside one transaction is real),
-- updated_at on every change. duration is a generated column (finished_at - started_at).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.status_transitions(): every legal (machine, from, to); from is NULL for a new row.
CREATE OR REPLACE FUNCTION agent.status_transitions()
RETURNS TABLE (machine text, from_status text, to_status text)
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    VALUES ('ingestions', NULL, 'queued'),
           ('ingestions', 'queued', 'running'),
           ('ingestions', 'running', 'completed'),
           ('ingestions', 'running', 'failed'),
           ('ingestions', 'running', 'queued'),
           ('ingestions', 'failed', 'queued'),
           ('workflow_executions', NULL, 'pending'),
           ('workflow_executions', NULL, 'running'),
           ('workflow_executions', 'pending', 'running'),
           ('workflow_executions', 'pending', 'cancelled'),
           ('workflow_executions', 'running', 'completed'),
           ('workflow_executions', 'running', 'failed'),
           ('workflow_executions', 'running', 'cancelled')
$$;

COMMENT ON FUNCTION agent.status_transitions() IS
    'The legal status transitions of ingestions and workflow executions (from NULL: a new row)';

-- agent.guard_status(): the trigger. A final status takes no change at all.
CREATE OR REPLACE FUNCTION agent.guard_status()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_from text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
    v_now timestamptz := clock_timestamp();
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status = OLD.status THEN
        IF NOT EXISTS (SELECT FROM agent.status_transitions() AS t
                       WHERE t.machine = TG_TABLE_NAME AND t.from_status = OLD.status) THEN
            RAISE EXCEPTION '% %: a % row is final and cannot change', TG_TABLE_NAME, OLD.id, OLD.status
                USING ERRCODE = '55000';
        END IF;
        IF TG_TABLE_NAME = 'ingestions' THEN  -- nested: a workflow row has no attempts field
            IF NEW.status = 'running' AND NEW.attempts <> OLD.attempts THEN
                NEW.started_at := v_now;  -- claimed again after its lease expired
            END IF;
        END IF;
        NEW.updated_at := v_now;
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT FROM agent.status_transitions() AS t
                   WHERE t.machine = TG_TABLE_NAME AND t.from_status IS NOT DISTINCT FROM v_from
                     AND t.to_status = NEW.status) THEN
        RAISE EXCEPTION '% %: % -> % is not a legal transition', TG_TABLE_NAME,
            coalesce(NEW.id::text, '(new)'), coalesce(v_from, '(new)'), NEW.status
            USING ERRCODE = '55000',
                  HINT = coalesce('from ' || coalesce(v_from, '(new)') || ' a row may go to: '
                                  || (SELECT string_agg(t.to_status, ', ' ORDER BY t.to_status)
                                      FROM agent.status_transitions() AS t
                                      WHERE t.machine = TG_TABLE_NAME AND t.from_status IS NOT DISTINCT FROM v_from),
                                  'a ' || v_from || ' row is final');
    END IF;
    IF NEW.status = 'running' THEN
        NEW.started_at := v_now;
        NEW.finished_at := NULL;
    ELSIF NEW.status IN ('completed', 'failed', 'cancelled') THEN
        NEW.finished_at := v_now;
    ELSIF NEW.status IN ('queued', 'pending') THEN
        NEW.finished_at := NULL;
    END IF;
    NEW.updated_at := v_now;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION agent.guard_status() IS
    'Trigger: refuses illegal status transitions (55000) and stamps started_at, finished_at, updated_at';
REVOKE ALL ON FUNCTION agent.status_transitions(), agent.guard_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.status_transitions() TO authenticated, service_role;

DROP TRIGGER IF EXISTS agent_10_status_machine ON agent.ingestions;
CREATE TRIGGER agent_10_status_machine
    BEFORE INSERT OR UPDATE ON agent.ingestions
    FOR EACH ROW EXECUTE FUNCTION agent.guard_status();
DROP TRIGGER IF EXISTS agent_10_status_machine ON agent.workflow_executions;
CREATE TRIGGER agent_10_status_machine
    BEFORE INSERT OR UPDATE ON agent.workflow_executions
    FOR EACH ROW EXECUTE FUNCTION agent.guard_status();

-- sql/agent/conversations.sql
-- Agent conversations: one row per message of an agent in a session (agent.conversations), with
-- an optional embedding for search. `turn` is a bigint identity: the order of messages, even of
-- several written in one transaction (their created_at is the same now()).
-- agent.add_message() checks its arguments (docs/agent.md, "Bad input") and inserts as the
-- caller: row-level security makes user_id the caller's own.
-- Listing is keyset-paginated on an index each, never OFFSET:
--   agent.session_messages(): a session in order (user_id, session_id, turn), after a turn;
--   agent.agent_messages(): an agent's messages, newest first, on
--     (user_id, agent_id, created_at DESC, turn DESC), before a (created_at, turn) cursor.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION agent.add_message(
    user_id text,
    agent_id text,
    session_id text,
    role text,
    content text,
    embedding vector DEFAULT NULL,
    metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'agent_id', 'session_id'],
                                    ARRAY[add_message.user_id, add_message.agent_id, add_message.session_id],
                                    ARRAY['user_id', 'agent_id', 'session_id']);
    IF add_message.role IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF add_message.role NOT IN ('system', 'user', 'assistant', 'tool') THEN
        RAISE EXCEPTION 'role must be system, user, assistant or tool, got %', left(add_message.role, 100)
            USING ERRCODE = '22023';
    END IF;
    PERFORM agent.check_content(add_message.content, 'content');
    IF add_message.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(add_message.embedding, 'embedding');
    END IF;
    PERFORM agent.check_metadata(add_message.metadata, 'metadata');
    INSERT INTO agent.conversations AS c (user_id, agent_id, session_id, role, content, embedding, metadata)
    VALUES (add_message.user_id, add_message.agent_id, add_message.session_id, add_message.role,
            add_message.content, add_message.embedding, add_message.metadata)
    RETURNING c.id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION agent.add_message(text, text, text, text, text, vector, jsonb) IS
    'Records one message of an agent''s session (optional embedding); returns its id';

CREATE OR REPLACE FUNCTION agent.session_messages(
    user_id text,
    session_id text,
    after_turn bigint DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS TABLE (id uuid, turn bigint, agent_id text, role text, content text, metadata jsonb, created_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'session_id'],
                                    ARRAY[session_messages.user_id, session_messages.session_id],
                                    ARRAY['user_id', 'session_id']);
    PERFORM agent.check_page(0, session_messages.page_size);
    RETURN QUERY
    SELECT c.id, c.turn, c.agent_id, c.role, c.content, c.metadata, c.created_at
    FROM agent.conversations AS c
    WHERE c.user_id = session_messages.user_id AND c.session_id = session_messages.session_id
      AND (session_messages.after_turn IS NULL OR c.turn > session_messages.after_turn)
    ORDER BY c.turn
    LIMIT session_messages.page_size;
END
$$;

COMMENT ON FUNCTION agent.session_messages(text, text, bigint, integer) IS
    'A page of one session''s messages in order; keyset cursor: the last turn seen';

CREATE OR REPLACE FUNCTION agent.agent_messages(
    user_id text,
    agent_id text,
    before_created_at timestamptz DEFAULT NULL,
    before_turn bigint DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS TABLE (id uuid, turn bigint, session_id text, role text, content text, metadata jsonb, created_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'agent_id'],
                                    ARRAY[agent_messages.user_id, agent_messages.agent_id],
                                    ARRAY['user_id', 'agent_id']);
    PERFORM agent.check_page((agent_messages.before_created_at IS NOT NULL)::integer
                             + (agent_messages.before_turn IS NOT NULL)::integer, agent_messages.page_size);
    RETURN QUERY
    SELECT c.id, c.turn, c.session_id, c.role, c.content, c.metadata, c.created_at
    FROM agent.conversations AS c
    WHERE c.user_id = agent_messages.user_id AND c.agent_id = agent_messages.agent_id
      AND (agent_messages.before_created_at IS NULL
           OR (c.created_at, c.turn) < (agent_messages.before_created_at, agent_messages.before_turn))
    ORDER BY c.created_at DESC, c.turn DESC
    LIMIT agent_messages.page_size;
END
$$;

COMMENT ON FUNCTION agent.agent_messages(text, text, timestamptz, bigint, integer) IS
    'A page of an agent''s messages, newest first; keyset cursor (created_at, turn)';

REVOKE ALL ON FUNCTION agent.add_message(text, text, text, text, text, vector, jsonb),
    agent.session_messages(text, text, bigint, integer),
    agent.agent_messages(text, text, timestamptz, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.add_message(text, text, text, text, text, vector, jsonb),
    agent.session_messages(text, text, bigint, integer),
    agent.agent_messages(text, text, timestamptz, bigint, integer) TO authenticated, service_role;

-- sql/agent/documents.sql
-- RAG documents and their chunks. A document is (user, source_id, uri): source_id names the
-- repository (or any source), uri the path or URI inside it. Its content_hash is the sha256 of
-- its chunks' texts in order (agent.document_hash), so a document whose chunks did not change is
-- recognised whatever its metadata says.
-- agent.ingest_document() writes a document and its chunks in one transaction (the caller's):
--   a new document                 -> 'created': the row, version 1, and its chunks;
--   the same uri, the same hash    -> 'unchanged': nothing is written at all;
--   the same uri, another hash     -> 'updated': the old chunks deleted, the new ones inserted,
--                                     version + 1, the new hash, metadata and chunk count.
-- Two sessions ingesting one uri at once queue on the document's row (INSERT ... ON CONFLICT DO
-- NOTHING waits for the other's insert; SELECT ... FOR UPDATE for its update), so one wins and
-- the other sees its result: never two sets of chunks.
-- A chunk's content_hash is memory.text_hash() of its text (normalised: case and whitespace do
-- not count), generated by the table. The same text in two documents is stored once per
-- document (each document is whole), and unified search returns it once (docs/agent.md).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.

-- agent.document_hash(): sha256 (hex) of the chunks' sha256s in order, comma-separated (no
-- chunk text can make two different lists hash alike through the separator).
CREATE OR REPLACE FUNCTION agent.document_hash(contents text[])
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT encode(sha256(convert_to(string_agg(encode(sha256(convert_to(c.content, 'UTF8')), 'hex'), ','
                                               ORDER BY c.ordinal), 'UTF8')), 'hex')
    FROM unnest(document_hash.contents) WITH ORDINALITY AS c(content, ordinal)
$$;

COMMENT ON FUNCTION agent.document_hash(text[]) IS
    'sha256 of a document''s chunk texts in order: the content_hash that re-ingestion compares';

CREATE OR REPLACE FUNCTION agent.ingest_document(
    user_id text,
    source_id text,
    uri text,
    contents text[],
    embeddings vector[],
    metadata jsonb DEFAULT '{}')
RETURNS TABLE (document_id uuid, version integer, outcome text, chunk_count integer)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_max_chunks integer := (SELECT s.max_chunks FROM agent.settings AS s);
    v_hash text;
    v_id uuid;
    v_old_hash text;
    v_version integer;
    v_outcome text;
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'source_id', 'uri'],
                                    ARRAY[ingest_document.user_id, ingest_document.source_id, ingest_document.uri],
                                    ARRAY['user_id', 'source_id', 'uri']);
    IF ingest_document.contents IS NULL OR ingest_document.embeddings IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN ingest_document.contents IS NULL THEN 'contents' ELSE 'embeddings' END
            USING ERRCODE = '22004';
    END IF;
    IF cardinality(ingest_document.contents) = 0 THEN
        RAISE EXCEPTION 'contents must hold at least one chunk' USING ERRCODE = '22023';
    END IF;
    IF cardinality(ingest_document.contents) > v_max_chunks THEN
        RAISE EXCEPTION 'contents holds % chunks; at most % are allowed (agent.settings.max_chunks)',
            cardinality(ingest_document.contents), v_max_chunks USING ERRCODE = '22001';
    END IF;
    IF cardinality(ingest_document.embeddings) <> cardinality(ingest_document.contents)
       OR array_ndims(ingest_document.contents) <> 1 OR array_ndims(ingest_document.embeddings) <> 1 THEN
        RAISE EXCEPTION 'contents and embeddings must be one-dimensional arrays of one length, got % and %',
            cardinality(ingest_document.contents), cardinality(ingest_document.embeddings) USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. cardinality(ingest_document.contents) LOOP
        PERFORM agent.check_content(ingest_document.contents[i], format('contents[%s]', i));
        PERFORM memory.check_embedding(ingest_document.embeddings[i], format('embeddings[%s]', i));
    END LOOP;
    PERFORM agent.check_metadata(ingest_document.metadata, 'metadata');
    v_hash := agent.document_hash(ingest_document.contents);

    INSERT INTO agent.documents AS d (user_id, source_id, uri, content_hash, metadata, chunk_count)
    VALUES (ingest_document.user_id, ingest_document.source_id, ingest_document.uri, v_hash,
            ingest_document.metadata, cardinality(ingest_document.contents))
    ON CONFLICT ON CONSTRAINT documents_uri_unique DO NOTHING
    RETURNING d.id, d.version INTO v_id, v_version;
    IF FOUND THEN
        v_outcome := 'created';
    ELSE
        SELECT d.id, d.content_hash, d.version INTO v_id, v_old_hash, v_version
        FROM agent.documents AS d
        WHERE d.user_id = ingest_document.user_id AND d.source_id = ingest_document.source_id
          AND d.uri = ingest_document.uri
        FOR UPDATE;
        IF v_old_hash = v_hash THEN
            RETURN QUERY SELECT v_id, v_version, 'unchanged'::text, cardinality(ingest_document.contents);
            RETURN;
        END IF;
        DELETE FROM agent.chunks AS c WHERE c.document_id = v_id;
        UPDATE agent.documents AS d
        SET content_hash = v_hash, metadata = ingest_document.metadata, version = d.version + 1,
            chunk_count = cardinality(ingest_document.contents), updated_at = now()
        WHERE d.id = v_id
        RETURNING d.version INTO v_version;
        v_outcome := 'updated';
    END IF;
    INSERT INTO agent.chunks (document_id, user_id, source_id, ordinal, content, embedding)
    SELECT v_id, ingest_document.user_id, ingest_document.source_id, (c.ordinal - 1)::integer, c.content, e.embedding
    FROM unnest(ingest_document.contents) WITH ORDINALITY AS c(content, ordinal)
    JOIN unnest(ingest_document.embeddings) WITH ORDINALITY AS e(embedding, ordinal) ON e.ordinal = c.ordinal;
    RETURN QUERY SELECT v_id, v_version, v_outcome, cardinality(ingest_document.contents);
END
$$;

COMMENT ON FUNCTION agent.ingest_document(text, text, text, text[], vector[], jsonb) IS
    'Writes a document and its chunks: created, updated (chunks replaced, version + 1) or unchanged (same hash)';

REVOKE ALL ON FUNCTION agent.document_hash(text[]),
    agent.ingest_document(text, text, text, text[], vector[], jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.document_hash(text[]),
    agent.ingest_document(text, text, text, text[], vector[], jsonb) TO authenticated, service_role;

-- sql/agent/ingestions.sql
-- The ingestion queue (agent.ingestions), as pgmq and graphile-worker build theirs: a job is a
-- row; workers claim with FOR UPDATE SKIP LOCKED, so eight of them never wait on each other nor
-- take one job twice; a claim is a lease until visible_at (the visibility timeout, pgmq's vt),
-- after which a crashed worker's job is claimed again by the next worker, one attempt more.
--   agent.enqueue_ingestion(user_id, source_id, uri, ...)     -> a queued job's id
--   agent.claim_ingestion(worker, visibility_timeout)         -> the job (running), or no row
--   agent.complete_ingestion(id, worker, documents, chunks)   -> completed, with its counts
--   agent.fail_ingestion(id, worker, error, retry)            -> queued again after a backoff
--                                                                while attempts are left, else failed
--   agent.retry_ingestion(id)                                 -> a failed job queued again
--   agent.list_ingestions(user_id, status, cursor, page_size) -> a page, newest first
-- Only the worker that holds the lease may complete or fail a job: a worker whose lease expired
-- and was taken by another gets 55000 and must drop its work, so a job is completed once. A lease
-- that expired on the job's last attempt fails the job (at the next claim, or at maintenance).
-- Claims run under row-level security: an authenticated worker claims its own user's jobs, a
-- service_role worker anyone's. The claim reads the partial index ingestions_claimable (queued
-- and running rows only, by visible_at), so finished jobs cost it nothing.
-- Times are clock_timestamp(), not the transaction's start: a lease starts when it is taken.
-- The status machine and its timestamps are the trigger's (status_machine.sql).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION agent.enqueue_ingestion(
    user_id text,
    source_id text,
    uri text DEFAULT NULL,
    metadata jsonb DEFAULT '{}',
    max_attempts integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'source_id', 'uri'],
                                    ARRAY[enqueue_ingestion.user_id, enqueue_ingestion.source_id, enqueue_ingestion.uri],
                                    ARRAY['user_id', 'source_id']);
    PERFORM agent.check_metadata(enqueue_ingestion.metadata, 'metadata');
    IF enqueue_ingestion.max_attempts IS NOT NULL THEN
        PERFORM memory.check_count(enqueue_ingestion.max_attempts, 'max_attempts', 100);
    END IF;
    INSERT INTO agent.ingestions AS i (user_id, source_id, uri, metadata, max_attempts)
    VALUES (enqueue_ingestion.user_id, enqueue_ingestion.source_id, enqueue_ingestion.uri, enqueue_ingestion.metadata,
            coalesce(enqueue_ingestion.max_attempts, (SELECT s.max_attempts FROM agent.settings AS s)))
    RETURNING i.id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION agent.enqueue_ingestion(text, text, text, jsonb, integer) IS
    'Queues an ingestion of a source (or one uri in it); returns the job id';

CREATE OR REPLACE FUNCTION agent.claim_ingestion(worker text, visibility_timeout interval DEFAULT NULL)
RETURNS SETOF agent.ingestions
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_timeout interval := coalesce(claim_ingestion.visibility_timeout,
                                   (SELECT s.visibility_timeout FROM agent.settings AS s));
    v_now timestamptz;
    v_job record;
BEGIN
    PERFORM agent.check_identifiers(ARRAY['worker'], ARRAY[claim_ingestion.worker], ARRAY['worker']);
    IF v_timeout <= interval '0' OR v_timeout > interval '1 day' THEN
        RAISE EXCEPTION 'visibility_timeout must be more than 0 and at most 1 day, got %', v_timeout
            USING ERRCODE = '22023';
    END IF;
    LOOP
        v_now := clock_timestamp();
        SELECT i.id, i.status, i.attempts, i.max_attempts, i.worker INTO v_job
        FROM agent.ingestions AS i
        WHERE i.status IN ('queued', 'running') AND i.visible_at <= v_now
        ORDER BY i.visible_at, i.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        IF v_job.status = 'running' AND v_job.attempts >= v_job.max_attempts THEN
            UPDATE agent.ingestions AS i
            SET status = 'failed',
                error = format('the lease of worker %s expired on attempt %s of %s', v_job.worker, v_job.attempts,
                               v_job.max_attempts)
            WHERE i.id = v_job.id;
            CONTINUE;
        END IF;
        RETURN QUERY
        UPDATE agent.ingestions AS i
        SET status = 'running', worker = claim_ingestion.worker, attempts = i.attempts + 1,
            visible_at = v_now + v_timeout,
            error = CASE WHEN v_job.status = 'running'
                         THEN format('the lease of worker %s expired on attempt %s', v_job.worker, v_job.attempts)
                         ELSE i.error END
        WHERE i.id = v_job.id
        RETURNING i.*;
        RETURN;
    END LOOP;
END
$$;

COMMENT ON FUNCTION agent.claim_ingestion(text, interval) IS
    'Claims the next visible ingestion (FOR UPDATE SKIP LOCKED) for a lease of visibility_timeout; no row when none';

-- agent.held_ingestion(): the job a worker holds, locked, or 55000 / P0002 saying why not.
CREATE OR REPLACE FUNCTION agent.held_ingestion(id bigint, worker text)
RETURNS agent.ingestions
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_job agent.ingestions;
BEGIN
    IF held_ingestion.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM agent.check_identifiers(ARRAY['worker'], ARRAY[held_ingestion.worker], ARRAY['worker']);
    SELECT * INTO v_job FROM agent.ingestions AS i WHERE i.id = held_ingestion.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no ingestion %', held_ingestion.id USING ERRCODE = 'P0002';
    END IF;
    IF v_job.status <> 'running' THEN
        RAISE EXCEPTION 'ingestion % is %, not running', v_job.id, v_job.status USING ERRCODE = '55000';
    END IF;
    IF v_job.worker <> held_ingestion.worker THEN
        RAISE EXCEPTION 'ingestion % is held by worker %, not %', v_job.id, v_job.worker, held_ingestion.worker
            USING ERRCODE = '55000', HINT = 'the lease expired and another worker claimed the job: drop this attempt';
    END IF;
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION agent.held_ingestion(bigint, text) IS
    'The running ingestion a worker holds, locked; 55000 when it is not running or another worker holds it';

CREATE OR REPLACE FUNCTION agent.complete_ingestion(
    id bigint,
    worker text,
    documents integer DEFAULT NULL,
    chunks integer DEFAULT NULL,
    metadata jsonb DEFAULT NULL)
RETURNS agent.ingestions
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_job agent.ingestions;
BEGIN
    IF complete_ingestion.documents < 0 OR complete_ingestion.chunks < 0 THEN
        RAISE EXCEPTION 'documents and chunks must not be negative, got % and %', complete_ingestion.documents,
            complete_ingestion.chunks USING ERRCODE = '22023';
    END IF;
    IF complete_ingestion.metadata IS NOT NULL THEN
        PERFORM agent.check_metadata(complete_ingestion.metadata, 'metadata');
    END IF;
    PERFORM agent.held_ingestion(complete_ingestion.id, complete_ingestion.worker);
    UPDATE agent.ingestions AS i
    SET status = 'completed', documents = complete_ingestion.documents, chunks = complete_ingestion.chunks,
        metadata = i.metadata || coalesce(complete_ingestion.metadata, '{}')
    WHERE i.id = complete_ingestion.id
    RETURNING i.* INTO v_job;
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION agent.complete_ingestion(bigint, text, integer, integer, jsonb) IS
    'Completes the ingestion a worker holds, with its document and chunk counts';

CREATE OR REPLACE FUNCTION agent.fail_ingestion(id bigint, worker text, error text, retry boolean DEFAULT true)
RETURNS agent.ingestions
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_job agent.ingestions;
    v_delay interval := (SELECT s.retry_delay FROM agent.settings AS s);
BEGIN
    PERFORM agent.check_content(fail_ingestion.error, 'error');
    IF fail_ingestion.retry IS NULL THEN
        RAISE EXCEPTION 'retry must not be NULL' USING ERRCODE = '22004';
    END IF;
    v_job := agent.held_ingestion(fail_ingestion.id, fail_ingestion.worker);
    UPDATE agent.ingestions AS i
    SET status = CASE WHEN fail_ingestion.retry AND i.attempts < i.max_attempts THEN 'queued' ELSE 'failed' END,
        -- exponential backoff: retry_delay, twice that, four times, ...
        visible_at = clock_timestamp() + v_delay * power(2, least(i.attempts - 1, 20)),
        error = fail_ingestion.error
    WHERE i.id = fail_ingestion.id
    RETURNING i.* INTO v_job;
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION agent.fail_ingestion(bigint, text, text, boolean) IS
    'Fails an attempt of the ingestion a worker holds: queued again after a backoff while attempts are left, else failed';

CREATE OR REPLACE FUNCTION agent.retry_ingestion(id bigint)
RETURNS agent.ingestions
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_job agent.ingestions;
BEGIN
    IF retry_ingestion.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO v_job FROM agent.ingestions AS i WHERE i.id = retry_ingestion.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no ingestion %', retry_ingestion.id USING ERRCODE = 'P0002';
    END IF;
    IF v_job.status <> 'failed' THEN
        RAISE EXCEPTION 'ingestion % is %: only a failed ingestion is retried', v_job.id, v_job.status
            USING ERRCODE = '55000';
    END IF;
    UPDATE agent.ingestions AS i
    SET status = 'queued', attempts = 0, visible_at = clock_timestamp()
    WHERE i.id = retry_ingestion.id
    RETURNING i.* INTO v_job;
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION agent.retry_ingestion(bigint) IS
    'Queues a failed ingestion again with its attempts reset (55000 unless it failed)';

-- agent.expire_ingestion_leases(): fails the running jobs whose lease expired on their last
-- attempt (a claim does it too when it meets one); for maintenance. Returns how many.
CREATE OR REPLACE FUNCTION agent.expire_ingestion_leases()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_failed integer;
BEGIN
    WITH expired AS (
        SELECT i.id FROM agent.ingestions AS i
        WHERE i.status = 'running' AND i.visible_at <= clock_timestamp() AND i.attempts >= i.max_attempts
        FOR UPDATE SKIP LOCKED
    )
    UPDATE agent.ingestions AS i
    SET status = 'failed',
        error = format('the lease of worker %s expired on attempt %s of %s', i.worker, i.attempts, i.max_attempts)
    FROM expired AS e
    WHERE i.id = e.id;
    GET DIAGNOSTICS v_failed = ROW_COUNT;
    RETURN v_failed;
END
$$;

COMMENT ON FUNCTION agent.expire_ingestion_leases() IS
    'Fails running ingestions whose lease expired on their last attempt; returns how many';

CREATE OR REPLACE FUNCTION agent.list_ingestions(
    user_id text,
    status text,
    before_created_at timestamptz DEFAULT NULL,
    before_id bigint DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS SETOF agent.ingestions
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'status'], ARRAY[list_ingestions.user_id, list_ingestions.status],
                                    ARRAY['user_id', 'status']);
    IF list_ingestions.status NOT IN ('queued', 'running', 'completed', 'failed') THEN
        RAISE EXCEPTION 'status must be queued, running, completed or failed, got %', left(list_ingestions.status, 100)
            USING ERRCODE = '22023';
    END IF;
    PERFORM agent.check_page((list_ingestions.before_created_at IS NOT NULL)::integer
                             + (list_ingestions.before_id IS NOT NULL)::integer, list_ingestions.page_size);
    RETURN QUERY
    SELECT i.* FROM agent.ingestions AS i
    WHERE i.user_id = list_ingestions.user_id AND i.status = list_ingestions.status
      AND (list_ingestions.before_created_at IS NULL
           OR (i.created_at, i.id) < (list_ingestions.before_created_at, list_ingestions.before_id))
    ORDER BY i.created_at DESC, i.id DESC
    LIMIT list_ingestions.page_size;
END
$$;

COMMENT ON FUNCTION agent.list_ingestions(text, text, timestamptz, bigint, integer) IS
    'A page of a user''s ingestions in one status, newest first; keyset cursor (created_at, id)';

REVOKE ALL ON FUNCTION agent.enqueue_ingestion(text, text, text, jsonb, integer),
    agent.claim_ingestion(text, interval), agent.held_ingestion(bigint, text),
    agent.complete_ingestion(bigint, text, integer, integer, jsonb),
    agent.fail_ingestion(bigint, text, text, boolean), agent.retry_ingestion(bigint),
    agent.expire_ingestion_leases(), agent.list_ingestions(text, text, timestamptz, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.enqueue_ingestion(text, text, text, jsonb, integer),
    agent.claim_ingestion(text, interval), agent.held_ingestion(bigint, text),
    agent.complete_ingestion(bigint, text, integer, integer, jsonb),
    agent.fail_ingestion(bigint, text, text, boolean), agent.retry_ingestion(bigint),
    agent.list_ingestions(text, text, timestamptz, bigint, integer) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION agent.expire_ingestion_leases() TO service_role;

-- sql/agent/workflows.sql
-- Workflow executions (agent.workflow_executions): one row per run of a workflow through an
-- adapter (prefect, airflow, an agent framework) over some repositories, with its status machine
-- (status_machine.sql: pending -> running -> completed | failed | cancelled), its timestamps,
-- the duration the table computes (a generated column, finished_at - started_at), its result
-- and error.
--   agent.start_workflow(user_id, workflow_id, adapter, repositories, metadata, status)
--       -> the execution's id; status 'running' (default) starts it now, 'pending' queues it;
--   agent.set_workflow_status(id, status, result, error) -> the execution, moved on;
--   agent.list_workflow_executions(user_id, adapter, status, cursor, page_size) -> newest first,
--       on the index (user_id, adapter, status, created_at DESC, id DESC), as the seed asks.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION agent.start_workflow(
    user_id text,
    workflow_id text,
    adapter text,
    repositories text[] DEFAULT '{}',
    metadata jsonb DEFAULT '{}',
    status text DEFAULT 'running')
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'workflow_id', 'adapter'],
                                    ARRAY[start_workflow.user_id, start_workflow.workflow_id, start_workflow.adapter],
                                    ARRAY['user_id', 'workflow_id', 'adapter']);
    IF start_workflow.repositories IS NULL THEN
        RAISE EXCEPTION 'repositories must not be NULL (use ''{}'' for none)' USING ERRCODE = '22004';
    END IF;
    IF cardinality(start_workflow.repositories) > 1000 THEN
        RAISE EXCEPTION 'repositories holds % names; at most 1000 are allowed', cardinality(start_workflow.repositories)
            USING ERRCODE = '22001';
    END IF;
    FOR i IN 1 .. cardinality(start_workflow.repositories) LOOP
        PERFORM agent.check_identifiers(ARRAY[format('repositories[%s]', i)], ARRAY[start_workflow.repositories[i]],
                                        ARRAY[format('repositories[%s]', i)]);
    END LOOP;
    PERFORM agent.check_metadata(start_workflow.metadata, 'metadata');
    IF start_workflow.status IS NULL OR start_workflow.status NOT IN ('pending', 'running') THEN
        RAISE EXCEPTION 'status of a new execution must be pending or running, got %',
            coalesce(left(start_workflow.status, 100), 'NULL') USING ERRCODE = '22023';
    END IF;
    INSERT INTO agent.workflow_executions AS w (user_id, workflow_id, adapter, repositories, metadata, status)
    VALUES (start_workflow.user_id, start_workflow.workflow_id, start_workflow.adapter, start_workflow.repositories,
            start_workflow.metadata, start_workflow.status)
    RETURNING w.id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION agent.start_workflow(text, text, text, text[], jsonb, text) IS
    'Records a workflow execution, running (started now) or pending; returns its id';

CREATE OR REPLACE FUNCTION agent.set_workflow_status(id uuid, status text, result jsonb DEFAULT NULL, error text DEFAULT NULL)
RETURNS agent.workflow_executions
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_row agent.workflow_executions;
BEGIN
    IF set_workflow_status.id IS NULL OR set_workflow_status.status IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN set_workflow_status.id IS NULL THEN 'id' ELSE 'status' END
            USING ERRCODE = '22004';
    END IF;
    IF set_workflow_status.status NOT IN ('pending', 'running', 'completed', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'status must be pending, running, completed, failed or cancelled, got %',
            left(set_workflow_status.status, 100) USING ERRCODE = '22023';
    END IF;
    IF set_workflow_status.error IS NOT NULL THEN
        PERFORM agent.check_content(set_workflow_status.error, 'error');
    END IF;
    IF octet_length(set_workflow_status.result::text) > (SELECT s.max_metadata_bytes FROM memory.settings AS s) THEN
        RAISE EXCEPTION 'result is % bytes as JSON text; at most % are allowed', octet_length(set_workflow_status.result::text),
            (SELECT s.max_metadata_bytes FROM memory.settings AS s) USING ERRCODE = '22001';
    END IF;
    UPDATE agent.workflow_executions AS w
    SET status = set_workflow_status.status,
        result = coalesce(set_workflow_status.result, w.result),
        error = coalesce(set_workflow_status.error, w.error)
    WHERE w.id = set_workflow_status.id
    RETURNING w.* INTO v_row;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no workflow execution %', set_workflow_status.id USING ERRCODE = 'P0002';
    END IF;
    RETURN v_row;
END
$$;

COMMENT ON FUNCTION agent.set_workflow_status(uuid, text, jsonb, text) IS
    'Moves a workflow execution to a status (55000 when the machine does not allow it), with its result or error';

CREATE OR REPLACE FUNCTION agent.list_workflow_executions(
    user_id text,
    adapter text,
    status text,
    before_created_at timestamptz DEFAULT NULL,
    before_id uuid DEFAULT NULL,
    page_size integer DEFAULT 100)
RETURNS SETOF agent.workflow_executions
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'adapter', 'status'],
                                    ARRAY[list_workflow_executions.user_id, list_workflow_executions.adapter,
                                          list_workflow_executions.status],
                                    ARRAY['user_id', 'adapter', 'status']);
    PERFORM agent.check_page((list_workflow_executions.before_created_at IS NOT NULL)::integer
                             + (list_workflow_executions.before_id IS NOT NULL)::integer,
                             list_workflow_executions.page_size);
    RETURN QUERY
    SELECT w.* FROM agent.workflow_executions AS w
    WHERE w.user_id = list_workflow_executions.user_id AND w.adapter = list_workflow_executions.adapter
      AND w.status = list_workflow_executions.status
      AND (list_workflow_executions.before_created_at IS NULL
           OR (w.created_at, w.id) < (list_workflow_executions.before_created_at, list_workflow_executions.before_id))
    ORDER BY w.created_at DESC, w.id DESC
    LIMIT list_workflow_executions.page_size;
END
$$;

COMMENT ON FUNCTION agent.list_workflow_executions(text, text, text, timestamptz, uuid, integer) IS
    'A page of a user''s executions of one adapter in one status, newest first; keyset cursor (created_at, id)';

REVOKE ALL ON FUNCTION agent.start_workflow(text, text, text, text[], jsonb, text),
    agent.set_workflow_status(uuid, text, jsonb, text),
    agent.list_workflow_executions(text, text, text, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.start_workflow(text, text, text, text[], jsonb, text),
    agent.set_workflow_status(uuid, text, jsonb, text),
    agent.list_workflow_executions(text, text, text, timestamptz, uuid, integer) TO authenticated, service_role;

-- sql/agent/metrics.sql
-- Performance metrics (agent.metrics): append-only samples (user, component, metric_type, a JSON
-- object of named numbers, recorded_at), range-partitioned by recorded_at into one partition per
-- UTC day, agent.metrics_pYYYYMMDD. Partitions are created ahead (agent.settings.
-- metric_partitions_ahead days, and yesterday for late samples) and dropped whole once their day
-- is older than agent.settings.metric_retention, by agent.maintain_metric_partitions(), which
-- `mempg maintain` calls (agent.maintain_agent_data()). There is no default partition: a sample
-- outside every partition is refused (23514) rather than parked where retention cannot drop it.
-- Writes: COPY agent.metrics FROM STDIN as service_role (a collector; COPY FROM is not allowed
-- where row-level security applies), or agent.record_metric() / INSERT as the user.
-- Reads: the index (user_id, component, recorded_at DESC) INCLUDE (metrics) answers "this
-- component over the last hour" from the index alone once the pages are all-visible (insert-only
-- partitions are vacuumed after 5% new rows for that); agent.metric_percentiles(from, to) gives
-- p50 and p95 of every numeric metric per component and hour, pruned to the partitions of the
-- window, and the view agent.metric_percentiles_hourly the same over every partition.
-- search_path is pinned on every function here, so a caller's own search_path never changes what
-- a name means.
CREATE OR REPLACE FUNCTION agent.record_metric(
    user_id text,
    component text,
    metric_type text,
    metrics jsonb,
    recorded_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM agent.check_identifiers(ARRAY['user_id', 'component', 'metric_type'],
                                    ARRAY[record_metric.user_id, record_metric.component, record_metric.metric_type],
                                    ARRAY['user_id', 'component', 'metric_type']);
    IF record_metric.metrics IS NULL THEN
        RAISE EXCEPTION 'metrics must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(record_metric.metrics) <> 'object' THEN
        RAISE EXCEPTION 'metrics must be a JSON object, got %', jsonb_typeof(record_metric.metrics) USING ERRCODE = '22023';
    END IF;
    IF octet_length(record_metric.metrics::text) > 2000 THEN
        RAISE EXCEPTION 'metrics is % bytes as JSON text; at most 2000 are allowed (it is stored in the index too)',
            octet_length(record_metric.metrics::text) USING ERRCODE = '22001';
    END IF;
    INSERT INTO agent.metrics (user_id, component, metric_type, metrics, recorded_at)
    VALUES (record_metric.user_id, record_metric.component, record_metric.metric_type, record_metric.metrics,
            coalesce(record_metric.recorded_at, now()));
END
$$;

COMMENT ON FUNCTION agent.record_metric(text, text, text, jsonb, timestamptz) IS
    'Records one metrics sample (a JSON object of named numbers) of a component';

-- agent.metric_partition_name(): the partition of a UTC day.
CREATE OR REPLACE FUNCTION agent.metric_partition_name(day date)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT 'metrics_p' || to_char(metric_partition_name.day, 'YYYYMMDD')
$$;

COMMENT ON FUNCTION agent.metric_partition_name(date) IS 'Name of the agent.metrics partition of a UTC day';

-- agent.maintain_metric_partitions(): creates the partitions from the day before `at` to
-- metric_partitions_ahead days after it, and drops those whose whole day lies before
-- at - metric_retention. A partition is created empty and attached (SHARE UPDATE EXCLUSIVE on
-- agent.metrics: inserts go on), with row-level security on, forced, and no grants: it is
-- read and written through agent.metrics only. A drop takes ACCESS EXCLUSIVE on agent.metrics
-- for a moment; lock_timeout (5 s) keeps it from queueing writers behind a long reader.
-- SECURITY DEFINER: only the owner of agent.metrics may create and drop its partitions;
-- granted to service_role alone.
CREATE OR REPLACE FUNCTION agent.maintain_metric_partitions(at timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET lock_timeout = '5s'
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_settings agent.settings;
    v_today date := (maintain_metric_partitions.at AT TIME ZONE 'UTC')::date;
    v_name text;
    v_created text[] := '{}';
    v_dropped text[] := '{}';
    v_day date;
BEGIN
    IF maintain_metric_partitions.at IS NULL OR NOT isfinite(maintain_metric_partitions.at) THEN
        RAISE EXCEPTION 'at must be a finite time, got %', coalesce(maintain_metric_partitions.at::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_settings FROM agent.settings;
    FOR v_day IN SELECT d::date FROM generate_series(v_today - 1, v_today + v_settings.metric_partitions_ahead,
                                                     interval '1 day') AS d LOOP
        v_name := agent.metric_partition_name(v_day);
        CONTINUE WHEN to_regclass(format('agent.%I', v_name)) IS NOT NULL;
        EXECUTE format('CREATE TABLE agent.%I (LIKE agent.metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
                       ' WITH (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05)',
                       v_name);
        EXECUTE format('ALTER TABLE agent.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', v_name);
        EXECUTE format('REVOKE ALL ON agent.%I FROM PUBLIC', v_name);
        EXECUTE format('ALTER TABLE agent.metrics ATTACH PARTITION agent.%I FOR VALUES FROM (%L) TO (%L)', v_name,
                       (v_day::timestamp AT TIME ZONE 'UTC'), ((v_day + 1)::timestamp AT TIME ZONE 'UTC'));
        v_created := v_created || v_name;
    END LOOP;
    FOR v_name IN
        SELECT c.relname FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'agent.metrics'::regclass AND c.relname ~ '^metrics_p[0-9]{8}$'
          AND (to_date(substr(c.relname, 10), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
              <= maintain_metric_partitions.at - v_settings.metric_retention
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE agent.%I', v_name);
        v_dropped := v_dropped || v_name;
    END LOOP;
    RETURN jsonb_build_object('created', to_jsonb(v_created), 'dropped', to_jsonb(v_dropped));
END
$$;

COMMENT ON FUNCTION agent.maintain_metric_partitions(timestamptz) IS
    'Creates agent.metrics partitions ahead of `at` and drops those older than the retention; {created, dropped}';

-- agent.metric_percentiles(): p50 and p95 (continuous) of every numeric metric of the samples
-- recorded in [from_time, to_time), per user, component, metric type, metric and hour (UTC).
-- The bounds prune the partitions; a component narrows to its index range.
CREATE OR REPLACE FUNCTION agent.metric_percentiles(from_time timestamptz, to_time timestamptz,
                                                    component text DEFAULT NULL)
RETURNS TABLE (user_id text, component text, metric_type text, metric text, hour timestamptz, samples bigint,
               p50 double precision, p95 double precision, max double precision)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT m.user_id, m.component, m.metric_type, v.key,
           date_trunc('hour', m.recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY v.value::double precision),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY v.value::double precision), max(v.value::double precision)
    FROM agent.metrics AS m
    CROSS JOIN LATERAL jsonb_each(m.metrics) AS v
    WHERE m.recorded_at >= metric_percentiles.from_time AND m.recorded_at < metric_percentiles.to_time
      AND (metric_percentiles.component IS NULL OR m.component = metric_percentiles.component)
      AND jsonb_typeof(v.value) = 'number'
    GROUP BY 1, 2, 3, 4, 5
$$;

COMMENT ON FUNCTION agent.metric_percentiles(timestamptz, timestamptz, text) IS
    'p50/p95/max of each numeric metric per user, component, type and UTC hour in [from_time, to_time)';

CREATE OR REPLACE VIEW agent.metric_percentiles_hourly WITH (security_invoker = true) AS
SELECT p.user_id, p.component, p.metric_type, p.metric, p.hour, p.samples, p.p50, p.p95, p.max
FROM agent.metric_percentiles('-infinity', 'infinity') AS p;

COMMENT ON VIEW agent.metric_percentiles_hourly IS
    'p50/p95/max of each numeric metric per user, component, type and UTC hour, over every partition';

-- agent.maintain_agent_data(): the agent schema's part of `mempg maintain`: the metric
-- partitions, and the ingestions whose last lease expired.
CREATE OR REPLACE FUNCTION agent.maintain_agent_data()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    RETURN agent.maintain_metric_partitions()
           || jsonb_build_object('expired_ingestions', agent.expire_ingestion_leases());
END
$$;

COMMENT ON FUNCTION agent.maintain_agent_data() IS
    'Maintenance of the agent schema: metric partitions ahead and retention, expired ingestion leases';

REVOKE ALL ON FUNCTION agent.record_metric(text, text, text, jsonb, timestamptz), agent.metric_partition_name(date),
    agent.maintain_metric_partitions(timestamptz), agent.metric_percentiles(timestamptz, timestamptz, text),
    agent.maintain_agent_data() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent.record_metric(text, text, text, jsonb, timestamptz), agent.metric_partition_name(date),
    agent.metric_percentiles(timestamptz, timestamptz, text) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION agent.maintain_metric_partitions(timestamptz), agent.maintain_agent_data() TO service_role;
REVOKE ALL ON agent.metric_percentiles_hourly FROM PUBLIC, anon;
GRANT SELECT ON agent.metric_percentiles_hourly TO authenticated, service_role;

-- sql/agent/unified_search.sql
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
CREATE OR REPLACE FUNCTION agent.full_text_candidates(query_text text, query_user_id text, depth integer,
                                                      kinds text[], agent_id text, source_id text)
RETURNS TABLE (kind text, id uuid, key text, score double precision, recency timestamptz)
LANGUAGE plpgsql
STABLE
SET plan_cache_mode = 'force_generic_plan'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
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
                                                AND (c.user_id = full_text_candidates.query_user_id) IS TRUE
                                                AND (full_text_candidates.source_id IS NULL
                                                     OR c.source_id = full_text_candidates.source_id)
                                              LIMIT v_common + 1) AS bounded)
                       + (SELECT count(*) FROM (SELECT 1 FROM agent.conversations AS v
                                                WHERE v_messages AND memory.user_terms(v.user_id, v.fts) @> ARRAY[k.user_key]
                                                  AND (v.user_id = full_text_candidates.query_user_id) IS TRUE
                                                  AND (full_text_candidates.agent_id IS NULL
                                                       OR v.agent_id = full_text_candidates.agent_id)
                                                LIMIT v_common + 1) AS bounded),
                       v_common + 1) AS docs
          FROM unnest(to_tsvector(memory.text_search_config(), full_text_candidates.query_text)) AS l,
               LATERAL (SELECT full_text_candidates.query_user_id || chr(31) || l.lexeme) AS k(user_key)
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
           AND (c.user_id = full_text_candidates.query_user_id) IS TRUE
           AND (full_text_candidates.source_id IS NULL OR c.source_id = full_text_candidates.source_id)
         LIMIT 8 * (v_common + 1))
        UNION ALL
        (SELECT 'conversation'::text, v.id, 'conversation:' || v.id, v.fts, v.created_at
         FROM agent.conversations AS v
         WHERE v_messages AND memory.user_terms(v.user_id, v.fts) && v_choose
           AND (v.user_id = full_text_candidates.query_user_id) IS TRUE
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
    FROM fused AS f
    LEFT JOIN memory.memories AS m ON f.hit_kind = 'memory' AND m.id = f.hit_id
    LEFT JOIN agent.chunks AS c ON f.hit_kind = 'chunk' AND c.id = f.hit_id
    LEFT JOIN agent.documents AS d ON d.id = c.document_id
    LEFT JOIN agent.conversations AS v ON f.hit_kind = 'conversation' AND v.id = f.hit_id
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

-- sql/agent/policies.sql
-- Row-level security of the agent tables: each user sees and changes only their own rows,
-- through every path (table, function, trigger, the unified search). The identity is
-- (select app.current_user_id()), which runs once per query; NULL (no identity) matches no row.
-- service_role bypasses RLS (workers, collectors, maintenance); anon has no access. Metrics are
-- append-only: a user reads and adds samples, never changes them. The partitions of
-- agent.metrics have row-level security on and forced and no grants: they are reached through
-- agent.metrics, whose policies apply (maintain_metric_partitions).
ALTER TABLE agent.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.settings FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.conversations FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.documents FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.chunks FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.ingestions ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.ingestions FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.workflow_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.workflow_executions FORCE ROW LEVEL SECURITY;
ALTER TABLE agent.metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent.metrics FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Everyone with access may read the agent settings" ON agent.settings;
CREATE POLICY "Everyone with access may read the agent settings" ON agent.settings
    FOR SELECT TO authenticated, service_role USING (true);

DROP POLICY IF EXISTS "Users keep their own conversations" ON agent.conversations;
CREATE POLICY "Users keep their own conversations" ON agent.conversations
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users keep their own documents" ON agent.documents;
CREATE POLICY "Users keep their own documents" ON agent.documents
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users keep the chunks of their own documents" ON agent.chunks;
CREATE POLICY "Users keep the chunks of their own documents" ON agent.chunks
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users queue and work on their own ingestions" ON agent.ingestions;
CREATE POLICY "Users queue and work on their own ingestions" ON agent.ingestions
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users record and follow their own workflow executions" ON agent.workflow_executions;
CREATE POLICY "Users record and follow their own workflow executions" ON agent.workflow_executions
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users read their own metrics" ON agent.metrics;
CREATE POLICY "Users read their own metrics" ON agent.metrics
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users record their own metrics" ON agent.metrics;
CREATE POLICY "Users record their own metrics" ON agent.metrics
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));

-- sql/agent/grants.sql
-- Privileges of the agent schema. authenticated works through row-level security; service_role
-- (BYPASSRLS) runs the workers, the metrics collector (COPY) and maintenance; anon gets nothing.
-- Ingestions and workflow executions are not deleted by users (their history is the record);
-- metrics are append-only and leave by whole partitions (retention); settings change only by
-- service_role.
REVOKE ALL ON SCHEMA agent FROM PUBLIC;
GRANT USAGE ON SCHEMA agent TO authenticated, service_role;
REVOKE ALL ON agent.settings, agent.conversations, agent.documents, agent.chunks, agent.ingestions,
    agent.workflow_executions, agent.metrics FROM PUBLIC, anon;
GRANT SELECT ON agent.settings TO authenticated, service_role;
GRANT UPDATE ON agent.settings TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON agent.conversations, agent.documents, agent.chunks TO authenticated, service_role;
GRANT SELECT, INSERT, UPDATE ON agent.ingestions, agent.workflow_executions TO authenticated, service_role;
GRANT DELETE ON agent.ingestions, agent.workflow_executions TO service_role;
GRANT SELECT, INSERT ON agent.metrics TO authenticated, service_role;

-- the metric partitions of yesterday, today and metric_partitions_ahead days; from now on
-- `mempg maintain` keeps them ahead (agent.maintain_agent_data)
SELECT agent.maintain_metric_partitions();
