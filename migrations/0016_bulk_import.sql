-- 0016_bulk_import: `mempg import` and `mempg export` (issue 15). One set-based bulk path in SQL:
-- rows go by COPY into a session's staging tables (memory.create_import_staging()), then
-- memory.import_batch() validates them with add_memory's rules (each rejected row reported with its
-- SQLSTATE and message), skips what this source already imported (memory.import_sources), sends
-- the rest through the deduplication trigger in source order (so an import equals the same rows
-- added one by one), restores mempg exports verbatim, and keeps rows without an embedding as
-- pending memories. Runs are recorded with their report and a checksum (memory.import_runs).
-- The deduplication and history triggers learn one hand-off (memory.import_restoring()): a
-- restored memory is matched on exact text only and brings its own history.
-- Extension types by name, whatever search_path the runner's session started with:
SET LOCAL search_path = pg_catalog, extensions, public;

CREATE TABLE memory.import_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_kind text NOT NULL CONSTRAINT source_kind_valid CHECK (source_kind ~ '^[a-z][a-z0-9_-]{0,31}$'),
    source_name text NOT NULL CONSTRAINT source_name_valid CHECK (length(source_name) BETWEEN 1 AND 1000),
    status      text NOT NULL DEFAULT 'running'
                CONSTRAINT status_known CHECK (status IN ('running', 'completed', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    db_role     text NOT NULL DEFAULT current_user,
    report      jsonb NOT NULL DEFAULT '{}' CONSTRAINT report_is_object CHECK (jsonb_typeof(report) = 'object'),
    checksum    text
);
COMMENT ON TABLE memory.import_runs IS 'One row per mempg import: its source, status, report and checksum';

CREATE TABLE memory.import_sources (
    source_kind text NOT NULL,
    source_name text NOT NULL,
    record_kind text NOT NULL
                CONSTRAINT record_kind_known CHECK (record_kind IN ('memory', 'entity', 'relation', 'interaction', 'history')),
    user_id     text NOT NULL,
    source_id   text NOT NULL,
    object_id   uuid,
    event       text NOT NULL,
    import_run  bigint NOT NULL REFERENCES memory.import_runs (id) ON DELETE CASCADE,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_kind, source_name, record_kind, user_id, source_id)
);
COMMENT ON TABLE memory.import_sources IS
    'What each imported record became, by its source and id there: re-running an import skips it';
CREATE INDEX import_sources_run ON memory.import_sources (import_run);
CREATE INDEX import_sources_object ON memory.import_sources (source_id, user_id) WHERE record_kind = 'memory';

CREATE TABLE memory.pending_memories (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     text NOT NULL,
    agent_id    text,
    run_id      text,
    memory      text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    categories  text[] NOT NULL DEFAULT '{}',
    memory_type text,
    source      text,
    expires_at  timestamptz,
    entities    jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    import_run  bigint REFERENCES memory.import_runs (id) ON DELETE SET NULL
);
COMMENT ON TABLE memory.pending_memories IS
    'Imported memories without an embedding, until memory.embed_pending_memory() adds them';
CREATE INDEX pending_memories_user ON memory.pending_memories (user_id, created_at, id);
CREATE INDEX pending_memories_import_run ON memory.pending_memories (import_run);

-- sql/memory/request_role.sql
-- The role a request runs as, and whether row-level security lets it see every user's rows: the
-- one definition that memory.quota_subject() (whom to charge), memory.lookup_scope() (whose rows
-- an index lookup may read) and memory.import_restoring() (who may restore an export) share (0016).
-- The role is the `role` setting (SET ROLE / set_config('role', ...), as PostgREST and Supabase
-- set it), which a SECURITY DEFINER function does not change, else the login role. service_role,
-- superusers and BYPASSRLS roles see every row.
-- search_path is pinned (pg_catalog, extensions, pg_temp), so a caller's own search_path never
-- changes what a name means.
CREATE OR REPLACE FUNCTION memory.request_role()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE current_setting('role') WHEN 'none' THEN session_user::text ELSE current_setting('role') END
$$;

COMMENT ON FUNCTION memory.request_role() IS 'The role the request runs as: the role setting, else the login role';

CREATE OR REPLACE FUNCTION memory.request_bypasses_rls()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                   WHERE r.rolname = memory.request_role()
                     AND (r.rolname = 'service_role' OR r.rolsuper OR r.rolbypassrls))
$$;

COMMENT ON FUNCTION memory.request_bypasses_rls() IS
    'True when the request runs as service_role, a superuser or a BYPASSRLS role';

REVOKE ALL ON FUNCTION memory.request_role(), memory.request_bypasses_rls() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.request_role(), memory.request_bypasses_rls() TO authenticated, service_role;

-- sql/memory/lookup_scope.sql
-- memory.lookup_scope(user_id): the user whose rows a SECURITY DEFINER index lookup may read for
-- this caller, as row-level security would decide it: for authenticated (and any role other than
-- the ones below) the given user only when it is the caller's own identity
-- (app.current_user_id()), else NULL; for service_role, superusers and BYPASSRLS roles the given
-- user. The role is memory.request_role()'s (request_role.sql): the `role` setting, which a
-- SECURITY DEFINER function does not change. The lookups that need it:
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
BEGIN
    IF memory.request_bypasses_rls() THEN  -- request_role.sql
        RETURN lookup_scope.user_id;
    END IF;
    RETURN CASE WHEN lookup_scope.user_id = app.current_user_id() THEN lookup_scope.user_id END;
END
$$;

COMMENT ON FUNCTION memory.lookup_scope(text) IS
    'The user whose rows the caller may look up: its own identity (authenticated), any user (service_role); else NULL';

