-- 0011_quotas: quotas and rate limits on memory operations, enforced in the database (issue 19).
-- A token bucket per (user, operation) for add, update, delete, search and hybrid search, and caps
-- on each user's totals (memories not deleted, bytes of text and metadata), from plans that
-- service_role changes: memory.quota_plans (caps), memory.rate_limits (capacity and refill per
-- second per operation), memory.user_quota_plans (a user's plan; else quota_settings.default_plan)
-- and memory.quota_settings (on/off, the default plan, whether service_role is limited, a clock for
-- tests). Checked in the operation's own transaction; a refusal is SQLSTATE PGRST with
-- PostgREST's JSON message and {"status": 429, "headers": {"Retry-After": ...}} (docs/memory.md,
-- "Quotas and rate limits"). The hooks: memory.take_token() in search_memories,
-- hybrid_search_memories and text_search_memories after their argument checks (the hybrid
-- search is one 'hybrid_search' token, text search a 'search' one), in the deduplication trigger for every
-- INSERT, and in triggers for UPDATE and DELETE; the totals are kept by AFTER triggers.
-- The totals of existing memories are counted once at the end (a scan of memory.memories, under
-- the lock that the new triggers' creation holds, so no write is missed).
-- Extension types by name, whatever search_path the runner's session started with:
SET LOCAL search_path = pg_catalog, extensions, public;

-- One list of the limited operations for the two tables that name them. squawk warns that changing
-- a domain's constraint validates every column of that type: here two small tables (one row per
-- user and operation, one per plan and operation), and a new operation widens the list.
CREATE DOMAIN memory.quota_operation AS text
    -- squawk-ignore ban-create-domain-with-constraint
    CONSTRAINT known_operation CHECK (VALUE IN ('add', 'update', 'delete', 'search', 'hybrid_search'));
COMMENT ON DOMAIN memory.quota_operation IS 'An operation with a rate limit; a new one is added to this CHECK';

