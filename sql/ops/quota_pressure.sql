-- ops.quota_pressure: the users closest to their limits, most pressed first. pressure is the
-- largest of: live memories / max_memories, bytes / max_bytes, and for the emptiest bucket 1 -
-- tokens / capacity (1: a cap reached or a bucket empty; 0: untouched). tightest_operation names
-- that bucket and tokens_left what it holds now (refilled to memory.quota_now()). Users without a
-- row in memory.quota_usage or memory.rate_buckets have used nothing and are not listed.
-- ops.quota_refusals: the refusals counted since install, per kind (rate: a bucket was empty;
-- cap: a total would have grown past its cap) and operation. They come from sequences, which a
-- refused, rolled-back transaction still advances (memory.refuse_quota()).
CREATE OR REPLACE VIEW ops.quota_pressure AS
WITH subjects AS (
    SELECT q.user_id FROM memory.quota_usage AS q
    UNION
    SELECT b.user_id FROM memory.rate_buckets AS b
), planned AS (
    SELECT s.user_id, memory.quota_plan(s.user_id) AS plan FROM subjects AS s
), buckets AS (
    SELECT DISTINCT ON (b.user_id) b.user_id, b.operation::text AS operation, l.capacity,
           memory.bucket_level(b.tokens, b.refreshed_at, l.capacity, l.refill_per_second, memory.quota_now()) AS tokens
    FROM memory.rate_buckets AS b
    JOIN planned AS p ON p.user_id = b.user_id
    JOIN memory.rate_limits AS l ON l.plan = p.plan AND l.operation = b.operation
    ORDER BY b.user_id,
             memory.bucket_level(b.tokens, b.refreshed_at, l.capacity, l.refill_per_second, memory.quota_now()) / l.capacity,
             b.operation
), measured AS (
    SELECT p.user_id, p.plan, coalesce(u.memories, 0) AS memories, pl.max_memories, coalesce(u.bytes, 0) AS bytes,
           pl.max_bytes, b.operation AS tightest_operation, b.tokens AS tokens_left, b.capacity,
           greatest(CASE WHEN pl.max_memories IS NULL THEN 0
                         WHEN pl.max_memories = 0 THEN 1
                         ELSE coalesce(u.memories, 0)::double precision / pl.max_memories END,
                    CASE WHEN pl.max_bytes IS NULL THEN 0
                         WHEN pl.max_bytes = 0 THEN 1
                         ELSE coalesce(u.bytes, 0)::double precision / pl.max_bytes END,
                    coalesce(1 - b.tokens / b.capacity, 0)) AS pressure
    FROM planned AS p
    JOIN memory.quota_plans AS pl ON pl.plan = p.plan
    LEFT JOIN memory.quota_usage AS u ON u.user_id = p.user_id
    LEFT JOIN buckets AS b ON b.user_id = p.user_id
)
SELECT m.user_id, m.plan, m.memories, m.max_memories, m.bytes, m.max_bytes, m.tightest_operation,
       round(m.tokens_left::numeric, 3) AS tokens_left, m.capacity, round(m.pressure::numeric, 4) AS pressure
FROM measured AS m
ORDER BY m.pressure DESC, m.user_id;

COMMENT ON VIEW ops.quota_pressure IS
    'Users closest to their limits: totals against caps, emptiest rate bucket, pressure 0..1, most pressed first';

CREATE OR REPLACE VIEW ops.quota_refusals AS
SELECT split_part(s.sequencename, '_', 3) AS kind,
       regexp_replace(s.sequencename, '^quota_refusals_[a-z]+_', '') AS operation,
       coalesce(s.last_value, 0) AS refusals
FROM pg_catalog.pg_sequences AS s
WHERE s.schemaname = 'memory' AND s.sequencename LIKE 'quota\_refusals\_%';

COMMENT ON VIEW ops.quota_refusals IS
    'Refusals since install by kind (rate: bucket empty; cap: total past its cap) and operation';
