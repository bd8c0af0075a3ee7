-- Rollback of 0016_bulk_import: the triggers and hand-offs as 0015 left them, then the import
-- functions and tables go (imported memories stay; pending memories, runs and the source map go).
SET LOCAL search_path = pg_catalog, extensions, public;

-- Pending memories are users' imported text that no embedding has made a memory yet: refuse to
-- drop them (embed them with memory.embed_pending_memory(), or delete them, first).
DO $$
BEGIN
    IF EXISTS (SELECT FROM memory.pending_memories) THEN
        RAISE EXCEPTION 'memory.pending_memories holds % imported memories not yet embedded',
            (SELECT count(*) FROM memory.pending_memories)
            USING ERRCODE = '55000', HINT = 'embed them (memory.embed_pending_memory) or delete them, then roll back';
    END IF;
END
$$;

-- sql/memory/deduplicate_memories.sql as before 0016
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

-- sql/memory/record_memory_history.sql as before 0016
-- Trigger memories_30_history (AFTER INSERT OR UPDATE): one memory_history row per ADD, UPDATE,
-- MERGE, DELETE and RESTORE, in the same transaction, with the database role and the app user.
-- The deduplication trigger names its event (memory.dedup_event()); other updates are classified
-- from the row: is_deleted flipping is DELETE or RESTORE, a new version is UPDATE, and changes
-- that are not content (relevance, access counts) write nothing.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.record_memory_history()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_event text := memory.dedup_event();
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_event := 'ADD';
    ELSIF v_event = 'NOOP' THEN
        RETURN NULL;
    ELSIF v_event IS NULL THEN
        v_event := CASE
            WHEN NOT OLD.is_deleted AND NEW.is_deleted THEN 'DELETE'
            WHEN OLD.is_deleted AND NOT NEW.is_deleted THEN 'RESTORE'
            WHEN NEW.version <> OLD.version THEN 'UPDATE'
        END;
        IF v_event IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO memory.memory_history (memory_id, user_id, event, old_memory, new_memory, old_version, new_version)
    VALUES (NEW.id, NEW.user_id, v_event,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.memory END, NEW.memory,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.version END, NEW.version);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.record_memory_history() IS
    'Trigger: writes memory_history rows for ADD, UPDATE, MERGE, DELETE and RESTORE';
REVOKE ALL ON FUNCTION memory.record_memory_history() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_30_history ON memory.memories;
CREATE TRIGGER memories_30_history
    AFTER INSERT OR UPDATE ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.record_memory_history();

-- sql/memory/dedup_outcome.sql as before 0016
-- The deduplication hand-off, in one place. A BEFORE INSERT trigger cannot return a value to
-- the statement that fired it, so the trigger memories_20_deduplicate leaves what it decided in
-- transaction-local settings, which these functions alone write and read:
--   memory.dedup_result  '<id> <event>': the memory the INSERT became (ADD, NOOP, UPDATE, MERGE);
--                        memory.add_memory() returns it, and after a plain INSERT of psql
--                        `SELECT * FROM memory.dedup_outcome()` tells what happened;
--   memory.dedup_event   the event of the UPDATE the trigger is running, for the history trigger
--                        (set around that UPDATE only, '' otherwise).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.set_dedup_outcome(id uuid, event text)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT set_config('memory.dedup_result', coalesce(set_dedup_outcome.id::text || ' ' || set_dedup_outcome.event, ''), true)
$$;

COMMENT ON FUNCTION memory.set_dedup_outcome(uuid, text) IS
    'Records what the deduplication trigger made of an INSERT (NULL clears it)';

