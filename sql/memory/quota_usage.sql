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