REVOKE ALL ON FUNCTION memory.lookup_scope(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.lookup_scope(text) TO authenticated, service_role;

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
    v_role text := memory.request_role();  -- request_role.sql
BEGIN
    IF v_role = 'authenticated' THEN
        RETURN app.current_user_id();
    END IF;
    IF v_role = 'service_role' THEN
        RETURN CASE WHEN (SELECT s.limit_service_role FROM memory.quota_settings AS s) THEN quota_subject.user_id END;
    END IF;
    IF memory.request_bypasses_rls() THEN
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

-- sql/memory/dedup_outcome.sql
-- The deduplication hand-off, in one place. A BEFORE INSERT trigger cannot return a value to
-- the statement that fired it, so the trigger memories_20_deduplicate leaves what it decided in
-- transaction-local settings, which these functions alone write and read:
--   memory.dedup_result  '<id> <event>': the memory the INSERT became (ADD, NOOP, UPDATE, MERGE);
--                        memory.add_memory() returns it, and after a plain INSERT of psql
--                        `SELECT * FROM memory.dedup_outcome()` tells what happened;
--   memory.dedup_event   the event of the UPDATE the trigger is running, for the history trigger
--                        (set around that UPDATE only, '' otherwise);
--   memory.import_restore 'on' while memory.import_batch() restores a row of a mempg export
--                        verbatim (its id, version, timestamps and history, 0016): the
--                        deduplication trigger then matches exact text only (the unique index
--                        still refuses a live duplicate) and the history trigger writes nothing,
--                        since the export's own history rows follow. Set around that INSERT only;
--                        it counts for service_role, superusers and BYPASSRLS roles only, since
--                        any session can set a setting: the application's role cannot skip
--                        deduplication or its own history with it; and it names the
--                        transaction it was set in, so a value left in a pooled session by an
--                        earlier transaction counts for nothing.
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

CREATE OR REPLACE FUNCTION memory.set_import_restore(restoring boolean)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT set_config('memory.import_restore',
                      CASE WHEN set_import_restore.restoring THEN 'on ' || pg_current_xact_id() ELSE '' END, true)
$$;

COMMENT ON FUNCTION memory.set_import_restore(boolean) IS
    'Marks the INSERT that follows as the verbatim restore of an exported memory (memory.import_batch)';

CREATE OR REPLACE FUNCTION memory.import_restoring()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT coalesce(current_setting('memory.import_restore', true) = 'on ' || pg_current_xact_id_if_assigned(), false)
       AND memory.request_bypasses_rls()  -- any role may set a setting: only imports' roles count
$$;

COMMENT ON FUNCTION memory.import_restoring() IS
    'True while memory.import_batch() restores an exported memory verbatim';

REVOKE ALL ON FUNCTION memory.set_dedup_outcome(uuid, text), memory.dedup_outcome(),
    memory.set_dedup_event(text), memory.dedup_event(), memory.set_import_restore(boolean),
    memory.import_restoring() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.set_dedup_outcome(uuid, text), memory.dedup_outcome(),
    memory.set_dedup_event(text), memory.dedup_event(), memory.import_restoring() TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION memory.set_import_restore(boolean) TO service_role;

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
-- A memory of a mempg export restored by memory.import_batch() (memory.import_restoring(), 0016)
-- is matched on exact text only: near-duplicates that lived side by side in the exported
-- database stay two memories, so an export reads back as it was.
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
    ELSIF memory.import_restoring() THEN
        RETURN NEW;  -- an exported memory restored verbatim (memory.import_batch): exact text only
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

-- sql/memory/record_memory_history.sql
-- Trigger memories_30_history (AFTER INSERT OR UPDATE): one memory_history row per ADD, UPDATE,
-- MERGE, DELETE and RESTORE, in the same transaction, with the database role and the app user.
-- The deduplication trigger names its event (memory.dedup_event()); other updates are classified
-- from the row (a memory restored from a mempg export by memory.import_batch() brings its own
-- history, 0016, and gets none here; an ADD is dated at the memory's created_at, which an import
-- keeps from its source, and is now() otherwise): is_deleted flipping is DELETE or RESTORE, a new version is UPDATE, and changes
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
        IF memory.import_restoring() THEN
            RETURN NULL;  -- a restored memory: memory.import_batch() writes its exported history
        END IF;
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
    INSERT INTO memory.memory_history (memory_id, user_id, event, old_memory, new_memory, old_version, new_version,
                                       created_at)
    VALUES (NEW.id, NEW.user_id, v_event,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.memory END, NEW.memory,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.version END, NEW.version,
            CASE WHEN TG_OP = 'INSERT' THEN least(NEW.created_at, now()) ELSE now() END);
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

-- sql/memory/import_staging.sql
-- The staging tables of a bulk import (0016), one pair per session: `mempg import` sends rows by
-- COPY into them, then memory.import_batch() turns each batch into memories, entities, relations,
-- interactions and history, in one transaction. Temporary (no WAL, no bloat, invisible to other
-- sessions) and emptied at every commit (ON COMMIT DELETE ROWS), so a batch never outlives its
-- transaction and an interrupted import leaves nothing behind but the batches it committed.
-- pg_temp.memory_import_rows holds memories, with their columns typed so that COPY parses them:
--   ordinal      the row's place in the source (rows are applied in this order, as one-by-one
--                add_memory calls would be);
--   source_id    the row's id in the source: with the run's source it makes the import idempotent
--                (memory.import_sources);
--   preferred_id the id the memory takes when it is new and the id is free (a Mem0 or LangChain
--                uuid, so that their users keep their ids);
--   expires_at, created_at, updated_at  text, cast by the import, so that one bad timestamp
--                rejects its row instead of failing the COPY of the batch;
--   embedding    real[] of any length: the import checks it against the installed dimension and
--                pads it with zeros only when asked (never truncates); NULL keeps the row as a
--                pending memory (memory.pending_memories) to be embedded later;
--   entities     add_memory's entities argument, with entity ids of the source (translated);
--   restore      for a line of a mempg export: {"id", "version", "is_deleted", "deleted_at",
--                "access_count", "last_accessed_at", "history": [...]}, restored verbatim;
--   the outcome columns (memory_id, event, error_code, error) are written by import_batch.
-- pg_temp.memory_import_records holds the other records (kind entity, relation, interaction or
-- history) as JSON documents, documented beside memory.import_batch().
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.create_import_staging()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    CREATE TEMPORARY TABLE IF NOT EXISTS memory_import_rows (
        ordinal bigint PRIMARY KEY,
        source_id text NOT NULL,
        preferred_id uuid,
        user_id text,
        agent_id text,
        run_id text,
        memory text,
        embedding real[],
        metadata jsonb,
        categories text[],
        memory_type text,
        source text,
        relevance_score double precision,
        expires_at text,
        created_at text,
        updated_at text,
        entities jsonb,
        restore jsonb,
        memory_id uuid,
        event text,
        error_code text,
        error text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMPORARY TABLE IF NOT EXISTS memory_import_records (
        ordinal bigint PRIMARY KEY,
        kind text NOT NULL,
        source_id text NOT NULL,
        user_id text,
        doc jsonb NOT NULL,
        object_id uuid,
        event text,
        error_code text,
        error text
    ) ON COMMIT DELETE ROWS;
END
$$;

COMMENT ON FUNCTION memory.create_import_staging() IS
    'Creates this session''s import staging tables (pg_temp.memory_import_rows, memory_import_records) if missing';
REVOKE ALL ON FUNCTION memory.create_import_staging() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.create_import_staging() TO service_role;

-- sql/memory/import_runs.sql
-- Import runs (0016): each `mempg import` is one row of memory.import_runs, and every record it
-- wrote is one row of memory.import_sources, keyed by the source and the record's id there. That
-- key makes an import idempotent and resumable: a record already imported from the same source
-- (for the same user) is skipped, so re-running an import adds nothing and re-running an
-- interrupted one carries on after the last committed batch.
-- memory.start_import(source_kind, source_name) opens a run; memory.finish_import(run, report,
-- failed) closes it, storing the report and a checksum of what the run wrote: sha256 over the
-- sha256 of each record, in the order of its kind, user and source id, as kind, user, source id
-- and event, a memory with its text hash and version (never a generated id), so two databases
-- that took the same import give the same checksum. One 32-byte digest a record is aggregated,
-- which stays far below PostgreSQL's 1 GB value limit for tens of millions of records.
-- One run of a source at a time: start_import takes a session advisory lock on the source
-- (55P03 when another session holds it), which finish_import, or the session's end, releases.
-- Imports are administrative: these functions and tables are for service_role (the runner), not
-- for the application's role.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.import_lock_key(source_kind text, source_name text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT hashtextextended('mempg import ' || import_lock_key.source_kind || ' ' || import_lock_key.source_name, 0)
$$;

COMMENT ON FUNCTION memory.import_lock_key(text, text) IS 'The advisory lock key of one import source';

CREATE OR REPLACE FUNCTION memory.start_import(source_kind text, source_name text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF start_import.source_kind IS NULL OR start_import.source_kind !~ '^[a-z][a-z0-9_-]{0,31}$' THEN
        RAISE EXCEPTION 'source_kind must be a short lower-case name, got %', start_import.source_kind
            USING ERRCODE = '22023';
    END IF;
    PERFORM memory.check_label(start_import.source_name, 'source_name', 1000, true);
    IF NOT pg_try_advisory_lock(memory.import_lock_key(start_import.source_kind, start_import.source_name)) THEN
        RAISE EXCEPTION 'another import of % % is running', start_import.source_kind, start_import.source_name
            USING ERRCODE = '55P03', HINT = 'wait for it to finish (or for its session to end), then run this one again';
    END IF;
    INSERT INTO memory.import_runs (source_kind, source_name)
    VALUES (start_import.source_kind, start_import.source_name)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION memory.start_import(text, text) IS 'Opens an import run; returns its id';

CREATE OR REPLACE FUNCTION memory.import_checksum(run_id bigint)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT encode(sha256(coalesce(string_agg(sha256(convert_to(
               concat_ws(' ', s.record_kind, s.user_id, s.source_id, s.event, m.hash, m.version), 'UTF8')), ''
               ORDER BY s.record_kind, s.user_id, s.source_id), '')), 'hex')
    FROM memory.import_sources AS s
    LEFT JOIN memory.memories AS m ON s.record_kind = 'memory' AND m.id = s.object_id
    WHERE s.import_run = import_checksum.run_id
$$;

COMMENT ON FUNCTION memory.import_checksum(bigint) IS
    'sha256 of what an import run wrote: kind, id, event (and text hash, version of memories), in a stable order';

CREATE OR REPLACE FUNCTION memory.finish_import(run_id bigint, report jsonb DEFAULT '{}', failed boolean DEFAULT false)
RETURNS TABLE (status text, checksum text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_checksum text := memory.import_checksum(finish_import.run_id);
BEGIN
    IF finish_import.report IS NULL OR jsonb_typeof(finish_import.report) <> 'object' THEN
        RAISE EXCEPTION 'report must be a JSON object' USING ERRCODE = '22023';
    END IF;
    UPDATE memory.import_runs AS r
    SET status = CASE WHEN finish_import.failed THEN 'failed' ELSE 'completed' END,
        finished_at = now(), report = finish_import.report, checksum = v_checksum
    WHERE r.id = finish_import.run_id AND r.status = 'running';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'import run % is not running', finish_import.run_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM pg_advisory_unlock(memory.import_lock_key(r.source_kind, r.source_name))
    FROM memory.import_runs AS r WHERE r.id = finish_import.run_id;
    RETURN QUERY SELECT CASE WHEN finish_import.failed THEN 'failed' ELSE 'completed' END, v_checksum;
END
$$;

COMMENT ON FUNCTION memory.finish_import(bigint, jsonb, boolean) IS
    'Closes an import run with its report; returns its status and the checksum of what it wrote';

REVOKE ALL ON FUNCTION memory.import_lock_key(text, text), memory.start_import(text, text), memory.import_checksum(bigint),
    memory.finish_import(bigint, jsonb, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.import_lock_key(text, text), memory.start_import(text, text), memory.import_checksum(bigint),
    memory.finish_import(bigint, jsonb, boolean) TO service_role;

-- sql/memory/import_batch.sql
-- memory.import_batch(run_id, pad_embeddings): the one bulk path of `mempg import` (0016). It
-- turns the rows a batch sent by COPY into this session's staging tables (import_staging.sql)
-- into entities, memories, relations, interactions and history, in that order, in the caller's
-- transaction, and returns one outcome per staged row: what it became (object_id) and how (event),
-- or why it was rejected (error_code, error). No row is dropped silently.
-- Memories, in source order:
--   SKIP     imported from this source for this user by an earlier run (memory.import_sources):
--            nothing is written, so re-running an import adds nothing and an interrupted one
--            resumes (a source id met twice in one run is rejected, 23505, whatever the batches);
--   REJECT   a row add_memory would refuse, with add_memory's SQLSTATE and message: the checks
--            of memories_10_normalize (memory.import_problem(), over the same check functions
--            and settings) and add_memory's own (embedding dimension, expires_at in the future,
--            entity references); created_at in the future, a source id given twice;
--   ADD, NOOP, UPDATE, MERGE  through the deduplication trigger, row by row, against the
--            user's memories and the batch's earlier rows: the same code as add_memory, so an
--            import ends where the same rows added one by one would (same memories, same
--            history). A row's own created_at and updated_at are kept; a uuid source id becomes
--            the memory's id when it is free;
--   RESTORE  a line of a mempg export, restored verbatim (id, version, deletion, access counts,
--            timestamps, history): matched on exact text only (dedup_outcome.sql);
--   PENDING  a row without an embedding: kept in memory.pending_memories until
--            memory.embed_pending_memory() gives it one.
-- A row whose write fails after the checks (a merged result over the bounds, a quota) is rejected
-- with its error and its chunk of 50 rows is applied again without it: one subtransaction per
-- chunk and attempt, not per row, so a batch holds a few subtransaction ids (a thousand rows:
-- twenty) and a failure replays at most 49 rows.
-- Embeddings arrive as real[] of any length: memory.import_embedding() refuses another dimension
-- than the installed one (22023, naming both) unless pad_embeddings pads shorter ones with zeros,
-- which keeps every cosine similarity; a longer one is never truncated.
-- Other records (pg_temp.memory_import_records, kind and a JSON document):
--   entity       {"name", "type", "aliases", "attributes", "contact", "importance",
--                "person_type", "embedding", "restore"}: memory.upsert_entity() (resolution as
--                always), or for an exported one ("restore": true) memory.restore_entity() (its
--                exact name only); a type not yet known is registered in memory.entity_types;
--   relation     {"subject", "relation", "object" | "value", "fact", "valid_from", "valid_to",
--                "source_memory"}: memory.assert_fact() between entities of this import (source
--                ids); a relation not yet known is registered as multi-valued; with neither
--                valid_from nor a source memory (the MCP memory server keeps no times), the
--                fact holds from the start of the import run, which the run records;
--   interaction  {"entity", "summary", "occurred_at", "channel", "metadata", "memories"};
--   history      {"memory", "event", "old_memory", "new_memory", "created_at", "actor"}: a
--                source's own history of a memory imported from any source (for this user, or
--                for whichever user imported it when the record names none: Mem0's history
--                database has no user column), appended; an ADD is skipped when the memory
--                already has one.
-- Entity, memory and relation references in documents and in a memory's entities are the
-- source's ids, translated through memory.import_sources.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.import_embedding(embedding real[], pad_embeddings boolean DEFAULT false)
RETURNS vector
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_expected integer := memory.embedding_dim();
    v_dims integer := cardinality(import_embedding.embedding);
BEGIN
    IF import_embedding.embedding IS NULL THEN
        RETURN NULL;
    END IF;
    IF v_dims > v_expected OR (v_dims < v_expected AND NOT coalesce(import_embedding.pad_embeddings, false)) THEN
        RAISE EXCEPTION 'embedding has % dimensions; this database stores %-dimensional embeddings', v_dims, v_expected
            USING ERRCODE = '22023',
                  HINT = CASE WHEN v_dims < v_expected
                              THEN 'pad shorter embeddings with zeros (mempg import --pad-embeddings), which keeps cosine similarity, or import text only (--no-embeddings)'
                              ELSE 'import text only (mempg import --no-embeddings) and embed again with a model of the installed dimension' END;
    END IF;
    IF v_dims < v_expected THEN
        RETURN (import_embedding.embedding || array_fill(0::real, ARRAY[v_expected - v_dims]))::vector;
    END IF;
    RETURN import_embedding.embedding::vector;
END
$$;

COMMENT ON FUNCTION memory.import_embedding(real[], boolean) IS
    'A staged embedding as a vector of the installed dimension; 22023 for another one unless padding (never truncates)';

-- memory.import_kind_name(): a source's type or relation name as mempg's kind names are spelt
-- ("Works At" -> works_at); NULL when nothing usable is left.
CREATE OR REPLACE FUNCTION memory.import_kind_name(name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE WHEN k ~ '^[a-z][a-z0-9_]{0,62}$' THEN k END
    FROM (SELECT left(trim(BOTH '_' FROM regexp_replace(lower(import_kind_name.name), '[^a-z0-9]+', '_', 'g')), 63) AS k) AS s
$$;

COMMENT ON FUNCTION memory.import_kind_name(text) IS
    'A source''s type or relation name spelt as an entity type or relation kind (lower case, underscores)';

-- memory.import_object(): the id a record of an earlier batch or source became, or NULL.
CREATE OR REPLACE FUNCTION memory.import_object(run_id bigint, record_kind text, user_id text, source_id text)
RETURNS uuid
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT s.object_id
    FROM memory.import_sources AS s
    JOIN memory.import_runs AS r ON r.id = import_object.run_id
    WHERE s.source_kind = r.source_kind AND s.source_name = r.source_name
      AND s.record_kind = import_object.record_kind AND s.user_id = import_object.user_id
      AND s.source_id = import_object.source_id
      AND s.event NOT IN ('PENDING', 'REJECT')  -- a pending memory is not a memory yet
$$;

COMMENT ON FUNCTION memory.import_object(bigint, text, text, text) IS
    'What a record of this import''s source (kind, user, source id) became, or NULL';

-- memory.import_entity_refs(): a memory's entities argument with the source's entity ids
-- replaced by the ids they became; names pass through. 22023 for an id this source never imported.
CREATE OR REPLACE FUNCTION memory.import_entity_refs(run_id bigint, user_id text, entities jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_element jsonb;
    v_source_id text;
    v_id uuid;
    v_result jsonb := '[]';
BEGIN
    IF import_entity_refs.entities IS NULL OR jsonb_typeof(import_entity_refs.entities) <> 'array' THEN
        RETURN import_entity_refs.entities;  -- memory.entity_references() names the problem
    END IF;
    FOR v_element IN SELECT e FROM jsonb_array_elements(import_entity_refs.entities) AS e LOOP
        v_source_id := CASE jsonb_typeof(v_element) WHEN 'object' THEN v_element ->> 'id' END;
        IF v_source_id IS NOT NULL THEN
            v_id := memory.import_object(import_entity_refs.run_id, 'entity', import_entity_refs.user_id, v_source_id);
            IF v_id IS NULL THEN
                RAISE EXCEPTION 'entities: entity % was not imported from this source', v_source_id
                    USING ERRCODE = '22023';
            END IF;
            v_element := jsonb_set(v_element, '{id}', to_jsonb(v_id::text));
        END IF;
        v_result := v_result || jsonb_build_array(v_element);
    END LOOP;
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION memory.import_entity_refs(bigint, text, jsonb) IS
    'A staged memory''s entities with source entity ids translated to mempg ids (22023 for one never imported)';

-- memory.import_problem(): why add_memory would refuse a staged memory (its SQLSTATE and
-- message), or no row. The checks are memories_10_normalize's and add_memory's, through the same
-- functions and settings; a restored row (restore) may be deleted and may carry an expiry in the
-- past, as it was. Read-only: its subtransaction takes no transaction id.
CREATE OR REPLACE FUNCTION memory.import_problem(
    run_id bigint, user_id text, agent_id text, run_label text, memory text, embedding real[], metadata jsonb,
    categories text[], memory_type text, source text, relevance_score double precision, expires_at text,
    created_at text, updated_at text, entities jsonb, restore jsonb, pad_embeddings boolean)
RETURNS TABLE (error_code text, error text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
    v_embedding vector;
    v_expires_at timestamptz;
    v_created_at timestamptz;
    v_updated_at timestamptz;
BEGIN
    -- add_memory's own checks, in its order: the embedding, the expiry, the entity references
    v_embedding := memory.import_embedding(import_problem.embedding, import_problem.pad_embeddings);
    IF v_embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(v_embedding, 'embedding');
    ELSIF coalesce((import_problem.restore ->> 'is_deleted')::boolean, false) THEN
        RAISE EXCEPTION 'a deleted memory is restored with its embedding only (it cannot wait as a pending memory)'
            USING ERRCODE = '22004';
    END IF;
    v_expires_at := import_problem.expires_at::timestamptz;
    IF v_expires_at <= now() AND import_problem.restore IS NULL THEN
        RAISE EXCEPTION 'expires_at must be in the future, got %', v_expires_at USING ERRCODE = '22023';
    END IF;
    PERFORM count(*) FROM memory.entity_references(
        memory.import_entity_refs(import_problem.run_id, import_problem.user_id, import_problem.entities));
    -- then memories_10_normalize's, in its order
    SELECT * INTO v_settings FROM memory.settings;
    PERFORM memory.check_label(import_problem.user_id, 'user_id', v_settings.max_id_chars, true);
    PERFORM memory.check_label(import_problem.agent_id, 'agent_id', v_settings.max_id_chars);
    PERFORM memory.check_label(import_problem.run_label, 'run_id', v_settings.max_id_chars);
    PERFORM memory.check_label(import_problem.memory_type, 'memory_type', v_settings.max_memory_type_chars);
    PERFORM memory.check_label(import_problem.source, 'source', v_settings.max_source_chars);
    PERFORM memory.check_label(import_problem.memory, 'memory', v_settings.max_memory_chars, true);
    PERFORM memory.check_metadata(coalesce(import_problem.metadata, '{}'), 'metadata', v_settings.max_metadata_bytes,
                                  v_settings.max_metadata_depth);
    PERFORM memory.check_categories(memory.normalize_categories(coalesce(import_problem.categories, '{}')), 'categories',
                                    v_settings.max_categories, v_settings.max_category_chars);
    -- and what only an import brings: its own relevance, times and restore document
    IF import_problem.relevance_score IS NOT NULL AND NOT import_problem.relevance_score BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'relevance_score must lie between 0 and 1, got %', import_problem.relevance_score
            USING ERRCODE = '22023';
    END IF;
    v_created_at := import_problem.created_at::timestamptz;
    v_updated_at := import_problem.updated_at::timestamptz;
    IF v_created_at > now() THEN
        RAISE EXCEPTION 'created_at must not be in the future, got %', v_created_at USING ERRCODE = '22023';
    END IF;
    IF v_updated_at < v_created_at THEN
        RAISE EXCEPTION 'updated_at % is before created_at %', v_updated_at, v_created_at USING ERRCODE = '22023';
    END IF;
    IF import_problem.restore IS NOT NULL AND jsonb_typeof(import_problem.restore) <> 'object' THEN
        RAISE EXCEPTION 'restore must be a JSON object' USING ERRCODE = '22023';
    END IF;
    RETURN;
EXCEPTION WHEN data_exception OR integrity_constraint_violation OR no_data_found OR program_limit_exceeded THEN
    RETURN QUERY SELECT SQLSTATE::text, SQLERRM;
END
$$;

COMMENT ON FUNCTION memory.import_problem(bigint, text, text, text, text, real[], jsonb, text[], text, text,
    double precision, text, text, text, jsonb, jsonb, boolean) IS
    'Why add_memory would refuse a staged memory (SQLSTATE, message), or no row';

-- memory.import_memory_rows(): the memories of a batch (see the header); outcomes are written
-- to the staging rows.
CREATE OR REPLACE FUNCTION memory.import_memory_rows(run memory.import_runs, pad_embeddings boolean)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_chunk bigint;
    v_row record;
    v_current bigint;
    v_id uuid;
    v_event text;
    v_embedding vector;
    v_code text;
    v_message text;
BEGIN
    UPDATE pg_temp.memory_import_rows AS r
    SET event = CASE WHEN s.import_run = run.id THEN 'REJECT' ELSE 'SKIP' END,
        memory_id = CASE WHEN s.import_run <> run.id THEN s.object_id END,
        error_code = CASE WHEN s.import_run = run.id THEN '23505' END,
        error = CASE WHEN s.import_run = run.id
                     THEN format('source_id %s appears more than once for user %s in this source', r.source_id, r.user_id) END
    FROM memory.import_sources AS s
    WHERE s.source_kind = run.source_kind AND s.source_name = run.source_name AND s.record_kind = 'memory'
      AND s.user_id = r.user_id AND s.source_id = r.source_id;

    UPDATE pg_temp.memory_import_rows AS r
    SET event = 'REJECT', error_code = '23505',
        error = format('source_id %s appears more than once for user %s in this source', r.source_id, r.user_id)
    WHERE r.event IS NULL
      AND EXISTS (SELECT 1 FROM pg_temp.memory_import_rows AS e
                  WHERE e.ordinal < r.ordinal AND e.source_id = r.source_id AND e.user_id = r.user_id);

    UPDATE pg_temp.memory_import_rows AS r
    SET event = 'REJECT', error_code = p.error_code, error = p.error
    FROM pg_temp.memory_import_rows AS q
    CROSS JOIN LATERAL memory.import_problem(
        run.id, q.user_id, q.agent_id, q.run_id, q.memory, q.embedding, q.metadata, q.categories, q.memory_type,
        q.source, q.relevance_score, q.expires_at, q.created_at, q.updated_at, q.entities, q.restore,
        import_memory_rows.pad_embeddings) AS p
    WHERE q.ordinal = r.ordinal AND r.event IS NULL;

    FOR v_chunk IN SELECT DISTINCT r.ordinal / 50 FROM pg_temp.memory_import_rows AS r WHERE r.event IS NULL ORDER BY 1 LOOP
    <<attempts>>
    LOOP
        BEGIN
            FOR v_row IN SELECT * FROM pg_temp.memory_import_rows AS r
                         WHERE r.event IS NULL AND r.ordinal / 50 = v_chunk ORDER BY r.ordinal LOOP
                v_current := v_row.ordinal;
                v_embedding := memory.import_embedding(v_row.embedding, import_memory_rows.pad_embeddings);
                v_id := NULL;
                IF v_embedding IS NULL THEN
                    INSERT INTO memory.pending_memories AS p (user_id, agent_id, run_id, memory, metadata, categories,
                                                              memory_type, source, expires_at, entities, created_at,
                                                              import_run)
                    VALUES (v_row.user_id, v_row.agent_id, v_row.run_id, v_row.memory, coalesce(v_row.metadata, '{}'),
                            memory.normalize_categories(coalesce(v_row.categories, '{}')), v_row.memory_type,
                            v_row.source, v_row.expires_at::timestamptz,
                            memory.import_entity_refs(run.id, v_row.user_id, v_row.entities),
                            coalesce(v_row.created_at::timestamptz, now()), run.id)
                    RETURNING p.id INTO v_id;
                    v_event := 'PENDING';
                ELSE
                    PERFORM memory.set_dedup_outcome(NULL, NULL);
                    PERFORM memory.set_import_restore(v_row.restore IS NOT NULL);
                    INSERT INTO memory.memories AS m (
                        id, user_id, agent_id, run_id, memory, embedding, metadata, categories, memory_type, source,
                        relevance_score, expires_at, created_at, updated_at, version, is_deleted, deleted_at,
                        access_count, last_accessed_at)
                    SELECT coalesce(c.id, gen_random_uuid()), v_row.user_id, v_row.agent_id, v_row.run_id, v_row.memory,
                           v_embedding, coalesce(v_row.metadata, '{}'), coalesce(v_row.categories, '{}'),
                           v_row.memory_type, v_row.source, coalesce(v_row.relevance_score, 1),
                           v_row.expires_at::timestamptz, coalesce(v_row.created_at::timestamptz, now()),
                           coalesce(v_row.updated_at::timestamptz, v_row.created_at::timestamptz, now()),
                           coalesce((v_row.restore ->> 'version')::integer, 1),
                           coalesce((v_row.restore ->> 'is_deleted')::boolean, false),
                           (v_row.restore ->> 'deleted_at')::timestamptz,
                           coalesce((v_row.restore ->> 'access_count')::integer, 0),
                           coalesce((v_row.restore ->> 'last_accessed_at')::timestamptz, now())
                    FROM (SELECT coalesce((v_row.restore ->> 'id')::uuid, v_row.preferred_id) AS id) AS wanted
                    LEFT JOIN memory.memories AS taken ON taken.id = wanted.id
                    CROSS JOIN LATERAL (SELECT CASE WHEN taken.id IS NULL THEN wanted.id END AS id) AS c
                    RETURNING m.id INTO v_id;
                    PERFORM memory.set_import_restore(false);
                    IF v_row.restore IS NOT NULL AND v_id IS NOT NULL THEN
                        v_event := 'RESTORE';
                        INSERT INTO memory.memory_history (memory_id, user_id, event, old_memory, new_memory, old_version,
                                                           new_version, db_role, app_user_id, created_at)
                        SELECT v_id, v_row.user_id, h.doc ->> 'event', h.doc ->> 'old_memory', h.doc ->> 'new_memory',
                               (h.doc ->> 'old_version')::integer, (h.doc ->> 'new_version')::integer,
                               coalesce(h.doc ->> 'db_role', current_user), h.doc ->> 'app_user_id',
                               coalesce((h.doc ->> 'created_at')::timestamptz, now())
                        FROM jsonb_array_elements(coalesce(v_row.restore -> 'history', '[]')) WITH ORDINALITY AS h (doc, n)
                        ORDER BY h.n;
                    ELSE
                        SELECT o.id, o.event INTO v_id, v_event FROM memory.dedup_outcome() AS o;
                    END IF;
                    IF v_row.entities IS NOT NULL THEN
                        PERFORM count(*) FROM memory.link_entities(v_id,
                            memory.import_entity_refs(run.id, v_row.user_id, v_row.entities));
                    END IF;
                END IF;
                UPDATE pg_temp.memory_import_rows AS r SET memory_id = v_id, event = v_event
                WHERE r.ordinal = v_row.ordinal;
                INSERT INTO memory.import_sources (source_kind, source_name, record_kind, user_id, source_id,
                                                   object_id, event, import_run)
                VALUES (run.source_kind, run.source_name, 'memory', v_row.user_id, v_row.source_id, v_id, v_event, run.id);
            END LOOP;
            EXIT attempts;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR no_data_found OR program_limit_exceeded
                       OR SQLSTATE 'PGRST' THEN
            GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
            UPDATE pg_temp.memory_import_rows AS r SET event = 'REJECT', error_code = v_code, error = v_message
            WHERE r.ordinal = v_current;
        END;
    END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.import_memory_rows(memory.import_runs, boolean) IS
    'Applies the staged memories of a batch through deduplication (memory.import_batch)';

-- memory.restore_entity(): an entity of a mempg export, resolved by its exact name and type only
-- (upsert_entity's trigram and cosine steps could fold two exported entities into one), with
-- upsert_entity's checks and lock; returns the id and MATCH or RESTORE.
CREATE OR REPLACE FUNCTION memory.restore_entity(user_id text, name text, entity_type text, aliases text[],
                                                 attributes jsonb, contact jsonb, importance double precision,
                                                 embedding vector, person_type text)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM memory.check_label(restore_entity.user_id, 'user_id', (SELECT s.max_id_chars FROM memory.settings AS s), true);
    PERFORM memory.check_entity_name(restore_entity.name, 'name');
    PERFORM memory.check_entity_type(restore_entity.entity_type);
    PERFORM memory.check_entity_fields(restore_entity.aliases, restore_entity.attributes, restore_entity.contact,
                                       restore_entity.importance, restore_entity.embedding, restore_entity.person_type,
                                       restore_entity.entity_type);
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(restore_entity.user_id, restore_entity.entity_type));
    SELECT e.id INTO v_id
    FROM memory.entities AS e
    WHERE e.user_id = restore_entity.user_id AND e.entity_type = restore_entity.entity_type
      AND e.normalized_name = memory.normalize_entity_name(restore_entity.name)
      AND NOT e.is_deleted AND e.merged_into IS NULL;
    IF FOUND THEN
        RETURN QUERY SELECT v_id, 'MATCH'::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT memory.insert_entity(restore_entity.user_id, restore_entity.entity_type, restore_entity.name,
                                             restore_entity.aliases, restore_entity.attributes, restore_entity.contact,
                                             restore_entity.importance, restore_entity.embedding,
                                             restore_entity.person_type), 'RESTORE'::text;
END
$$;

COMMENT ON FUNCTION memory.restore_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text) IS
    'An exported entity by exact name and type (MATCH), else inserted (RESTORE); never a fuzzy match';

-- memory.import_record(): one entity, relation, interaction or history record (see the
-- header); returns the id it became and how.
CREATE OR REPLACE FUNCTION memory.import_record(run memory.import_runs, kind text, user_id text, doc jsonb,
                                                pad_embeddings boolean, OUT object_id uuid, OUT event text,
                                                OUT owner text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_kind text;
    v_subject uuid;
    v_object uuid;
    v_memory uuid;
    v_memories uuid[];
    v_owner text;
    v_users bigint;
BEGIN
    IF jsonb_typeof(import_record.doc) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION '% record must be a JSON object', import_record.kind USING ERRCODE = '22023';
    END IF;
    CASE import_record.kind
    WHEN 'entity' THEN
        v_kind := coalesce(memory.import_kind_name(coalesce(import_record.doc ->> 'type', 'other')), 'other');
        INSERT INTO memory.entity_types (name, description)
        VALUES (v_kind, format('registered by import run %s', run.id))
        ON CONFLICT DO NOTHING;
        IF coalesce((import_record.doc ->> 'restore')::boolean, false) THEN
            -- an exported entity: the same name and type only, never a fuzzy match with another
            SELECT r.id, r.event INTO import_record.object_id, import_record.event
            FROM memory.restore_entity(import_record.user_id, import_record.doc ->> 'name', v_kind,
                coalesce(ARRAY(SELECT jsonb_array_elements_text(import_record.doc -> 'aliases')), '{}'),
                coalesce(import_record.doc -> 'attributes', '{}'), coalesce(import_record.doc -> 'contact', '{}'),
                (import_record.doc ->> 'importance')::double precision,
                CASE WHEN jsonb_typeof(import_record.doc -> 'embedding') = 'array' THEN
                    memory.import_embedding(ARRAY(SELECT e::real FROM jsonb_array_elements_text(import_record.doc -> 'embedding') AS e),
                                            import_record.pad_embeddings) END,
                import_record.doc ->> 'person_type') AS r;
            RETURN;
        END IF;
        SELECT u.id, u.event INTO import_record.object_id, import_record.event
        FROM memory.upsert_entity(
            import_record.user_id, import_record.doc ->> 'name', v_kind,
            coalesce(ARRAY(SELECT jsonb_array_elements_text(import_record.doc -> 'aliases')), '{}'),
            coalesce(import_record.doc -> 'attributes', '{}'), coalesce(import_record.doc -> 'contact', '{}'),
            (import_record.doc ->> 'importance')::double precision,
            CASE WHEN jsonb_typeof(import_record.doc -> 'embedding') = 'array' THEN
                memory.import_embedding(ARRAY(SELECT e::real FROM jsonb_array_elements_text(import_record.doc -> 'embedding') AS e),
                                        import_record.pad_embeddings) END,
            import_record.doc ->> 'person_type') AS u;
    WHEN 'relation' THEN
        v_subject := memory.import_object(run.id, 'entity', import_record.user_id, import_record.doc ->> 'subject');
        IF v_subject IS NULL THEN
            RAISE EXCEPTION 'relation: subject % was not imported from this source', import_record.doc ->> 'subject'
                USING ERRCODE = '22023';
        END IF;
        IF import_record.doc ->> 'object' IS NOT NULL THEN
            v_object := memory.import_object(run.id, 'entity', import_record.user_id, import_record.doc ->> 'object');
            IF v_object IS NULL THEN
                RAISE EXCEPTION 'relation: object % was not imported from this source', import_record.doc ->> 'object'
                    USING ERRCODE = '22023';
            END IF;
        END IF;
        IF import_record.doc ->> 'source_memory' IS NOT NULL THEN
            v_memory := memory.import_object(run.id, 'memory', import_record.user_id, import_record.doc ->> 'source_memory');
        END IF;
        v_kind := memory.import_kind_name(import_record.doc ->> 'relation');
        IF v_kind IS NULL THEN
            RAISE EXCEPTION 'relation: % is not a usable relation name', import_record.doc ->> 'relation'
                USING ERRCODE = '22023';
        END IF;
        INSERT INTO memory.relation_kinds (name, single_valued, description)
        VALUES (v_kind, false, format('registered by import run %s', run.id))
        ON CONFLICT DO NOTHING;
        SELECT f.id, f.event INTO import_record.object_id, import_record.event
        FROM memory.assert_fact(v_subject, v_kind, v_object, import_record.doc ->> 'value', import_record.doc ->> 'fact',
                                coalesce((import_record.doc ->> 'valid_from')::timestamptz,
                                         CASE WHEN import_record.doc ->> 'source_memory' IS NULL THEN run.started_at END),
                                (import_record.doc ->> 'valid_to')::timestamptz, v_memory) AS f;
    WHEN 'interaction' THEN
        v_subject := memory.import_object(run.id, 'entity', import_record.user_id, import_record.doc ->> 'entity');
        IF v_subject IS NULL THEN
            RAISE EXCEPTION 'interaction: entity % was not imported from this source', import_record.doc ->> 'entity'
                USING ERRCODE = '22023';
        END IF;
        SELECT coalesce(array_agg(o.id), '{}') INTO v_memories
        FROM jsonb_array_elements_text(coalesce(import_record.doc -> 'memories', '[]')) AS s (source_id)
        CROSS JOIN LATERAL (SELECT memory.import_object(run.id, 'memory', import_record.user_id, s.source_id) AS id) AS o
        WHERE o.id IS NOT NULL;
        import_record.object_id := memory.record_interaction(
            v_subject, import_record.doc ->> 'summary',
            coalesce((import_record.doc ->> 'occurred_at')::timestamptz, now()),
            coalesce(memory.import_kind_name(import_record.doc ->> 'channel'), 'other'),
            coalesce(import_record.doc -> 'metadata', '{}'), v_memories);
        import_record.event := 'ADD';
    WHEN 'history' THEN
        SELECT min(m.id::text)::uuid, min(m.user_id), count(DISTINCT m.user_id)
        INTO v_memory, v_owner, v_users
        FROM memory.import_sources AS s
        JOIN memory.memories AS m ON m.id = s.object_id
        WHERE s.record_kind = 'memory' AND s.source_id = import_record.doc ->> 'memory'
          AND (import_record.user_id IS NULL OR s.user_id = import_record.user_id);
        IF v_users > 1 THEN
            RAISE EXCEPTION 'history: memory % was imported for % users', import_record.doc ->> 'memory', v_users
                USING ERRCODE = '22023', HINT = 'import the history once per user, with --user';
        ELSIF v_memory IS NULL THEN
            RAISE EXCEPTION 'history: memory % was not imported (for user %)', import_record.doc ->> 'memory',
                coalesce(import_record.user_id, 'any') USING ERRCODE = 'P0002';
        END IF;
        import_record.object_id := v_memory;
        import_record.owner := v_owner;
        IF import_record.doc ->> 'event' = 'ADD'
           AND EXISTS (SELECT 1 FROM memory.memory_history AS h WHERE h.memory_id = v_memory AND h.event = 'ADD') THEN
            import_record.event := 'SKIP';
            RETURN;
        END IF;
        INSERT INTO memory.memory_history (memory_id, user_id, event, old_memory, new_memory, app_user_id, created_at)
        VALUES (v_memory, v_owner, import_record.doc ->> 'event', import_record.doc ->> 'old_memory',
                import_record.doc ->> 'new_memory', import_record.doc ->> 'actor',
                coalesce((import_record.doc ->> 'created_at')::timestamptz, now()));
        import_record.event := 'ADD';
    ELSE
        RAISE EXCEPTION 'kind must be entity, relation, interaction or history, got %', import_record.kind
            USING ERRCODE = '22023';
    END CASE;
END
$$;

COMMENT ON FUNCTION memory.import_record(memory.import_runs, text, text, jsonb, boolean) IS
    'Applies one staged entity, relation, interaction or history record (memory.import_batch)';

-- memory.import_records(): the records of one kind, in source order, with the same
-- reject-and-retry as the memories.
CREATE OR REPLACE FUNCTION memory.import_records(run memory.import_runs, kind text, pad_embeddings boolean)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_chunk bigint;
    v_row record;
    v_current bigint;
    v_result record;
    v_code text;
    v_message text;
BEGIN
    -- a history record names no user (Mem0's history): its key is the user of the memory it went to
    UPDATE pg_temp.memory_import_records AS r
    SET event = CASE WHEN s.import_run = run.id THEN 'REJECT' ELSE 'SKIP' END,
        object_id = CASE WHEN s.import_run <> run.id THEN s.object_id END,
        error_code = CASE WHEN s.import_run = run.id THEN '23505' END,
        error = CASE WHEN s.import_run = run.id
                     THEN format('%s %s appears more than once in this source', r.kind, r.source_id) END
    FROM memory.import_sources AS s
    WHERE r.kind = import_records.kind AND s.source_kind = run.source_kind AND s.source_name = run.source_name
      AND s.record_kind = r.kind AND s.user_id = coalesce(r.user_id, s.user_id) AND s.source_id = r.source_id
      AND (r.user_id IS NOT NULL OR r.kind = 'history');
    UPDATE pg_temp.memory_import_records AS r
    SET event = 'REJECT', error_code = '23505', error = format('%s %s appears more than once in this source', r.kind, r.source_id)
    WHERE r.kind = import_records.kind AND r.event IS NULL
      AND EXISTS (SELECT 1 FROM pg_temp.memory_import_records AS e
                  WHERE e.kind = r.kind AND e.ordinal < r.ordinal AND e.source_id = r.source_id
                    AND e.user_id IS NOT DISTINCT FROM r.user_id);
    UPDATE pg_temp.memory_import_records AS r
    SET event = 'REJECT', error_code = '22004', error = 'user_id must not be NULL'
    WHERE r.kind = import_records.kind AND r.kind <> 'history' AND r.event IS NULL AND r.user_id IS NULL;

    FOR v_chunk IN SELECT DISTINCT r.ordinal / 50 FROM pg_temp.memory_import_records AS r
                   WHERE r.kind = import_records.kind AND r.event IS NULL ORDER BY 1 LOOP
    <<attempts>>
    LOOP
        BEGIN
            FOR v_row IN SELECT * FROM pg_temp.memory_import_records AS r
                         WHERE r.kind = import_records.kind AND r.event IS NULL AND r.ordinal / 50 = v_chunk
                         ORDER BY r.ordinal LOOP
                v_current := v_row.ordinal;
                v_result := memory.import_record(run, v_row.kind, v_row.user_id, v_row.doc, import_records.pad_embeddings);
                UPDATE pg_temp.memory_import_records AS r SET object_id = v_result.object_id, event = v_result.event
                WHERE r.ordinal = v_row.ordinal;
                INSERT INTO memory.import_sources (source_kind, source_name, record_kind, user_id, source_id,
                                                   object_id, event, import_run)
                VALUES (run.source_kind, run.source_name, v_row.kind, coalesce(v_row.user_id, v_result.owner),
                        v_row.source_id, v_result.object_id, v_result.event, run.id);
            END LOOP;
            EXIT attempts;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR no_data_found OR program_limit_exceeded
                       OR SQLSTATE 'PGRST' THEN
            GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
            UPDATE pg_temp.memory_import_records AS r SET event = 'REJECT', error_code = v_code, error = v_message
            WHERE r.ordinal = v_current;
        END;
    END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.import_records(memory.import_runs, text, boolean) IS
    'Applies the staged records of one kind (memory.import_batch)';

CREATE OR REPLACE FUNCTION memory.import_batch(run_id bigint, pad_embeddings boolean DEFAULT false)
RETURNS TABLE (kind text, ordinal bigint, source_id text, object_id uuid, event text, error_code text, error text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_run memory.import_runs;
BEGIN
    SELECT * INTO v_run FROM memory.import_runs AS r WHERE r.id = import_batch.run_id;
    IF NOT FOUND OR v_run.status <> 'running' THEN
        RAISE EXCEPTION 'import run % is not running', import_batch.run_id USING ERRCODE = 'P0002',
            HINT = 'open one with memory.start_import(source_kind, source_name)';
    END IF;
    IF to_regclass('pg_temp.memory_import_rows') IS NULL THEN
        RAISE EXCEPTION 'this session has no import staging tables' USING ERRCODE = '55000',
            HINT = 'SELECT memory.create_import_staging(), then COPY the batch into pg_temp.memory_import_rows';
    END IF;
    PERFORM memory.import_records(v_run, 'entity', import_batch.pad_embeddings);
    PERFORM memory.import_memory_rows(v_run, import_batch.pad_embeddings);
    PERFORM memory.import_records(v_run, 'relation', import_batch.pad_embeddings);
    PERFORM memory.import_records(v_run, 'interaction', import_batch.pad_embeddings);
    PERFORM memory.import_records(v_run, 'history', import_batch.pad_embeddings);
    UPDATE pg_temp.memory_import_records AS r
    SET event = 'REJECT', error_code = '22023',
        error = format('kind must be entity, relation, interaction or history, got %s', r.kind)
    WHERE r.event IS NULL;
    RETURN QUERY
    SELECT 'memory'::text, r.ordinal, r.source_id, r.memory_id, r.event, r.error_code, r.error
    FROM pg_temp.memory_import_rows AS r
    UNION ALL
    SELECT r.kind, r.ordinal, r.source_id, r.object_id, r.event, r.error_code, r.error
    FROM pg_temp.memory_import_records AS r
    ORDER BY 2;
END
$$;

COMMENT ON FUNCTION memory.import_batch(bigint, boolean) IS
    'Applies the staged batch of an import run: entities, memories (deduplicated), relations, interactions, history';

REVOKE ALL ON FUNCTION memory.import_embedding(real[], boolean), memory.import_kind_name(text),
    memory.restore_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.import_object(bigint, text, text, text), memory.import_entity_refs(bigint, text, jsonb),
    memory.import_problem(bigint, text, text, text, text, real[], jsonb, text[], text, text, double precision,
                          text, text, text, jsonb, jsonb, boolean),
    memory.import_memory_rows(memory.import_runs, boolean),
    memory.import_record(memory.import_runs, text, text, jsonb, boolean),
    memory.import_records(memory.import_runs, text, boolean), memory.import_batch(bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.import_embedding(real[], boolean), memory.import_kind_name(text),
    memory.restore_entity(text, text, text, text[], jsonb, jsonb, double precision, vector, text),
    memory.import_object(bigint, text, text, text), memory.import_entity_refs(bigint, text, jsonb),
    memory.import_problem(bigint, text, text, text, text, real[], jsonb, text[], text, text, double precision,
                          text, text, text, jsonb, jsonb, boolean),
    memory.import_memory_rows(memory.import_runs, boolean),
    memory.import_record(memory.import_runs, text, text, jsonb, boolean),
    memory.import_records(memory.import_runs, text, boolean), memory.import_batch(bigint, boolean) TO service_role;

-- sql/memory/add_memory.sql
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
-- memory_id (from 0016) is the new memory's id, for callers that choose it (Mem0 and LangChain choose
-- their ids: the adapters in mempg_client pass them here); default a random uuid. It names the
-- memory only when the add is an ADD: a NOOP, UPDATE or MERGE returns the memory it matched, and
-- an id another memory holds is refused by the primary key (23505).
-- The signature changes (a new argument): the old one is dropped, not left as an overload (0012
-- dropped the one before it).
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb);
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz);
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
    entities jsonb DEFAULT NULL,
    memory_id uuid DEFAULT NULL)
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
                                     add_memory.run_id, add_memory.memory_type, add_memory.expires_at,
                                     add_memory.memory_id);
    ELSE
        BEGIN
            PERFORM memory.insert_memory(add_memory.user_id, add_memory.memory, add_memory.embedding,
                                         add_memory.metadata, add_memory.categories, add_memory.agent_id,
                                         add_memory.run_id, add_memory.memory_type, add_memory.expires_at,
                                     add_memory.memory_id);
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

COMMENT ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb, uuid) IS
    'Adds a memory through deduplication; returns its id and ADD, UPDATE, MERGE or NOOP';

-- memory.insert_memory(): the one INSERT behind add_memory; NULL when deduplication cancelled it.
CREATE OR REPLACE FUNCTION memory.insert_memory(
    user_id text, memory text, embedding vector, metadata jsonb, categories text[], agent_id text,
    run_id text, memory_type text, expires_at timestamptz, id uuid)
RETURNS uuid
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    INSERT INTO memory.memories AS m (id, user_id, memory, embedding, metadata, categories, agent_id, run_id,
                                      memory_type, expires_at)
    VALUES (coalesce(insert_memory.id, gen_random_uuid()), insert_memory.user_id, insert_memory.memory,
            insert_memory.embedding,
            coalesce(insert_memory.metadata, '{}'), coalesce(insert_memory.categories, '{}'),
            insert_memory.agent_id, insert_memory.run_id, insert_memory.memory_type, insert_memory.expires_at)
    RETURNING m.id
$$;

COMMENT ON FUNCTION memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, uuid) IS
    'INSERT of one memory through the triggers; its id, or NULL when deduplication cancelled it';
REVOKE ALL ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb, uuid),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, jsonb, uuid),
    memory.insert_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz, uuid)
    TO authenticated, service_role;

