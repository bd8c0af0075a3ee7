-- 0014_recommended_settings: the server sized to its machine (issue 17). ops.recommended_settings()
-- holds the one rule (shared_buffers, effective_cache_size, maintenance_work_mem, work_mem, I/O
-- costs, parallel workers, max_connections from memory, cores, storage and the pooler's
-- connections), beside the values in effect. The runner evaluates the same file to configure the
-- embedded server (mempg.conf) and `mempg tune` prints it for any server. A function only: no table.

-- sql/ops/recommended_settings.sql
-- ops.recommended_settings(): the server settings for a machine of `memory` and `cores`, beside
-- the values in effect: the one rule by which mempg sizes PostgreSQL. The embedded server is
-- configured from it on every start (the runner evaluates this file and writes the result into
-- mempg.conf, see docs/operations.md); `mempg tune` shows it for any server without changing it.
--   shared_buffers                   a quarter of memory (at least 128MB)
--   effective_cache_size             three quarters of memory: what the OS page cache plus
--                                    shared_buffers can hold, for the planner only
--   maintenance_work_mem             an eighth of memory, 64MB to 16GB: an HNSW build is several
--                                    times faster while its graph fits here
--   autovacuum_work_mem              a 64th of memory, 64MB to 1GB, so that each autovacuum worker
--                                    does not take maintenance_work_mem
--   max_connections                  the pooler's server connections (`connections`, default 40:
--                                    pgbouncer's default pool of 20 for two database/user pairs)
--                                    plus 20 for the runner, monitoring and maintenance; at least 100
--   work_mem                         (memory - shared_buffers) / (3 x max_connections x parallel
--                                    workers per gather), 4MB to 1GB (pgvector's iterative scans
--                                    also stop at work_mem x hnsw.scan_mem_multiplier)
--   random_page_cost, effective_io_concurrency, maintenance_io_concurrency
--                                    1.1 / 200 / 200 on SSD; PostgreSQL's defaults on `hdd`
--   max_worker_processes             cores + 4, at least 8
--   max_parallel_workers             cores
--   max_parallel_workers_per_gather  half the cores, at most 4
--   max_parallel_maintenance_workers cores - 1, at most 8 (the leader works too)
-- A value is kept within the server's own bounds (pg_settings.min_val / max_val: a platform
-- without prefetching allows effective_io_concurrency 0 only), and a setting the server does not
-- have is left out. Memory is rounded down to whole megabytes.
-- Inputs: memory (a size: '16GB', '16384MB', or bytes) and cores default to the settings
-- mempg.machine_memory and mempg.machine_cores, which the runner writes for the embedded server;
-- storage ('ssd' or 'hdd') to mempg.storage, else 'ssd'. differs compares in the setting's own
-- unit; needs_restart means the server must restart before a new value takes effect; source is
-- where the value in effect comes from (its file, e.g. mempg.conf or postgresql.auto.conf, for
-- roles allowed to see it; else pg_settings.source).
-- Errors: 22004 memory or cores missing (NULL and no mempg.machine_* setting), 22023 a value
-- outside its range or not a size, a storage other than ssd or hdd.
CREATE OR REPLACE FUNCTION ops.recommended_settings(
    memory text DEFAULT NULL,
    cores integer DEFAULT NULL,
    storage text DEFAULT NULL,
    connections integer DEFAULT NULL
)
RETURNS TABLE (name text, current_value text, recommended_value text, unit text, reason text,
               needs_restart boolean, differs boolean, source text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    c_mb CONSTANT bigint := 1048576;
    v_memory_text text := coalesce(recommended_settings.memory,
                                   nullif(pg_catalog.current_setting('mempg.machine_memory', true), ''));
    v_cores_text text := coalesce(recommended_settings.cores::text,
                                  nullif(pg_catalog.current_setting('mempg.machine_cores', true), ''));
    v_storage text := lower(coalesce(recommended_settings.storage,
                                     nullif(pg_catalog.current_setting('mempg.storage', true), ''), 'ssd'));
    v_connections integer := coalesce(recommended_settings.connections, 40);
    v_memory bigint;
    v_cores integer;
    v_shared_buffers bigint;
    v_max_connections integer;
    v_per_gather integer;
    v_ssd boolean;
BEGIN
    IF v_memory_text IS NULL THEN
        RAISE EXCEPTION 'memory is NULL and the setting mempg.machine_memory is not set'
            USING ERRCODE = '22004', HINT = 'Pass the server''s memory, e.g. memory => ''16GB''.';
    END IF;
    BEGIN
        v_memory := pg_catalog.pg_size_bytes(v_memory_text);
    EXCEPTION WHEN invalid_parameter_value OR numeric_value_out_of_range THEN
        RAISE EXCEPTION 'memory must be a size such as ''16GB'', got %', pg_catalog.quote_literal(v_memory_text)
            USING ERRCODE = '22023';
    END;
    IF v_memory < 128 * c_mb OR v_memory > 1024::bigint * 1024 * 1024 * c_mb THEN
        RAISE EXCEPTION 'memory must be between 128MB and 1PB, got %', v_memory_text
            USING ERRCODE = '22023';
    END IF;
    IF v_cores_text IS NULL THEN
        RAISE EXCEPTION 'cores is NULL and the setting mempg.machine_cores is not set'
            USING ERRCODE = '22004', HINT = 'Pass the number of CPU cores, e.g. cores => 4.';
    END IF;
    IF v_cores_text ~ '^\s*-?[0-9]{1,9}\s*$' THEN
        v_cores := v_cores_text::integer;
    END IF;
    IF v_cores IS NULL OR v_cores NOT BETWEEN 1 AND 4096 THEN
        RAISE EXCEPTION 'cores must be between 1 and 4096, got %', v_cores_text USING ERRCODE = '22023';
    END IF;
    IF v_storage NOT IN ('ssd', 'hdd') THEN
        RAISE EXCEPTION 'storage must be ssd or hdd, got %', v_storage USING ERRCODE = '22023';
    END IF;
    IF v_connections NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'connections must be between 1 and 10000, got %', v_connections USING ERRCODE = '22023';
    END IF;

    v_ssd := v_storage = 'ssd';
    v_shared_buffers := greatest(128 * c_mb, v_memory / 4);
    v_max_connections := greatest(100, v_connections + 20);
    v_per_gather := least(4, v_cores / 2);

    RETURN QUERY
    WITH rule (name, bytes, value, reason) AS (
        VALUES
        ('shared_buffers', v_shared_buffers, NULL::numeric,
         'a quarter of memory: the hot part of the HNSW index and the tables stays in PostgreSQL''s cache'),
        ('effective_cache_size', greatest(128 * c_mb, v_memory / 4 * 3), NULL,
         'three quarters of memory: what shared_buffers and the OS cache hold together (planner estimate only)'),
        ('maintenance_work_mem', least(16384 * c_mb, greatest(64 * c_mb, v_memory / 8)), NULL,
         'an eighth of memory, up to 16GB: an HNSW build is several times faster while its graph fits'),
        ('autovacuum_work_mem', least(1024 * c_mb, greatest(64 * c_mb, v_memory / 64)), NULL,
         'a 64th of memory, up to 1GB: autovacuum workers do not each take maintenance_work_mem'),
        ('work_mem', least(1024 * c_mb, greatest(4 * c_mb,
             (v_memory - v_shared_buffers) / (3 * v_max_connections * greatest(1, v_per_gather)))), NULL,
         format('(memory - shared_buffers) / (3 x %s connections x %s worker(s) per gather), 4MB to 1GB: sorts, hashes and iterative HNSW scans',
                v_max_connections, greatest(1, v_per_gather))),
        ('max_connections', NULL, v_max_connections::numeric,
         format('the pooler''s %s server connections plus 20 for the runner, monitoring and maintenance; at least 100',
                v_connections)),
        ('random_page_cost', NULL, CASE WHEN v_ssd THEN 1.1 END,
         CASE WHEN v_ssd THEN 'SSD: a random read costs about as much as a sequential one'
              ELSE 'spinning disk: PostgreSQL''s default' END),
        ('effective_io_concurrency', NULL, CASE WHEN v_ssd THEN 200 END,
         CASE WHEN v_ssd THEN 'SSD: many concurrent reads for bitmap heap scans'
              ELSE 'spinning disk: PostgreSQL''s default' END),
        ('maintenance_io_concurrency', NULL, CASE WHEN v_ssd THEN 200 END,
         CASE WHEN v_ssd THEN 'SSD: many concurrent reads for VACUUM, ANALYZE and index builds'
              ELSE 'spinning disk: PostgreSQL''s default' END),
        ('max_worker_processes', NULL, greatest(8, v_cores + 4)::numeric,
         format('%s parallel workers plus 4 background workers; at least 8', v_cores)),
        ('max_parallel_workers', NULL, v_cores::numeric,
         format('one parallel worker per core (%s)', v_cores)),
        ('max_parallel_workers_per_gather', NULL, v_per_gather::numeric,
         'half the cores, at most 4: one query leaves cores for the others'),
        ('max_parallel_maintenance_workers', NULL, least(8, v_cores - 1)::numeric,
         'cores - 1, at most 8: an index build uses every core (the leader works too)')
    ),
    sized AS (
        SELECT r.name, r.reason, s.unit, s.context, s.source, s.sourcefile, s.setting, s.vartype,
               -- the unit of the setting in bytes (memory settings), NULL for the others
               CASE WHEN r.bytes IS NOT NULL THEN
                    pg_catalog.pg_size_bytes(CASE WHEN s.unit ~ '^[0-9]' THEN s.unit ELSE '1' || s.unit END)
               END AS unit_bytes,
               -- the recommended value in the setting's own unit, kept within the server's bounds;
               -- NULL means PostgreSQL's default (boot_val)
               least(s.max_val::numeric, greatest(s.min_val::numeric,
                   coalesce(CASE WHEN r.bytes IS NOT NULL THEN
                                 (r.bytes / c_mb * c_mb) / pg_catalog.pg_size_bytes(
                                     CASE WHEN s.unit ~ '^[0-9]' THEN s.unit ELSE '1' || s.unit END)
                            END,
                            r.value, s.boot_val::numeric))) AS recommended
        FROM rule AS r
        JOIN pg_catalog.pg_settings AS s ON s.name = r.name
    )
    SELECT z.name,
           pg_catalog.current_setting(z.name),
           CASE WHEN z.unit_bytes IS NULL THEN
                CASE WHEN z.vartype = 'integer' THEN trunc(z.recommended)::text ELSE z.recommended::text END
                WHEN (z.recommended * z.unit_bytes) % (1024 * c_mb) = 0 THEN (z.recommended * z.unit_bytes / (1024 * c_mb))::bigint || 'GB'
                ELSE trunc(z.recommended * z.unit_bytes / c_mb)::bigint || 'MB'
           END,
           z.unit,
           z.reason,
           z.context = 'postmaster',
           z.setting::numeric <> z.recommended,
           coalesce(regexp_replace(z.sourcefile, '^.*/', ''), z.source)
    FROM sized AS z
    ORDER BY z.name;
END
$$;

COMMENT ON FUNCTION ops.recommended_settings(text, integer, text, integer) IS
    'Server settings recommended for a machine of the given memory and cores, beside the values in effect (the rule mempg sizes its embedded server by)';
REVOKE ALL ON FUNCTION ops.recommended_settings(text, integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.recommended_settings(text, integer, text, integer) TO service_role;
