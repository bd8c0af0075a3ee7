-- 0006_hardening: findings of a security review (Supabase's splinter lints, pgTAP, squawk).
-- * Extensions move out of schema public into schema extensions (Supabase's convention): vector,
--   pg_trgm and pg_stat_statements wherever 0001 put them in public; an installation elsewhere
--   than public or extensions is refused with a hint. Which ones moved is kept in
--   mempg.extension_moves, so that the rollback moves back exactly those.
-- * pg_stat_statements was readable by every role (the extension grants SELECT to PUBLIC): anon
--   saw query statistics, authenticated the query texts of every application user. Revoked;
--   ops.slow_queries() (SECURITY DEFINER) stays for service_role.
-- * Every function pins search_path = pg_catalog, extensions, pg_temp (splinter 0011), except
--   three that the planner inlines and whose bodies use built-ins and qualified names only.
--   Without it, a session whose search_path lacks the extensions' schema (a pooler's default,
--   options=-csearch_path=app) failed with "operator does not exist: vector <=> vector".
-- * The database search_path gains extensions, so psql and clients still find `vector`.
-- * Trip children: one permissive policy per role and command (splinter 0006), membership as
--   `trip_id = ANY (ARRAY(SELECT ...))` so the trip_id index serves it.
-- Clients connected before this migration keep their session's search_path: reconnect them.
-- The migration's own statements name extension types through this transaction's search_path:
SET LOCAL search_path = pg_catalog, extensions, public;

CREATE TABLE mempg.extension_moves (
    kind   text NOT NULL CHECK (kind IN ('schema', 'extension')),
    name   text NOT NULL,
    detail text,
    PRIMARY KEY (kind, name)
);
COMMENT ON TABLE mempg.extension_moves IS
    'What 0006_hardening created (schema extensions) or moved there (extension, from schema detail), for its rollback';
REVOKE ALL ON mempg.extension_moves FROM PUBLIC;

DO $$
DECLARE
    v_extension record;
BEGIN
    IF to_regnamespace('extensions') IS NULL THEN
        CREATE SCHEMA extensions;
        INSERT INTO mempg.extension_moves (kind, name) VALUES ('schema', 'extensions');
    END IF;
    FOR v_extension IN
        SELECT e.extname, e.extnamespace::regnamespace::text AS schema_name
        FROM pg_catalog.pg_extension AS e
        WHERE e.extname IN ('vector', 'pg_trgm', 'pg_stat_statements', 'btree_gist')
    LOOP
        CONTINUE WHEN v_extension.schema_name = 'extensions';
        IF v_extension.schema_name <> 'public' THEN
            RAISE EXCEPTION 'extension % is installed in schema %; mempg expects it in schema extensions',
                v_extension.extname, v_extension.schema_name
                USING ERRCODE = '0A000',
                      HINT = format('ALTER EXTENSION %I SET SCHEMA extensions, then apply again', v_extension.extname);
        END IF;
        EXECUTE format('ALTER EXTENSION %I SET SCHEMA extensions', v_extension.extname);
        INSERT INTO mempg.extension_moves (kind, name, detail) VALUES ('extension', v_extension.extname, 'public');
    END LOOP;
END
$$;
COMMENT ON SCHEMA extensions IS 'PostgreSQL extensions (vector, pg_trgm, pg_stat_statements): out of public, as Supabase does';
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;

-- pg_stat_statements, where installed: its view and functions for no application role.
DO $$
BEGIN
    IF to_regclass('extensions.pg_stat_statements') IS NOT NULL THEN
        REVOKE ALL ON extensions.pg_stat_statements, extensions.pg_stat_statements_info FROM PUBLIC;
        REVOKE ALL ON FUNCTION extensions.pg_stat_statements(boolean), extensions.pg_stat_statements_info() FROM PUBLIC;
    END IF;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_db_role_setting AS s, unnest(s.setconfig) AS cfg
        WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
          AND s.setrole = 0 AND cfg LIKE 'search\_path=%' AND cfg ~ '\mextensions\M'
    ) THEN
        EXECUTE format('ALTER DATABASE %I SET search_path = "$user", public, memory, app, travel, ops, extensions',
                       current_database());
    END IF;
END
$$;