-- sql/memory/pending_memories.sql
-- Pending memories (0016): imported text that came without an embedding (a Session-Buddy row whose
-- embedding is NULL, or any import run with --no-embeddings). memory.memories keeps its rule that
-- every memory has a usable embedding; these rows wait in memory.pending_memories, under the same
-- row-level security, until a model of the installed dimension embeds them:
-- memory.embed_pending_memory(id, embedding) adds the memory through memory.add_memory()
-- (deduplication, history, entity links as always) and removes the pending row, in one
-- statement; it returns what add_memory returned. The text was checked by the import already;
-- add_memory checks it again with the embedding.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.embed_pending_memory(id uuid, embedding vector)
RETURNS TABLE (memory_id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_pending memory.pending_memories;
BEGIN
    IF embed_pending_memory.id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = '22004';
    END IF;
    DELETE FROM memory.pending_memories AS p WHERE p.id = embed_pending_memory.id RETURNING * INTO v_pending;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pending memory % not found', embed_pending_memory.id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY
    SELECT a.id, a.event
    FROM memory.add_memory(v_pending.user_id, v_pending.memory, embed_pending_memory.embedding, v_pending.metadata,
                           v_pending.categories, v_pending.agent_id, v_pending.run_id, v_pending.memory_type,
                           v_pending.expires_at, v_pending.entities) AS a;
END
$$;

COMMENT ON FUNCTION memory.embed_pending_memory(uuid, vector) IS
    'Adds a pending (imported, not yet embedded) memory with its embedding through add_memory; returns id and event';
REVOKE ALL ON FUNCTION memory.embed_pending_memory(uuid, vector) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.embed_pending_memory(uuid, vector) TO authenticated, service_role;

-- sql/memory/export_lines.sql
-- memory.export_lines(user_id): a user's memories (or everyone's, with NULL) as JSON lines that
-- `mempg import --from jsonl` reads back as they were (0016). In a stable order: entities, then
-- memories (live and deleted, each with its history and entity links), relations, interactions.
--   {"type": "entity", "id", "user_id", "entity_type", "name", "aliases", "attributes", "contact",
--    "importance", "person_type", "embedding"}                      live entities only, and only
--                                   the links, facts and interactions of live entities
--   {"type": "memory", "id", "user_id", "agent_id", "run_id", "memory", "embedding", "metadata",
--    "categories", "memory_type", "source", "relevance_score", "expires_at", "created_at",
--    "updated_at", "version", "is_deleted", "deleted_at", "access_count", "last_accessed_at",
--    "history": [{"event", "old_memory", "new_memory", "old_version", "new_version", "db_role",
--    "app_user_id", "created_at"}], "entities": [{"id", "role"}]}
--                                   and pending memories the same way: "embedding": null, "pending": true
--   {"type": "relation", "id", "user_id", "subject", "relation", "object" | "value", "fact",
--    "valid_from", "valid_to", "source_memory"}                     records not expired
--   {"type": "interaction", "id", "user_id", "entity", "summary", "occurred_at", "channel",
--    "metadata", "memories"}
-- Embeddings are JSON arrays of numbers. From psql:
--   \copy (SELECT line FROM memory.export_lines('alice') AS line) TO 'alice.jsonl'
-- Read as the caller: under row-level security an authenticated user exports their own rows,
-- service_role everyone's.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.export_lines(user_id text DEFAULT NULL)
RETURNS SETOF jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT line FROM (
        SELECT 1 AS part, e.created_at AS at, e.id, jsonb_build_object(
                   'type', 'entity', 'id', e.id, 'user_id', e.user_id, 'entity_type', e.entity_type,
                   'name', e.name, 'aliases', to_jsonb(e.aliases), 'attributes', e.attributes,
                   'contact', e.contact, 'importance', e.importance, 'person_type', e.person_type,
                   'embedding', to_jsonb(e.embedding::real[])) AS line
        FROM memory.entities AS e
        WHERE (export_lines.user_id IS NULL OR e.user_id = export_lines.user_id)
          AND NOT e.is_deleted AND e.merged_into IS NULL
        UNION ALL
        SELECT 2, m.created_at, m.id, jsonb_build_object(
                   'type', 'memory', 'id', m.id, 'user_id', m.user_id, 'agent_id', m.agent_id,
                   'run_id', m.run_id, 'memory', m.memory, 'embedding', to_jsonb(m.embedding::real[]),
                   'metadata', m.metadata, 'categories', to_jsonb(m.categories), 'memory_type', m.memory_type,
                   'source', m.source, 'relevance_score', m.relevance_score, 'expires_at', m.expires_at,
                   'created_at', m.created_at, 'updated_at', m.updated_at, 'version', m.version,
                   'is_deleted', m.is_deleted, 'deleted_at', m.deleted_at, 'access_count', m.access_count,
                   'last_accessed_at', m.last_accessed_at,
                   'history', coalesce((
                       SELECT jsonb_agg(jsonb_build_object(
                                  'event', h.event, 'old_memory', h.old_memory, 'new_memory', h.new_memory,
                                  'old_version', h.old_version, 'new_version', h.new_version,
                                  'db_role', h.db_role, 'app_user_id', h.app_user_id, 'created_at', h.created_at)
                              ORDER BY h.created_at, h.id)
                       FROM memory.memory_history AS h WHERE h.memory_id = m.id), '[]'),
                   'entities', coalesce((
                       SELECT jsonb_agg(jsonb_build_object('id', l.entity_id, 'role', l.role)
                                        ORDER BY l.entity_id, l.role)
                       FROM memory.memory_entities AS l
                       JOIN memory.entities AS le ON le.id = l.entity_id AND NOT le.is_deleted AND le.merged_into IS NULL
                       WHERE l.memory_id = m.id), '[]'))
        FROM memory.memories AS m
        WHERE export_lines.user_id IS NULL OR m.user_id = export_lines.user_id
        UNION ALL
        SELECT 2, p.created_at, p.id, jsonb_build_object(
                   'type', 'memory', 'id', p.id, 'user_id', p.user_id, 'agent_id', p.agent_id,
                   'run_id', p.run_id, 'memory', p.memory, 'embedding', NULL, 'metadata', p.metadata,
                   'categories', to_jsonb(p.categories), 'memory_type', p.memory_type, 'source', p.source,
                   'expires_at', p.expires_at, 'created_at', p.created_at, 'version', 1, 'history', '[]'::jsonb,
                   'entities', coalesce(p.entities, '[]'), 'pending', true)
        FROM memory.pending_memories AS p
        WHERE export_lines.user_id IS NULL OR p.user_id = export_lines.user_id
        UNION ALL
        SELECT 3, r.recorded_at, r.id, jsonb_strip_nulls(jsonb_build_object(
                   'type', 'relation', 'id', r.id, 'user_id', r.user_id, 'subject', r.subject_id,
                   'relation', r.relation, 'object', r.object_id, 'value', r.value, 'fact', r.fact,
                   'valid_from', r.valid_from, 'valid_to', r.valid_to, 'source_memory', r.source_memory_id))
        FROM memory.entity_relations AS r
        WHERE (export_lines.user_id IS NULL OR r.user_id = export_lines.user_id) AND r.expired_at IS NULL
          AND EXISTS (SELECT FROM memory.entities AS e WHERE e.id = r.subject_id AND NOT e.is_deleted AND e.merged_into IS NULL)
          AND (r.object_id IS NULL
               OR EXISTS (SELECT FROM memory.entities AS e WHERE e.id = r.object_id AND NOT e.is_deleted AND e.merged_into IS NULL))
        UNION ALL
        SELECT 4, i.occurred_at, i.id, jsonb_build_object(
                   'type', 'interaction', 'id', i.id, 'user_id', i.user_id, 'entity', i.entity_id,
                   'summary', i.summary, 'occurred_at', i.occurred_at, 'channel', i.channel,
                   'metadata', i.metadata,
                   'memories', coalesce((SELECT jsonb_agg(im.memory_id ORDER BY im.memory_id)
                                         FROM memory.interaction_memories AS im
                                         WHERE im.interaction_id = i.id), '[]'))
        FROM memory.interactions AS i
        WHERE (export_lines.user_id IS NULL OR i.user_id = export_lines.user_id)
          AND EXISTS (SELECT FROM memory.entities AS e WHERE e.id = i.entity_id AND NOT e.is_deleted AND e.merged_into IS NULL)
    ) AS lines
    ORDER BY part, at, id
