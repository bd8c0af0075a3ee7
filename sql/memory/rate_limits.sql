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
