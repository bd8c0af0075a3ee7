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