CREATE TABLE memory.quota_plans (
    plan         text PRIMARY KEY CONSTRAINT plan_name CHECK (plan ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    max_memories bigint CONSTRAINT max_memories_not_negative CHECK (max_memories >= 0),
    max_bytes    bigint CONSTRAINT max_bytes_not_negative CHECK (max_bytes >= 0),
    description  text
);
COMMENT ON TABLE memory.quota_plans IS 'Quota plans (tiers): caps on a user''s totals; rate limits per operation in memory.rate_limits';
COMMENT ON COLUMN memory.quota_plans.max_memories IS 'At most this many memories not deleted per user; NULL: no cap';
COMMENT ON COLUMN memory.quota_plans.max_bytes IS 'At most this many bytes of memory text plus metadata (JSON text) per user; NULL: no cap';

CREATE TABLE memory.rate_limits (
    plan              text NOT NULL REFERENCES memory.quota_plans ON UPDATE CASCADE ON DELETE CASCADE,
    operation         memory.quota_operation NOT NULL,
    capacity          integer NOT NULL CONSTRAINT capacity_valid CHECK (capacity BETWEEN 1 AND 1000000),
    refill_per_second double precision NOT NULL
        CONSTRAINT refill_valid CHECK (refill_per_second BETWEEN 0.000001 AND 1000000),
    PRIMARY KEY (plan, operation)
);
COMMENT ON TABLE memory.rate_limits IS 'Token bucket of each operation on each plan; an operation without a row is not limited on that plan';
COMMENT ON COLUMN memory.rate_limits.capacity IS 'Tokens a full bucket holds: the burst a user may spend at once';
COMMENT ON COLUMN memory.rate_limits.refill_per_second IS 'Tokens added back per second: the sustained rate';

CREATE TABLE memory.user_quota_plans (
    user_id text PRIMARY KEY CONSTRAINT user_id_valid CHECK (user_id <> '' AND length(user_id) <= 255),
    plan    text NOT NULL REFERENCES memory.quota_plans ON UPDATE CASCADE
);
CREATE INDEX user_quota_plans_plan_idx ON memory.user_quota_plans (plan);
COMMENT ON TABLE memory.user_quota_plans IS 'The plan of a user who is not on quota_settings.default_plan';

CREATE TABLE memory.quota_settings (
    singleton          boolean PRIMARY KEY DEFAULT true CONSTRAINT one_row CHECK (singleton),
    enabled            boolean NOT NULL DEFAULT true,
    default_plan       text NOT NULL DEFAULT 'default' REFERENCES memory.quota_plans ON UPDATE CASCADE,
    limit_service_role boolean NOT NULL DEFAULT false,
    clock_override     timestamptz
);
COMMENT ON TABLE memory.quota_settings IS 'Quotas and rate limits, one row: UPDATE it (service_role) to change them';
COMMENT ON COLUMN memory.quota_settings.enabled IS 'false: nothing is limited (the totals are still counted)';
COMMENT ON COLUMN memory.quota_settings.default_plan IS 'The plan of users without a row in memory.user_quota_plans';
COMMENT ON COLUMN memory.quota_settings.limit_service_role IS 'true: service_role is limited too, on the plan and buckets of the user it acts for';
COMMENT ON COLUMN memory.quota_settings.clock_override IS 'The time buckets refill by instead of the clock (tests, drills); NULL: clock_timestamp()';

-- UNLOGGED: a search that takes a token would otherwise turn a read into a write that waits for
-- its WAL flush at commit (+0.3 ms, 1.2x a light user's search, measured); a transaction that wrote
-- only unlogged tables commits without one. The price: after a crash the buckets are empty of rows,
-- that is full, and a standby has none (it limits nothing: rate_limits.sql).
CREATE UNLOGGED TABLE memory.rate_buckets (
    user_id      text NOT NULL,
    operation    memory.quota_operation NOT NULL,
    tokens       double precision NOT NULL,
    refreshed_at timestamptz NOT NULL,
    CONSTRAINT rate_buckets_pkey PRIMARY KEY (user_id, operation)
) WITH (fillfactor = 50);
COMMENT ON TABLE memory.rate_buckets IS 'Token bucket per user and operation (memory.take_token); tokens as of refreshed_at';

CREATE TABLE memory.quota_usage (
    user_id  text CONSTRAINT quota_usage_pkey PRIMARY KEY,
    memories bigint NOT NULL DEFAULT 0,
    bytes    bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 50);
COMMENT ON TABLE memory.quota_usage IS 'Per user: memories not deleted and their bytes, kept by triggers for the caps (memory.recount_quota_usage)';

-- rewritten on every operation: HOT updates (no indexed column changes, room on the page) and
-- vacuum at 5% dead rows
ALTER TABLE memory.rate_buckets SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE memory.quota_usage SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);

-- refusals, counted where a rollback cannot undo them (memory.refuse_quota, ops.quota_refusals)
CREATE SEQUENCE memory.quota_refusals_rate_add;
CREATE SEQUENCE memory.quota_refusals_rate_update;
CREATE SEQUENCE memory.quota_refusals_rate_delete;
CREATE SEQUENCE memory.quota_refusals_rate_search;
CREATE SEQUENCE memory.quota_refusals_rate_hybrid_search;
CREATE SEQUENCE memory.quota_refusals_cap_add;
CREATE SEQUENCE memory.quota_refusals_cap_update;

-- The defaults: generous for an agent in a conversation, a ceiling for one in a loop (an agent
-- adding more than 10 memories a second is refused once its burst of 1,000 is spent), and caps
-- that keep one user from filling the table for everybody. 'unlimited' has no caps and no limits.
INSERT INTO memory.quota_plans (plan, max_memories, max_bytes, description) VALUES
    ('default', 100000, 268435456, 'Every user without a plan of their own: 100,000 memories, 256 MiB'),
    ('unlimited', NULL, NULL, 'No caps and no rate limits');
INSERT INTO memory.rate_limits (plan, operation, capacity, refill_per_second) VALUES
    ('default', 'add', 1000, 10),
    ('default', 'update', 1000, 10),
    ('default', 'delete', 1000, 10),
    ('default', 'search', 2000, 20),
    ('default', 'hybrid_search', 2000, 20);
INSERT INTO memory.quota_settings DEFAULT VALUES;

-- sql/memory/quota_subject.sql
-- memory.quota_subject(): whom an operation is charged to, or NULL when it is not limited. The
-- quotas (rate_limits.sql, quota_usage.sql) ask it first. It reads the role the request runs as
-- from the `role` setting (SET ROLE / set_config('role', ...), as PostgREST and Supabase do), which
-- a SECURITY DEFINER function does not change, else the login role:
--   authenticated (and anon): the request's own identity, app.current_user_id(), never an
--     argument, so one user cannot spend another user's tokens; NULL (no identity) is not charged:
--     row-level security already gives such a request no rows and refuses its writes;
--   service_role: not limited, unless memory.quota_settings.limit_service_role, then charged to
--     the user it acts for (the user_id argument, or the row's owner), on that user's plan;
--   a superuser or another BYPASSRLS role (the owner, migrations, restores): never limited;
--   any other role: like authenticated (fail closed).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.quota_subject(user_id text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_role text := current_setting('role');
BEGIN
    IF v_role = 'none' THEN
        v_role := session_user;
    END IF;
    IF v_role = 'authenticated' THEN
        RETURN app.current_user_id();
    END IF;
    IF v_role = 'service_role' THEN
        RETURN CASE WHEN (SELECT s.limit_service_role FROM memory.quota_settings AS s) THEN quota_subject.user_id END;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_role AND (r.rolsuper OR r.rolbypassrls)) THEN
        RETURN NULL;
    END IF;
    RETURN app.current_user_id();
END
$$;

COMMENT ON FUNCTION memory.quota_subject(text) IS
    'The user an operation is charged to (the caller''s identity; for service_role the given user when limit_service_role), NULL when not limited';

-- memory.quota_plan(): the plan of a user: their row in memory.user_quota_plans, else the default.
CREATE OR REPLACE FUNCTION memory.quota_plan(user_id text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce((SELECT p.plan FROM memory.user_quota_plans AS p WHERE p.user_id = quota_plan.user_id),
                    (SELECT s.default_plan FROM memory.quota_settings AS s))
$$;

COMMENT ON FUNCTION memory.quota_plan(text) IS 'The quota plan of a user: memory.user_quota_plans, else quota_settings.default_plan';

-- memory.quota_now(): the time buckets refill by: quota_settings.clock_override when set (tests,
-- drills: only service_role can set it, so no user can move their own clock), else the clock.
CREATE OR REPLACE FUNCTION memory.quota_now()
RETURNS timestamptz
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce((SELECT s.clock_override FROM memory.quota_settings AS s), clock_timestamp())
$$;

COMMENT ON FUNCTION memory.quota_now() IS 'Time of the rate limits: quota_settings.clock_override, else clock_timestamp()';

-- memory.bucket_level(): the tokens a bucket holds at `at`: what it held when last refreshed,
-- plus refill_per_second for each second since (never for time going backwards), at most its
-- capacity. The one definition of the refill, for take_token(), the ops view and quota_status().
-- No SET clause, so the planner inlines it: its body uses built-ins only.
CREATE OR REPLACE FUNCTION memory.bucket_level(tokens double precision, refreshed_at timestamptz, capacity integer,
                                               refill_per_second double precision, at timestamptz)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT least(bucket_level.capacity::double precision,
                 bucket_level.tokens + bucket_level.refill_per_second
                     * greatest(0, extract(epoch FROM bucket_level.at - bucket_level.refreshed_at)::double precision))
$$;

COMMENT ON FUNCTION memory.bucket_level(double precision, timestamptz, integer, double precision, timestamptz) IS
    'Tokens of a bucket at a time: tokens + refill per second elapsed, at most capacity';

REVOKE ALL ON FUNCTION memory.quota_subject(text), memory.quota_plan(text), memory.quota_now(),
    memory.bucket_level(double precision, timestamptz, integer, double precision, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.quota_subject(text), memory.quota_plan(text), memory.quota_now(),
    memory.bucket_level(double precision, timestamptz, integer, double precision, timestamptz)
    TO authenticated, service_role;

-- sql/memory/rate_limits.sql
-- Rate limits: a token bucket per (user, operation) in memory.rate_buckets. A user's plan
-- (memory.user_quota_plans, else quota_settings.default_plan) gives each operation a capacity (a
-- burst) and a refill per second in memory.rate_limits; an operation without a row there is not
-- limited on that plan. Each call takes one token in the caller's own transaction: a rolled-back
-- operation gives its token back, and a refused one writes nothing.
-- memory.take_token(operation, user_id) is the hook every limited operation calls: the search
-- functions right after their argument checks, the write triggers of memory.memories
-- (limit_memory_writes.sql) for add, update and delete. One upsert of one row, by its primary key:
-- sessions of one user queue on that row's lock (so 16 of them cannot take more than the bucket
-- holds), sessions of other users never touch it. Under READ COMMITTED the waiting session sees
-- the committed row and refills from it; under REPEATABLE READ and SERIALIZABLE a row changed after
-- the snapshot gives 40001 (retry), as every write does there. On a hot standby nothing can be
-- written, so reads there are not limited (limit the replica's clients at the pooler).
-- SECURITY DEFINER: the buckets are written as their owner, never by the application roles, who
-- could otherwise refill their own; whom to charge comes from memory.quota_subject() (the role of
-- the request and its identity, not an argument an authenticated caller controls).
-- search_path is pinned on every function here, so a caller's own search_path never changes what
-- a name means.
CREATE OR REPLACE FUNCTION memory.take_token(operation text, user_id text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_operation memory.quota_operation := take_token.operation;  -- 23514 for an unknown operation
    v_subject text := memory.quota_subject(take_token.user_id);
    v_plan text;
    v_capacity integer;
    v_refill double precision;
    v_now timestamptz;
    v_left double precision;
BEGIN
    IF v_operation IS NULL THEN
        RAISE EXCEPTION 'operation must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF v_subject IS NULL OR pg_catalog.pg_is_in_recovery() THEN
        RETURN;
    END IF;
    -- the plan as memory.quota_plan() and the time as memory.quota_now() give them, read with the
    -- limit in one query
    SELECT l.plan, l.capacity, l.refill_per_second, coalesce(s.clock_override, clock_timestamp())
    INTO v_plan, v_capacity, v_refill, v_now
    FROM memory.quota_settings AS s
    JOIN memory.rate_limits AS l
      ON l.plan = coalesce((SELECT p.plan FROM memory.user_quota_plans AS p WHERE p.user_id = v_subject), s.default_plan)
     AND l.operation = v_operation
    WHERE s.enabled;
    IF NOT FOUND THEN
        RETURN;  -- limits off, or this operation unlimited on the user's plan
    END IF;
    INSERT INTO memory.rate_buckets AS b (user_id, operation, tokens, refreshed_at)
    VALUES (v_subject, v_operation, v_capacity - 1, v_now)
    ON CONFLICT ON CONSTRAINT rate_buckets_pkey DO UPDATE
    SET tokens = memory.bucket_level(b.tokens, b.refreshed_at, v_capacity, v_refill, v_now) - 1,
        refreshed_at = greatest(b.refreshed_at, v_now)
    WHERE memory.bucket_level(b.tokens, b.refreshed_at, v_capacity, v_refill, v_now) >= 1;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT memory.bucket_level(b.tokens, b.refreshed_at, v_capacity, v_refill, v_now) INTO v_left
    FROM memory.rate_buckets AS b
    WHERE b.user_id = v_subject AND b.operation = v_operation;
    PERFORM memory.refuse_quota(
        'rate', v_operation, v_subject,
        format('too many %s operations for user %s: retry in %s s', v_operation, v_subject,
               ceil((1 - v_left) / v_refill)),
        format('plan %s allows %s %s operations at once and %s per second; %s tokens left', v_plan, v_capacity,
               v_operation, v_refill, round(v_left::numeric, 3)),
        ceil((1 - v_left) / v_refill)::integer);
END
$$;

COMMENT ON FUNCTION memory.take_token(text, text) IS
    'Takes one token of the caller''s bucket for an operation; PGRST (HTTP 429, Retry-After) when it is empty';

-- memory.refuse_quota(): counts a refusal and raises it, in PostgREST's convention for an HTTP
-- status with headers: SQLSTATE PGRST, the message a JSON object {code, message, details, hint},
-- the detail {"status": 429, "headers": {...}}. code is rate_limited (a bucket: Retry-After says in
-- how many seconds a token is back) or quota_exceeded (a cap on totals: waiting does not help, so
-- no Retry-After). The count is a sequence per kind and operation (ops.quota_refusals): nextval()
-- is not rolled back with the refused transaction, a counter row would be.
CREATE OR REPLACE FUNCTION memory.refuse_quota(kind text, operation text, user_id text, message text,
                                               details text, retry_after integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    PERFORM nextval(format('memory.quota_refusals_%s_%s', refuse_quota.kind, refuse_quota.operation)::regclass);
    RAISE SQLSTATE 'PGRST' USING
        MESSAGE = jsonb_build_object(
            'code', CASE refuse_quota.kind WHEN 'rate' THEN 'rate_limited' ELSE 'quota_exceeded' END,
            'message', refuse_quota.message,
            'details', refuse_quota.details,
            'hint', CASE refuse_quota.kind
                        WHEN 'rate' THEN format('retry after %s s (Retry-After)', greatest(refuse_quota.retry_after, 1))
                        ELSE 'delete memories, or move the user to a larger plan: retrying does not help' END)::text,
        DETAIL = jsonb_build_object(
            'status', 429,
            'headers', CASE WHEN refuse_quota.kind = 'rate'
                            THEN jsonb_build_object('Retry-After', greatest(refuse_quota.retry_after, 1)::text)
                            ELSE '{}'::jsonb END)::text;
END
$$;

COMMENT ON FUNCTION memory.refuse_quota(text, text, text, text, text, integer) IS
    'Counts a refusal (rate or cap) and raises SQLSTATE PGRST with PostgREST''s JSON message and status 429';

REVOKE ALL ON FUNCTION memory.take_token(text, text), memory.refuse_quota(text, text, text, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.take_token(text, text) TO authenticated, service_role;

-- sql/memory/quota_usage.sql
-- Caps on totals: memory.quota_usage holds, per user, the memories not deleted and their bytes
-- (memory text plus metadata as JSON text, memory.quota_bytes()), kept by the triggers
-- memories_90_quota_usage_* in the same transaction as the write, so a cap check reads one row
-- instead of counting the user's memories. The caps are the user's plan's max_memories and
-- max_bytes (memory.quota_plans; NULL: no cap). A write that makes a total grow past its cap is
-- refused (PGRST, code quota_exceeded, status 429) and writes nothing; a write that shrinks a
-- total is always allowed, even above a cap that was lowered. Expired memories count until
-- maintenance soft-deletes them (cleanup_expired_sessions): they hold storage until then.
-- Checked after the row is written (AFTER triggers), so only real growth counts: an add that
-- deduplication turns into a NOOP adds nothing, a MERGE adds the merged metadata's bytes.
-- Writers with the triggers off (session_replication_role = replica: restores, the runner's
-- bulk_load_memories) bypass the counts: memory.recount_quota_usage() recomputes them.
-- Concurrency: one row per user, locked by the upsert until commit: a user's writers queue on it
-- (they already queue on the deduplication lock of their scope), other users never.
-- SECURITY DEFINER: the counts are written as their owner; application roles can only read their
-- own row.
-- search_path is pinned on every function here, so a caller's own search_path never changes what
-- a name means.

-- memory.quota_bytes(): the bytes a memory counts for against max_bytes. No SET clause, so the
-- planner inlines it (the recount aggregates it over every row): its body uses built-ins only.
CREATE OR REPLACE FUNCTION memory.quota_bytes(memory text, metadata jsonb)
RETURNS bigint
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(octet_length(quota_bytes.memory), 0)::bigint
           + coalesce(octet_length(quota_bytes.metadata::text), 0)
$$;

COMMENT ON FUNCTION memory.quota_bytes(text, jsonb) IS
    'Bytes a memory counts for against the max_bytes cap: its text plus its metadata as JSON text';
REVOKE ALL ON FUNCTION memory.quota_bytes(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.quota_bytes(text, jsonb) TO authenticated, service_role;

-- memory.count_quota_usage(): the trigger function; a change of owner moves the row's share.
CREATE OR REPLACE FUNCTION memory.count_quota_usage()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_operation text := CASE WHEN TG_OP = 'INSERT' OR pg_trigger_depth() > 1 THEN 'add' ELSE 'update' END;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.user_id IS DISTINCT FROM NEW.user_id THEN
        PERFORM memory.adjust_quota_usage(OLD.user_id, -1, -memory.quota_bytes(OLD.memory, OLD.metadata), v_operation)
        WHERE NOT OLD.is_deleted;
        PERFORM memory.adjust_quota_usage(NEW.user_id, 1, memory.quota_bytes(NEW.memory, NEW.metadata), v_operation)
        WHERE NOT NEW.is_deleted;
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM memory.adjust_quota_usage(NEW.user_id, 1, memory.quota_bytes(NEW.memory, NEW.metadata), v_operation)
        WHERE NOT NEW.is_deleted;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM memory.adjust_quota_usage(OLD.user_id, -1, -memory.quota_bytes(OLD.memory, OLD.metadata), v_operation)
        WHERE NOT OLD.is_deleted;
    ELSE
        PERFORM memory.adjust_quota_usage(
            NEW.user_id,
            (NOT NEW.is_deleted)::integer - (NOT OLD.is_deleted)::integer,
            CASE WHEN NEW.is_deleted THEN 0 ELSE memory.quota_bytes(NEW.memory, NEW.metadata) END
              - CASE WHEN OLD.is_deleted THEN 0 ELSE memory.quota_bytes(OLD.memory, OLD.metadata) END,
            v_operation);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.count_quota_usage() IS
    'Trigger: keeps memory.quota_usage (memories not deleted, their bytes) and refuses growth past the plan''s caps';
REVOKE ALL ON FUNCTION memory.count_quota_usage() FROM PUBLIC;

-- memory.adjust_quota_usage(): adds to a user's totals (never below 0) and, when a total grew past
-- its cap and the caller is limited (memory.quota_subject()), refuses.
CREATE OR REPLACE FUNCTION memory.adjust_quota_usage(user_id text, memories integer, bytes bigint, operation text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_memories bigint;
    v_bytes bigint;
    v_plan memory.quota_plans;
BEGIN
    IF adjust_quota_usage.memories = 0 AND adjust_quota_usage.bytes = 0 THEN
        RETURN;
    END IF;
    INSERT INTO memory.quota_usage AS q (user_id, memories, bytes)
    VALUES (adjust_quota_usage.user_id, greatest(adjust_quota_usage.memories, 0), greatest(adjust_quota_usage.bytes, 0))
    ON CONFLICT ON CONSTRAINT quota_usage_pkey DO UPDATE
    SET memories = greatest(q.memories + adjust_quota_usage.memories, 0),
        bytes = greatest(q.bytes + adjust_quota_usage.bytes, 0)
    RETURNING q.memories, q.bytes INTO v_memories, v_bytes;
    IF adjust_quota_usage.memories <= 0 AND adjust_quota_usage.bytes <= 0 THEN
        RETURN;
    END IF;
    IF memory.quota_subject(adjust_quota_usage.user_id) IS NULL
       OR NOT (SELECT s.enabled FROM memory.quota_settings AS s) THEN
        RETURN;
    END IF;
    SELECT * INTO v_plan FROM memory.quota_plans AS p WHERE p.plan = memory.quota_plan(adjust_quota_usage.user_id);
    IF adjust_quota_usage.memories > 0 AND v_memories > v_plan.max_memories THEN
        PERFORM memory.refuse_quota(
            'cap', adjust_quota_usage.operation, adjust_quota_usage.user_id,
            format('quota exceeded for user %s: at most %s memories on plan %s', adjust_quota_usage.user_id,
                   v_plan.max_memories, v_plan.plan),
            format('%s memories would be stored; the cap counts memories not deleted', v_memories));
    END IF;
    IF adjust_quota_usage.bytes > 0 AND v_bytes > v_plan.max_bytes THEN
        PERFORM memory.refuse_quota(
            'cap', adjust_quota_usage.operation, adjust_quota_usage.user_id,
            format('quota exceeded for user %s: at most %s bytes of memories on plan %s', adjust_quota_usage.user_id,
                   v_plan.max_bytes, v_plan.plan),
            format('%s bytes would be stored (memory text plus metadata as JSON text)', v_bytes));
    END IF;
END
$$;

COMMENT ON FUNCTION memory.adjust_quota_usage(text, integer, bigint, text) IS
    'Adds to a user''s quota totals; PGRST (quota_exceeded) when a total grows past the plan''s cap';
REVOKE ALL ON FUNCTION memory.adjust_quota_usage(text, integer, bigint, text) FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_90_quota_usage_insert ON memory.memories;
CREATE TRIGGER memories_90_quota_usage_insert
    AFTER INSERT ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.count_quota_usage();
DROP TRIGGER IF EXISTS memories_90_quota_usage_update ON memory.memories;
CREATE TRIGGER memories_90_quota_usage_update
    AFTER UPDATE ON memory.memories
    FOR EACH ROW
    WHEN (OLD.memory IS DISTINCT FROM NEW.memory OR OLD.metadata IS DISTINCT FROM NEW.metadata OR
          OLD.user_id IS DISTINCT FROM NEW.user_id OR
          OLD.is_deleted IS DISTINCT FROM NEW.is_deleted)
    EXECUTE FUNCTION memory.count_quota_usage();
DROP TRIGGER IF EXISTS memories_90_quota_usage_delete ON memory.memories;
CREATE TRIGGER memories_90_quota_usage_delete
    AFTER DELETE ON memory.memories
    FOR EACH ROW WHEN (NOT OLD.is_deleted)
    EXECUTE FUNCTION memory.count_quota_usage();

-- memory.recount_quota_usage(): recomputes the totals from memory.memories (every user, or one),
-- after writes that bypassed the triggers. Returns the users whose totals changed.
CREATE OR REPLACE FUNCTION memory.recount_quota_usage(user_id text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_changed integer;
BEGIN
    LOCK TABLE memory.quota_usage IN SHARE ROW EXCLUSIVE MODE;  -- no trigger adjusts a count meanwhile
    WITH actual AS (
        SELECT m.user_id, count(*) AS memories, sum(memory.quota_bytes(m.memory, m.metadata))::bigint AS bytes
        FROM memory.memories AS m
        WHERE NOT m.is_deleted AND (recount_quota_usage.user_id IS NULL OR m.user_id = recount_quota_usage.user_id)
        GROUP BY m.user_id
    ), wanted AS (
        SELECT coalesce(a.user_id, q.user_id) AS user_id, coalesce(a.memories, 0) AS memories,
               coalesce(a.bytes, 0) AS bytes
        FROM actual AS a
        FULL JOIN (SELECT * FROM memory.quota_usage AS u
                   WHERE recount_quota_usage.user_id IS NULL OR u.user_id = recount_quota_usage.user_id) AS q
          ON q.user_id = a.user_id
        WHERE (q.memories, q.bytes) IS DISTINCT FROM (coalesce(a.memories, 0), coalesce(a.bytes, 0))
    ), written AS (
        INSERT INTO memory.quota_usage AS q (user_id, memories, bytes)
        SELECT w.user_id, w.memories, w.bytes FROM wanted AS w
        ON CONFLICT ON CONSTRAINT quota_usage_pkey DO UPDATE SET memories = excluded.memories, bytes = excluded.bytes
        RETURNING 1
    )
    SELECT count(*) INTO v_changed FROM written;
    RETURN v_changed;
END
$$;

COMMENT ON FUNCTION memory.recount_quota_usage(text) IS
    'Recomputes memory.quota_usage from the memories (all users, or one); the number of users corrected';
REVOKE ALL ON FUNCTION memory.recount_quota_usage(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.recount_quota_usage(text) TO service_role;

-- sql/memory/limit_memory_writes.sql
-- Triggers memories_15_rate_limit_update and _delete (BEFORE UPDATE, BEFORE DELETE; after
-- memories_10_normalize, so bad input gets its 22xxx error first): every change of a memory takes
-- a token through memory.take_token(), whichever path it comes by (update_memory, delete_memory,
-- restore_memory, or a plain UPDATE or DELETE, which authenticated may also run), one per row:
--   UPDATE setting is_deleted                   -> delete (delete_memory's soft delete)
--   UPDATE of content, scope, expiry; a restore -> update
--   DELETE of a live memory                     -> delete (purging a soft-deleted one is free)
-- An UPDATE that changes none of those (touch_memories, decay) takes nothing, by the trigger's
-- WHEN clause, and neither does deduplication's own UPDATE of the memory an add matched
-- (pg_trigger_depth() > 1): that add has paid. The clause compares only types of pg_catalog (a
-- restore recreates it with an empty search_path, where pgvector's = is not found): a new
-- embedding shows there as a new version, which memories_10_normalize bumps; and it is written as
-- pg_get_triggerdef prints it back, so that a restored database has the same definition.
-- Adds (every INSERT) take theirs in the deduplication trigger, under its scope lock
-- (deduplicate_memories.sql). A row refused by the bucket fails its statement, which writes nothing.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.limit_memory_writes()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM memory.take_token('delete', OLD.user_id);
        RETURN OLD;
    END IF;
    IF pg_trigger_depth() = 1 THEN
        PERFORM memory.take_token(CASE WHEN NEW.is_deleted AND NOT OLD.is_deleted THEN 'delete' ELSE 'update' END,
                                  OLD.user_id);
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.limit_memory_writes() IS
    'Trigger: each memory changed or deleted takes a token of update or delete (memory.take_token)';
REVOKE ALL ON FUNCTION memory.limit_memory_writes() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_15_rate_limit_update ON memory.memories;
CREATE TRIGGER memories_15_rate_limit_update
    BEFORE UPDATE ON memory.memories
    FOR EACH ROW
    WHEN (OLD.version IS DISTINCT FROM NEW.version OR OLD.memory IS DISTINCT FROM NEW.memory OR
          OLD.metadata IS DISTINCT FROM NEW.metadata OR
          OLD.categories IS DISTINCT FROM NEW.categories OR
          OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.agent_id IS DISTINCT FROM NEW.agent_id OR
          OLD.run_id IS DISTINCT FROM NEW.run_id OR
          OLD.memory_type IS DISTINCT FROM NEW.memory_type OR
          OLD.source IS DISTINCT FROM NEW.source OR
          OLD.expires_at IS DISTINCT FROM NEW.expires_at OR
          OLD.is_deleted IS DISTINCT FROM NEW.is_deleted)
    EXECUTE FUNCTION memory.limit_memory_writes();
DROP TRIGGER IF EXISTS memories_15_rate_limit_delete ON memory.memories;
CREATE TRIGGER memories_15_rate_limit_delete
    BEFORE DELETE ON memory.memories
    FOR EACH ROW WHEN (NOT OLD.is_deleted)
    EXECUTE FUNCTION memory.limit_memory_writes();

-- sql/memory/deduplicate_memories.sql
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
-- Every INSERT takes a token of the caller's 'add' bucket (memory.take_token(), rate_limits.sql),
-- whatever deduplication then decides: deciding costs as much as an ADD. It is taken under the
-- scope lock, so the writers of one scope queue on that lock alone, as before.
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
        PERFORM memory.take_token('add', NEW.user_id);  -- rate limit: rate_limits.sql
        RETURN NEW;  -- restoring history (a dump, an import): nothing to compare with
    END IF;
    PERFORM pg_advisory_xact_lock(memory.scope_lock_key(NEW.user_id, NEW.agent_id));
    PERFORM memory.take_token('add', NEW.user_id);  -- rate limit, under the scope lock: rate_limits.sql
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

-- sql/memory/search_memories.sql
-- memory.search_memories(): a user's live memories (not deleted, not expired) nearest to the query
-- embedding, whose metadata contains metadata_filter and whose categories overlap category_filter
-- (an empty filter matches all), with cosine similarity >= similarity_threshold, best first.
-- Mem0's scoping narrows it further: agent_id, run_id, a filter in Mem0's language (filters, see
-- search_scope.sql) and windows on created_at / updated_at (created_within, updated_within).
-- memory.vector_candidates() (search_paths.sql) routes it to the exact or the HNSW path by the
-- size of the user's filtered slice, so light users get recall 1 and heavy users do not pay a
-- linear scan.
-- It changes no memory (call memory.touch_memories() for the results you use); it takes a token
-- of the caller's 'search' bucket after the arguments are checked (PGRST, HTTP 429, when empty).
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
    PERFORM memory.take_token('search', search_memories.query_user_id);  -- rate limit: rate_limits.sql
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

-- sql/memory/hybrid_search_memories.sql
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
-- It takes one token of the caller's 'hybrid_search' bucket after the arguments are checked
-- (PGRST, HTTP 429, when empty); its vector side is not charged again as a search.
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
    PERFORM memory.take_token('hybrid_search', hybrid_search_memories.query_user_id);  -- rate limit: rate_limits.sql
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

-- sql/memory/quota_status.sql
-- memory.quota_status(): where a user stands: their plan, each operation's tokens now and its
-- limit, and their totals against the caps. An authenticated caller sees their own (the
-- user_id argument is ignored, as memory.quota_subject() does); service_role any user's. Nothing
-- is taken or written, so a client can show "n adds left" or wait before it is refused.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.quota_status(user_id text DEFAULT NULL)
RETURNS TABLE (plan text, operation text, tokens double precision, capacity integer,
               refill_per_second double precision, memories bigint, max_memories bigint, bytes bigint,
               max_bytes bigint, limited boolean)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    WITH who AS (
        SELECT CASE WHEN current_setting('role') = 'authenticated' THEN app.current_user_id()
                    ELSE coalesce(quota_status.user_id, app.current_user_id()) END AS user_id
    ), plan AS (
        SELECT w.user_id, p.*, memory.quota_now() AS at,
               (SELECT s.enabled FROM memory.quota_settings AS s) AND memory.quota_subject(w.user_id) IS NOT NULL AS limited
        FROM who AS w JOIN memory.quota_plans AS p ON p.plan = memory.quota_plan(w.user_id)
        WHERE w.user_id IS NOT NULL
    )
    SELECT p.plan, l.operation::text,
           coalesce(memory.bucket_level(b.tokens, b.refreshed_at, l.capacity, l.refill_per_second, p.at), l.capacity),
           l.capacity, l.refill_per_second, coalesce(u.memories, 0), p.max_memories, coalesce(u.bytes, 0),
           p.max_bytes, p.limited
    FROM plan AS p
    LEFT JOIN memory.rate_limits AS l ON l.plan = p.plan
    LEFT JOIN memory.rate_buckets AS b ON b.user_id = p.user_id AND b.operation = l.operation
    LEFT JOIN memory.quota_usage AS u ON u.user_id = p.user_id
    ORDER BY l.operation
$$;

COMMENT ON FUNCTION memory.quota_status(text) IS
    'A user''s plan, tokens per operation and totals against the caps (one''s own for authenticated)';
REVOKE ALL ON FUNCTION memory.quota_status(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.quota_status(text) TO authenticated, service_role;

-- sql/memory/policies.sql (the quota tables)
-- Quotas: the plans, their limits and the switch are readable by everyone with access (a client
-- may show its limits); a user's plan, buckets and totals by that user (service_role bypasses).
ALTER TABLE memory.quota_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_plans FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_limits FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.user_quota_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.user_quota_plans FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.rate_buckets FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.quota_usage FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Everyone with access may read the quota plans" ON memory.quota_plans;
CREATE POLICY "Everyone with access may read the quota plans" ON memory.quota_plans
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the rate limits" ON memory.rate_limits;
CREATE POLICY "Everyone with access may read the rate limits" ON memory.rate_limits
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the quota settings" ON memory.quota_settings;
CREATE POLICY "Everyone with access may read the quota settings" ON memory.quota_settings
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Users see their own quota plan" ON memory.user_quota_plans;
CREATE POLICY "Users see their own quota plan" ON memory.user_quota_plans
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see their own rate buckets" ON memory.rate_buckets;
CREATE POLICY "Users see their own rate buckets" ON memory.rate_buckets
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see their own quota usage" ON memory.quota_usage;
CREATE POLICY "Users see their own quota usage" ON memory.quota_usage
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));

-- sql/memory/grants.sql (the quota tables)
-- Quotas and rate limits (quota_usage.sql, rate_limits.sql): plans, limits, assignments and the
-- switch change by service_role only; buckets and totals are written by the quota functions as
-- their owner, and authenticated reads its own rows (memory.quota_status()). service_role may
-- reset a bucket or a total by hand, and reads the refusal counters (ops.quota_refusals).
REVOKE ALL ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans, memory.quota_settings,
    memory.rate_buckets, memory.quota_usage FROM PUBLIC, anon;
GRANT SELECT ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans, memory.quota_settings,
    memory.rate_buckets, memory.quota_usage TO authenticated, service_role;
GRANT INSERT, UPDATE, DELETE ON memory.quota_plans, memory.rate_limits, memory.user_quota_plans,
    memory.rate_buckets, memory.quota_usage TO service_role;
GRANT UPDATE ON memory.quota_settings TO service_role;
GRANT SELECT ON SEQUENCE memory.quota_refusals_rate_add, memory.quota_refusals_rate_update,
    memory.quota_refusals_rate_delete, memory.quota_refusals_rate_search, memory.quota_refusals_rate_hybrid_search,
    memory.quota_refusals_cap_add, memory.quota_refusals_cap_update TO service_role;

-- sql/ops/quota_pressure.sql
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

-- sql/ops/health_report.sql
-- ops.health_report(): everything above in one jsonb document, and a 0-100 score: 100 minus a
-- named deduction per finding. A finding's severity (warning or critical) gives the overall
-- status that `mempg health` turns into its exit code. Unused indexes are listed but cost no
-- points: on a young database every index is unused. Quota refusals (ops.quota_refusals) and the
-- ten users closest to their limits (ops.quota_pressure) are listed too, and cost no points:
-- refusing is the limits doing their job.
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
        'capacity', (SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]') FROM ops.capacity_estimate() AS c),
        'quota_refusals', (SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.kind, r.operation), '[]') FROM ops.quota_refusals AS r),
        'quota_pressure', (SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]')
                           FROM (SELECT * FROM ops.quota_pressure LIMIT 10) AS p));
END
$$;

COMMENT ON FUNCTION ops.health_report(integer) IS
    'All health views and functions as jsonb, with a 0-100 score and each deduction named';
REVOKE ALL ON FUNCTION ops.health_report(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.health_report(integer) TO service_role;

-- sql/ops/grants.sql
-- Privileges of schema ops: service_role only. Nothing here is granted to authenticated or anon.
REVOKE ALL ON ALL TABLES IN SCHEMA ops FROM PUBLIC, anon, authenticated;
GRANT SELECT ON ops.database_health, ops.table_stats, ops.index_usage, ops.thresholds, ops.settings,
    ops.quota_pressure, ops.quota_refusals TO service_role;
GRANT UPDATE ON ops.thresholds, ops.settings TO service_role;

-- The totals of the memories stored so far (the triggers above hold their lock on memory.memories
-- until this migration commits, so no write comes between the count and the triggers).
INSERT INTO memory.quota_usage (user_id, memories, bytes)
SELECT m.user_id, count(*), sum(memory.quota_bytes(m.memory, m.metadata))
FROM memory.memories AS m
WHERE NOT m.is_deleted
GROUP BY m.user_id;