CREATE OR REPLACE FUNCTION memory.dedup_outcome()
RETURNS TABLE (id uuid, event text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT split_part(r.result, ' ', 1)::uuid, split_part(r.result, ' ', 2)
    FROM (SELECT current_setting('memory.dedup_result', true) AS result) AS r
    WHERE r.result <> ''
$$;

COMMENT ON FUNCTION memory.dedup_outcome() IS
    'The memory the last INSERT of this transaction became, and how (ADD, NOOP, UPDATE, MERGE)';

CREATE OR REPLACE FUNCTION memory.set_dedup_event(event text)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT set_config('memory.dedup_event', coalesce(set_dedup_event.event, ''), true)
$$;

COMMENT ON FUNCTION memory.set_dedup_event(text) IS
    'Names the event of the UPDATE the deduplication trigger runs (NULL clears it), for the history trigger';

CREATE OR REPLACE FUNCTION memory.dedup_event()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT nullif(current_setting('memory.dedup_event', true), '')
$$;

COMMENT ON FUNCTION memory.dedup_event() IS 'The event of the deduplication UPDATE running now, or NULL';

REVOKE ALL ON FUNCTION memory.set_dedup_outcome(uuid, text), memory.dedup_outcome(),
    memory.set_dedup_event(text), memory.dedup_event() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.set_dedup_outcome(uuid, text), memory.dedup_outcome(),
    memory.set_dedup_event(text), memory.dedup_event() TO authenticated, service_role;

-- sql/memory/add_memory.sql as before 0016
-- memory.add_memory(): Mem0's add, in SQL. Inserts through the deduplication trigger and returns
-- what happened: ADD (a new memory), or NOOP, UPDATE or MERGE of the existing memory it matched.
-- Every argument is checked by the row trigger (memories_10_normalize) before deduplication
-- decides anything, whatever the outcome; the embedding's dimension is checked before the INSERT,
-- and expires_at must lie in the future.
-- Under REPEATABLE READ and SERIALIZABLE, two transactions adding the same new memory at once
-- cannot see each other's row: the second one's insert meets the first one's committed row in the
-- unique index. It gets 40001 (serialization failure: retry the transaction, which then finds the
-- memory: NOOP), not 23505; the subtransaction this takes exists only at those levels.
-- entities (from 0012) links the memory to entities given by id or name (memory.link_entities,
-- link_entities.sql), after deduplication: a NOOP, UPDATE or MERGE links the memory it matched,
-- so the links of a duplicate are carried over to the memory that stays. They are checked
-- before the insert, and a bad one fails the whole call: no memory, no entity, no link.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
-- The signature changes (a new argument): the old one is dropped, not left as an overload.
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz);
CREATE OR REPLACE FUNCTION memory.add_memory(
    user_id text,
    memory text,
    embedding vector,
    metadata jsonb DEFAULT '{}',
    categories text[] DEFAULT '{}',
    agent_id text DEFAULT NULL,
    run_id text DEFAULT NULL,
    memory_type text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL,
    entities jsonb DEFAULT NULL)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_constraint text;
    v_outcome record;
BEGIN
    -- checked here too: the INSERT casts to the column's vector(D) before any trigger could
    PERFORM memory.check_embedding(add_memory.embedding, 'embedding');
    IF add_memory.expires_at IS NOT NULL AND add_memory.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', add_memory.expires_at USING ERRCODE = '22023';
    END IF;
    PERFORM count(*) FROM memory.entity_references(add_memory.entities);

    PERFORM memory.set_dedup_outcome(NULL, NULL);
    IF current_setting('transaction_isolation') = 'read committed' THEN
        PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                     add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                     add_memory.run_id, add_memory.memory_type, add_memory.expires_at);
    ELSE
        BEGIN
            PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                         add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                         add_memory.run_id, add_memory.memory_type, add_memory.expires_at);
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            IF v_constraint <> 'memories_live_text_unique' THEN
                RAISE;
            END IF;
            RAISE EXCEPTION 'a concurrent transaction added the same memory after this transaction''s snapshot was taken'
                USING ERRCODE = '40001', HINT = 'retry the transaction: the memory is then found (NOOP)';
        END;
    END IF;

    SELECT * INTO v_outcome FROM memory.dedup_outcome();
    IF add_memory.entities IS NOT NULL AND v_outcome.id IS NOT NULL THEN
        PERFORM count(*) FROM memory.link_entities(v_outcome.id, add_memory.entities);
    END IF;
    RETURN QUERY SELECT v_outcome.id, v_outcome.event;
END
$$;

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';

-- memory.insert_memory(): the one INSERT behind add_memory; NULL when deduplication cancelled it.
CREATE OR REPLACE FUNCTION memory.insert_memory(
    user_id text, memory text, embedding vector, metadata jsonb, categories text[], agent_id text,
    run_id text, memory_type text, expires_at timestamptz)
RETURNS uuid
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    INSERT INTO memory.memories AS m (user_id, memory, embedding, metadata, categories, agent_id, run_id,
                                      memory_type, expires_at)
    VALUES (insert_memory.user_id, insert_memory.memory, insert_memory.embedding,
            coalesce(insert_memory.metadata, '{}'), coalesce(insert_memory.categories, '{}'),
            insert_memory.agent_id, insert_memory.run_id, insert_memory.memory_type, insert_memory.expires_at)
    RETURNING m.id
$$;

COMMENT ON FUNCTION memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) IS
    'INSERT of one memory through the triggers; its id, or NULL when deduplication cancelled it';
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz)
    TO authenticated, service_role;