-- Every function of the project pins its search_path (sql/ carries the same SET clauses).
ALTER FUNCTION app.audit_change() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.chat_message_defaults() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.chat_session_counters() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.current_user_id() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.current_user_uuid() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.default_preferences() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.jsonb_deep_merge(jsonb, jsonb) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.list_chat_messages(uuid, bigint, integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.notify_change() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.record_api_usage(uuid, text, integer, bigint, numeric, date) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.touch_updated_at() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.user_channel(uuid) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION app.user_preferences(uuid) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.add_memory(text, text, extensions.vector, jsonb, text[], text, text, text, timestamp with time zone) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.bump_access(uuid, double precision) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.check_categories(text[], text, integer, integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.check_count(integer, text, integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.check_embedding(extensions.vector, text) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.check_filters(jsonb, text[]) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.check_label(text, text, integer, boolean) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.check_metadata(jsonb, text, integer, integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.cleanup_expired_sessions() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.decay_memories(interval) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.deduplicate_memories() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.default_session_expiry() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.delete_memory(uuid) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.embedding_dim() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.embedding_is_usable(extensions.vector) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.get_memory(uuid) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.has_ann_index() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.hybrid_search_memories(text, extensions.vector, text, integer, jsonb, text[], double precision, double precision, integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.insert_memory(text, text, extensions.vector, jsonb, text[], text, text, text, timestamp with time zone) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.list_memories(text, text, text, timestamp with time zone, uuid, integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.maintain_memory_performance() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.memory_history(uuid) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.nearest_memory(extensions.vector, text, text) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.normalize_categories(text[]) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.normalize_memory() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.record_duplicate_access(uuid, double precision) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.record_memory_history() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.restore_memory(uuid) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.scope_lock_key(text, text) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.scope_size(text, jsonb, text[], integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.search_memories(extensions.vector, text, integer, jsonb, text[], double precision) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.search_memories_ann(extensions.vector, text, integer, jsonb, text[], double precision, text, boolean) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.search_memories_exact(extensions.vector, text, integer, jsonb, text[], double precision, text, boolean) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.touch_memories(uuid[]) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION memory.update_memory(uuid, text, extensions.vector, jsonb, text[]) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION mempg.embedding_dim() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION mempg.guard_settings() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION ops.capacity_estimate() SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION ops.health_report(integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION ops.recommended_vector_parameters(text, bigint) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION ops.vector_index_health(integer) SET search_path = pg_catalog, extensions, pg_temp;
ALTER FUNCTION travel.check_trip_status() SET search_path = pg_catalog, extensions, pg_temp;

-- sql/travel/policies.sql
-- Row-level security of schema travel, enabled and forced on every table. Trip owners see and
-- change their trips; collaborators reach a trip and its bookings through their role (viewers
-- read, editors change bookings); owners share trips by adding collaborators; airports are
-- reference data that everyone, anon included, may read. travel.my_trip_ids() runs once per
-- query; trips.owner_id, trip_collaborators.user_id and every booking's trip_id are indexed.
-- One permissive policy per table, role and command (splinter 0006: overlapping permissive
-- policies are all evaluated, OR-ed). Membership is written `trip_id = ANY (ARRAY(SELECT ...))`:
-- the array is computed once (an InitPlan) and the planner can use the trip_id index, where
-- `trip_id IN (SELECT ...)` became a hashed subplan filtering every user's rows (40,000 flights:
-- 39,980 read and removed, 4-5 ms, against 1.6 ms through the index).
DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['travel.trips', 'travel.trip_collaborators', 'travel.flights',
                                   'travel.accommodations', 'travel.activities', 'travel.airports'] LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', v_table);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', v_table);
    END LOOP;
END
$$;

DROP POLICY IF EXISTS "Owners and collaborators see trips" ON travel.trips;
CREATE POLICY "Owners and collaborators see trips" ON travel.trips
    FOR SELECT TO authenticated
    USING (owner_id = (SELECT app.current_user_uuid()) OR id = ANY (ARRAY(SELECT travel.my_trip_ids('viewer'))));
DROP POLICY IF EXISTS "Users create trips they own" ON travel.trips;
CREATE POLICY "Users create trips they own" ON travel.trips
    FOR INSERT TO authenticated WITH CHECK (owner_id = (SELECT app.current_user_uuid()));
DROP POLICY IF EXISTS "Trip owners can update their trips" ON travel.trips;
CREATE POLICY "Trip owners can update their trips" ON travel.trips
    FOR UPDATE TO authenticated USING (owner_id = (SELECT app.current_user_uuid()))
    WITH CHECK (owner_id = (SELECT app.current_user_uuid()));
DROP POLICY IF EXISTS "Trip owners can delete their trips" ON travel.trips;
CREATE POLICY "Trip owners can delete their trips" ON travel.trips
    FOR DELETE TO authenticated USING (owner_id = (SELECT app.current_user_uuid()));

DROP POLICY IF EXISTS "Everyone on a trip sees who else is on it" ON travel.trip_collaborators;
CREATE POLICY "Everyone on a trip sees who else is on it" ON travel.trip_collaborators
    FOR SELECT TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('viewer'))));
DROP POLICY IF EXISTS "Trip owners share their trips" ON travel.trip_collaborators;
CREATE POLICY "Trip owners share their trips" ON travel.trip_collaborators
    FOR INSERT TO authenticated WITH CHECK (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('owner'))));
DROP POLICY IF EXISTS "Trip owners change who is on their trips" ON travel.trip_collaborators;
CREATE POLICY "Trip owners change who is on their trips" ON travel.trip_collaborators
    FOR UPDATE TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('owner'))))
    WITH CHECK (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('owner'))));