$$;

COMMENT ON FUNCTION memory.export_lines(text) IS
    'A user''s (or everyone''s) entities, memories with history, relations and interactions as JSON lines for mempg import';
REVOKE ALL ON FUNCTION memory.export_lines(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.export_lines(text) TO authenticated, service_role;

-- sql/memory/policies.sql
-- Row-level security of the memory tables: each user sees and changes only their own rows, through
-- every path (table, function, trigger). The identity is (select app.current_user_id()), which
-- runs once per query; NULL (no identity) matches no row. service_role bypasses RLS; anon has no
-- access. History is written by the history trigger as the acting user and is never changed.
ALTER TABLE memory.memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_history FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.session_memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.session_memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.settings FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users see their own memories" ON memory.memories;
CREATE POLICY "Users see their own memories" ON memory.memories
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users add their own memories" ON memory.memories;
CREATE POLICY "Users add their own memories" ON memory.memories
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users change their own memories" ON memory.memories;
CREATE POLICY "Users change their own memories" ON memory.memories
    FOR UPDATE TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users erase their own memories" ON memory.memories;
CREATE POLICY "Users erase their own memories" ON memory.memories
    FOR DELETE TO authenticated USING (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users see the history of their own memories" ON memory.memory_history;
CREATE POLICY "Users see the history of their own memories" ON memory.memory_history
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Changes to a user's memories are recorded as theirs" ON memory.memory_history;
CREATE POLICY "Changes to a user's memories are recorded as theirs" ON memory.memory_history
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Users keep their own session memories" ON memory.session_memories;
CREATE POLICY "Users keep their own session memories" ON memory.session_memories
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

DROP POLICY IF EXISTS "Everyone with access may read the memory settings" ON memory.settings;
CREATE POLICY "Everyone with access may read the memory settings" ON memory.settings
    FOR SELECT TO authenticated, service_role USING (true);

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

-- Entities (0012): the kinds and the resolution settings are readable by everyone with access
-- and changed by service_role; entities, their history, links, facts and interactions belong
-- to one user each, as memories do.
ALTER TABLE memory.entity_types ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_types FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.relation_kinds ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.relation_kinds FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_resolution_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_resolution_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entities FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_history FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.memory_entities FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_relations ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.entity_relations FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.interactions FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.interaction_memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.interaction_memories FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Everyone with access may read the entity types" ON memory.entity_types;
CREATE POLICY "Everyone with access may read the entity types" ON memory.entity_types
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the relation kinds" ON memory.relation_kinds;
CREATE POLICY "Everyone with access may read the relation kinds" ON memory.relation_kinds
    FOR SELECT TO authenticated, service_role USING (true);
DROP POLICY IF EXISTS "Everyone with access may read the entity resolution settings" ON memory.entity_resolution_settings;
CREATE POLICY "Everyone with access may read the entity resolution settings" ON memory.entity_resolution_settings
    FOR SELECT TO authenticated, service_role USING (true);

DROP POLICY IF EXISTS "Users keep their own entities" ON memory.entities;
CREATE POLICY "Users keep their own entities" ON memory.entities
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users see the history of their own entities" ON memory.entity_history;
CREATE POLICY "Users see the history of their own entities" ON memory.entity_history
    FOR SELECT TO authenticated USING (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Changes to a user's entities are recorded as theirs" ON memory.entity_history;
CREATE POLICY "Changes to a user's entities are recorded as theirs" ON memory.entity_history
    FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the entity links of their own memories" ON memory.memory_entities;
CREATE POLICY "Users keep the entity links of their own memories" ON memory.memory_entities
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the facts about their own entities" ON memory.entity_relations;
CREATE POLICY "Users keep the facts about their own entities" ON memory.entity_relations
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep their own interactions" ON memory.interactions;
CREATE POLICY "Users keep their own interactions" ON memory.interactions
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
DROP POLICY IF EXISTS "Users keep the memories of their own interactions" ON memory.interaction_memories;
CREATE POLICY "Users keep the memories of their own interactions" ON memory.interaction_memories
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

-- Imports (0016): runs and their source map are the runner's bookkeeping, for service_role only
-- (no policy for authenticated: no rows); a user keeps their own pending (not yet embedded)
-- memories, and may read and remove them.
ALTER TABLE memory.import_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.import_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.import_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.import_sources FORCE ROW LEVEL SECURITY;
ALTER TABLE memory.pending_memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.pending_memories FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "Imports are kept by service_role" ON memory.import_runs;
CREATE POLICY "Imports are kept by service_role" ON memory.import_runs
    FOR ALL TO service_role USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS "Imported records are kept by service_role" ON memory.import_sources;
CREATE POLICY "Imported records are kept by service_role" ON memory.import_sources
    FOR ALL TO service_role USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS "Users keep their own pending memories" ON memory.pending_memories;
CREATE POLICY "Users keep their own pending memories" ON memory.pending_memories
    FOR ALL TO authenticated USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));

-- sql/memory/grants.sql
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
-- Imports (0016): the runner's bookkeeping is service_role's; users see and remove their own
-- pending memories and embed them with memory.embed_pending_memory().
REVOKE ALL ON memory.import_runs, memory.import_sources, memory.pending_memories FROM PUBLIC, anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.import_runs, memory.import_sources, memory.pending_memories
    TO service_role;
GRANT SELECT, DELETE ON memory.pending_memories TO authenticated;
GRANT USAGE ON SEQUENCE memory.import_runs_id_seq TO service_role;