-- sql/memory/lookup_scope.sql as before 0016
-- memory.lookup_scope(user_id): the user whose rows a SECURITY DEFINER index lookup may read for
-- this caller, as row-level security would decide it: for authenticated (and any role other than
-- the ones below) the given user only when it is the caller's own identity
-- (app.current_user_id()), else NULL; for service_role, superusers and BYPASSRLS roles the given
-- user. It reads the role the request runs as from the `role` setting, which a SECURITY DEFINER
-- function does not change (as memory.quota_subject() does). The lookups that need it:
-- entity_lookup.sql, and memory.full_text_candidates() (0015): under row-level security
-- PostgreSQL evaluates a query's own conditions after the policy's unless their operators are
-- LEAKPROOF, so the operators of those indexes (&& and @> on text[], pg_trgm's %, @@) cannot be
-- index conditions for the application's role.
-- search_path is pinned (pg_catalog, extensions, pg_temp), so a caller's own search_path never
-- changes what a name means.
CREATE OR REPLACE FUNCTION memory.lookup_scope(user_id text)
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
    IF v_role = 'service_role'
       OR EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_role AND (r.rolsuper OR r.rolbypassrls)) THEN
        RETURN lookup_scope.user_id;
    END IF;
    RETURN CASE WHEN lookup_scope.user_id = app.current_user_id() THEN lookup_scope.user_id END;
END
$$;

COMMENT ON FUNCTION memory.lookup_scope(text) IS
    'The user whose rows the caller may look up: its own identity (authenticated), any user (service_role); else NULL';

REVOKE ALL ON FUNCTION memory.lookup_scope(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.lookup_scope(text) TO authenticated, service_role;

-- sql/memory/quota_subject.sql as before 0016
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

-- sql/memory/grants.sql as before 0016
-- Table privileges of the memory schema. authenticated works through row-level security;
-- service_role (BYPASSRLS) runs jobs; anon gets nothing. History is append-only for everyone,
-- and settings change only by service_role.
REVOKE ALL ON memory.memories, memory.memory_history, memory.session_memories, memory.settings FROM PUBLIC, anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.memories, memory.session_memories TO authenticated, service_role;
GRANT SELECT, INSERT ON memory.memory_history TO authenticated, service_role;
GRANT DELETE ON memory.memory_history TO service_role;
GRANT SELECT ON memory.settings TO authenticated, service_role;
GRANT UPDATE ON memory.settings TO service_role;
GRANT USAGE ON SEQUENCE memory.memory_history_id_seq TO authenticated, service_role;
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
-- Entities (0012): the kinds and resolution settings change by service_role only; history is
-- append-only, as memory_history is.
REVOKE ALL ON memory.entity_types, memory.relation_kinds, memory.entity_resolution_settings, memory.entities,
    memory.entity_history, memory.memory_entities, memory.entity_relations, memory.interactions,
    memory.interaction_memories, memory.current_facts FROM PUBLIC, anon;
GRANT SELECT ON memory.entity_types, memory.relation_kinds, memory.entity_resolution_settings
    TO authenticated, service_role;
GRANT INSERT, UPDATE, DELETE ON memory.entity_types, memory.relation_kinds TO service_role;
GRANT UPDATE ON memory.entity_resolution_settings TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.entities, memory.memory_entities, memory.entity_relations,
    memory.interactions, memory.interaction_memories TO authenticated, service_role;
GRANT SELECT, INSERT ON memory.entity_history TO authenticated, service_role;
GRANT DELETE ON memory.entity_history TO service_role;
GRANT SELECT ON memory.current_facts TO authenticated, service_role;

DROP FUNCTION IF EXISTS memory.set_import_restore(boolean), memory.import_restoring(),
    memory.create_import_staging(), memory.import_lock_key(text, text), memory.start_import(text, text), memory.import_checksum(bigint),
    memory.finish_import(bigint, jsonb, boolean), memory.import_embedding(real[], boolean),
    memory.import_kind_name(text), memory.import_object(bigint, text, text, text),
    memory.restore_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.import_entity_refs(bigint, text, jsonb),
    memory.import_problem(bigint, text, text, text, text, real[], jsonb, text[], text, text, double precision,
                          text, text, text, jsonb, jsonb, boolean),
    memory.import_memory_rows(memory.import_runs, boolean),
    memory.import_record(memory.import_runs, text, text, jsonb, boolean),
    memory.import_records(memory.import_runs, text, boolean), memory.import_batch(bigint, boolean),
    memory.embed_pending_memory(uuid, vector), memory.export_lines(text),
    memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb, uuid),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, uuid),
    memory.request_bypasses_rls(), memory.request_role();
DROP TABLE IF EXISTS memory.pending_memories, memory.import_sources, memory.import_runs;