DROP POLICY IF EXISTS "Trip owners remove people from their trips" ON travel.trip_collaborators;
CREATE POLICY "Trip owners remove people from their trips" ON travel.trip_collaborators
    FOR DELETE TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('owner'))));

DROP POLICY IF EXISTS "Trip owners and editors book flights" ON travel.flights;
DROP POLICY IF EXISTS "Everyone on a trip sees its flights" ON travel.flights;
CREATE POLICY "Everyone on a trip sees its flights" ON travel.flights
    FOR SELECT TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('viewer'))));
DROP POLICY IF EXISTS "Trip owners and editors add flights" ON travel.flights;
CREATE POLICY "Trip owners and editors add flights" ON travel.flights
    FOR INSERT TO authenticated WITH CHECK (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));
DROP POLICY IF EXISTS "Trip owners and editors change flights" ON travel.flights;
CREATE POLICY "Trip owners and editors change flights" ON travel.flights
    FOR UPDATE TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))))
    WITH CHECK (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));
DROP POLICY IF EXISTS "Trip owners and editors remove flights" ON travel.flights;
CREATE POLICY "Trip owners and editors remove flights" ON travel.flights
    FOR DELETE TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));

DROP POLICY IF EXISTS "Trip owners and editors book accommodations" ON travel.accommodations;
DROP POLICY IF EXISTS "Everyone on a trip sees its accommodations" ON travel.accommodations;
CREATE POLICY "Everyone on a trip sees its accommodations" ON travel.accommodations
    FOR SELECT TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('viewer'))));
DROP POLICY IF EXISTS "Trip owners and editors add accommodations" ON travel.accommodations;
CREATE POLICY "Trip owners and editors add accommodations" ON travel.accommodations
    FOR INSERT TO authenticated WITH CHECK (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));
DROP POLICY IF EXISTS "Trip owners and editors change accommodations" ON travel.accommodations;
CREATE POLICY "Trip owners and editors change accommodations" ON travel.accommodations
    FOR UPDATE TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))))
    WITH CHECK (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));
DROP POLICY IF EXISTS "Trip owners and editors remove accommodations" ON travel.accommodations;
CREATE POLICY "Trip owners and editors remove accommodations" ON travel.accommodations
    FOR DELETE TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));

DROP POLICY IF EXISTS "Trip owners and editors book activities" ON travel.activities;
DROP POLICY IF EXISTS "Everyone on a trip sees its activities" ON travel.activities;
CREATE POLICY "Everyone on a trip sees its activities" ON travel.activities
    FOR SELECT TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('viewer'))));
DROP POLICY IF EXISTS "Trip owners and editors add activities" ON travel.activities;
CREATE POLICY "Trip owners and editors add activities" ON travel.activities
    FOR INSERT TO authenticated WITH CHECK (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));
DROP POLICY IF EXISTS "Trip owners and editors change activities" ON travel.activities;
CREATE POLICY "Trip owners and editors change activities" ON travel.activities
    FOR UPDATE TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))))
    WITH CHECK (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));
DROP POLICY IF EXISTS "Trip owners and editors remove activities" ON travel.activities;
CREATE POLICY "Trip owners and editors remove activities" ON travel.activities
    FOR DELETE TO authenticated USING (trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor'))));

DROP POLICY IF EXISTS "Everyone may read airports" ON travel.airports;
CREATE POLICY "Everyone may read airports" ON travel.airports
    FOR SELECT TO anon, authenticated USING (true);
