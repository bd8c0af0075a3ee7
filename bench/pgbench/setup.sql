-- Helpers of the load test, in a schema of their own in the load test's scratch database.
-- loadtest.vec(): a deterministic 1536-dim embedding for fact f of user u. kind 1-3: the fact
-- itself; 4-6: restated, cosine ~0.995 (the dedup trigger's UPDATE); 7-8: cosine ~0.965 (MERGE);
-- 9-10: something new (ADD). Sines of hashed frequencies are nearly orthogonal to each other.
-- loadtest.events: what every add_memory returned, written in the add's own transaction, so
-- history rows can be compared with events after the run (or after a crash).
CREATE SCHEMA IF NOT EXISTS loadtest;

CREATE OR REPLACE FUNCTION loadtest.vec(u integer, f integer, kind integer, n bigint)
RETURNS vector
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = public, extensions, pg_catalog, pg_temp
AS $$
    SELECT array_agg(sin(i * b.freq + b.phase) + d.amount * sin(i * d.freq + d.phase) ORDER BY i)::vector
    FROM generate_series(1, memory.embedding_dim()) AS i,
         (SELECT 0.5 + (abs(hashint8(CASE WHEN kind >= 9 THEN n ELSE u * 1000 + f END)) % 100000) / 33333.0 AS freq,
                 (abs(hashint8(CASE WHEN kind >= 9 THEN n ELSE u * 1000 + f END + 1)) % 628) / 100.0 AS phase) AS b,
         (SELECT CASE WHEN kind BETWEEN 4 AND 6 THEN 0.1 WHEN kind BETWEEN 7 AND 8 THEN 0.27 ELSE 0 END AS amount,
                 0.5 + (abs(hashint8(n + 2)) % 100000) / 33333.0 AS freq,
                 (abs(hashint8(n + 3)) % 628) / 100.0 AS phase) AS d
$$;

CREATE OR REPLACE FUNCTION loadtest.fact_text(u integer, f integer, kind integer, n bigint)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN kind <= 3 THEN format('user %s likes fact number %s', u, f)
                WHEN kind <= 8 THEN format('user %s likes fact number %s (restated %s)', u, f, n)
                ELSE format('user %s noted something new: %s', u, n) END
$$;

CREATE TABLE IF NOT EXISTS loadtest.events (
    memory_id uuid NOT NULL,
    event     text NOT NULL,
    app_user  text NOT NULL,
    at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

GRANT USAGE ON SCHEMA loadtest TO authenticated, service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA loadtest TO authenticated, service_role;
GRANT INSERT, SELECT ON loadtest.events TO authenticated, service_role;
