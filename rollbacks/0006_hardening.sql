-- 0006_hardening rollback: search_path unpinned, trip policies as 0003 wrote them, the
-- extensions 0006 moved back to public, pg_stat_statements readable again as its extension
-- grants it, the database search_path without extensions.
SET LOCAL search_path = pg_catalog, extensions, public;

DROP POLICY IF EXISTS "Trip owners change who is on their trips" ON travel.trip_collaborators;
DROP POLICY IF EXISTS "Trip owners remove people from their trips" ON travel.trip_collaborators;
DROP POLICY IF EXISTS "Trip owners and editors add flights" ON travel.flights;
DROP POLICY IF EXISTS "Trip owners and editors change flights" ON travel.flights;
DROP POLICY IF EXISTS "Trip owners and editors remove flights" ON travel.flights;
DROP POLICY IF EXISTS "Trip owners and editors add accommodations" ON travel.accommodations;
DROP POLICY IF EXISTS "Trip owners and editors change accommodations" ON travel.accommodations;
DROP POLICY IF EXISTS "Trip owners and editors remove accommodations" ON travel.accommodations;
DROP POLICY IF EXISTS "Trip owners and editors add activities" ON travel.activities;
DROP POLICY IF EXISTS "Trip owners and editors change activities" ON travel.activities;
DROP POLICY IF EXISTS "Trip owners and editors remove activities" ON travel.activities;

ALTER FUNCTION app.audit_change() RESET search_path;
ALTER FUNCTION app.chat_message_defaults() RESET search_path;
ALTER FUNCTION app.chat_session_counters() RESET search_path;
ALTER FUNCTION app.current_user_id() RESET search_path;
ALTER FUNCTION app.current_user_uuid() RESET search_path;
ALTER FUNCTION app.default_preferences() RESET search_path;
ALTER FUNCTION app.jsonb_deep_merge(jsonb, jsonb) RESET search_path;
ALTER FUNCTION app.list_chat_messages(uuid, bigint, integer) RESET search_path;
ALTER FUNCTION app.notify_change() RESET search_path;
ALTER FUNCTION app.record_api_usage(uuid, text, integer, bigint, numeric, date) RESET search_path;
ALTER FUNCTION app.touch_updated_at() RESET search_path;
ALTER FUNCTION app.user_channel(uuid) RESET search_path;
ALTER FUNCTION app.user_preferences(uuid) RESET search_path;
ALTER FUNCTION memory.add_memory(text, text, extensions.vector, jsonb, text[], text, text, text, timestamp with time zone) RESET search_path;
ALTER FUNCTION memory.bump_access(uuid, double precision) RESET search_path;
ALTER FUNCTION memory.check_categories(text[], text, integer, integer) RESET search_path;
ALTER FUNCTION memory.check_count(integer, text, integer) RESET search_path;
ALTER FUNCTION memory.check_embedding(extensions.vector, text) RESET search_path;
ALTER FUNCTION memory.check_filters(jsonb, text[]) RESET search_path;
ALTER FUNCTION memory.check_label(text, text, integer, boolean) RESET search_path;
ALTER FUNCTION memory.check_metadata(jsonb, text, integer, integer) RESET search_path;
ALTER FUNCTION memory.cleanup_expired_sessions() RESET search_path;
ALTER FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer) RESET search_path;
ALTER FUNCTION memory.decay_memories(interval) RESET search_path;
ALTER FUNCTION memory.deduplicate_memories() RESET search_path;
ALTER FUNCTION memory.default_session_expiry() RESET search_path;
ALTER FUNCTION memory.delete_memory(uuid) RESET search_path;
ALTER FUNCTION memory.embedding_dim() RESET search_path;
ALTER FUNCTION memory.embedding_is_usable(extensions.vector) RESET search_path;
ALTER FUNCTION memory.get_memory(uuid) RESET search_path;
ALTER FUNCTION memory.has_ann_index() RESET search_path;
ALTER FUNCTION memory.hybrid_search_memories(text, extensions.vector, text, integer, jsonb, text[], double precision, double precision, integer) RESET search_path;
ALTER FUNCTION memory.insert_memory(text, text, extensions.vector, jsonb, text[], text, text, text, timestamp with time zone) RESET search_path;
ALTER FUNCTION memory.list_memories(text, text, text, timestamp with time zone, uuid, integer) RESET search_path;
ALTER FUNCTION memory.maintain_memory_performance() RESET search_path;
ALTER FUNCTION memory.memory_history(uuid) RESET search_path;
ALTER FUNCTION memory.nearest_memory(extensions.vector, text, text) RESET search_path;
ALTER FUNCTION memory.normalize_categories(text[]) RESET search_path;
ALTER FUNCTION memory.normalize_memory() RESET search_path;
ALTER FUNCTION memory.record_duplicate_access(uuid, double precision) RESET search_path;
ALTER FUNCTION memory.record_memory_history() RESET search_path;
ALTER FUNCTION memory.restore_memory(uuid) RESET search_path;
ALTER FUNCTION memory.scope_lock_key(text, text) RESET search_path;
ALTER FUNCTION memory.scope_size(text, jsonb, text[], integer) RESET search_path;
ALTER FUNCTION memory.search_memories(extensions.vector, text, integer, jsonb, text[], double precision) RESET search_path;
ALTER FUNCTION memory.search_memories_ann(extensions.vector, text, integer, jsonb, text[], double precision, text, boolean) RESET search_path;
ALTER FUNCTION memory.search_memories_exact(extensions.vector, text, integer, jsonb, text[], double precision, text, boolean) RESET search_path;
ALTER FUNCTION memory.touch_memories(uuid[]) RESET search_path;
ALTER FUNCTION memory.update_memory(uuid, text, extensions.vector, jsonb, text[]) RESET search_path;
ALTER FUNCTION mempg.embedding_dim() RESET search_path;
ALTER FUNCTION mempg.guard_settings() RESET search_path;
ALTER FUNCTION ops.capacity_estimate() RESET search_path;
ALTER FUNCTION ops.health_report(integer) RESET search_path;
ALTER FUNCTION ops.recommended_vector_parameters(text, bigint) RESET search_path;
ALTER FUNCTION ops.vector_index_health(integer) RESET search_path;
ALTER FUNCTION travel.check_trip_status() RESET search_path;

-- sql/travel/policies.sql as 0003 left it
-- Row-level security of schema travel, enabled and forced on every table. Trip owners see and
-- change their trips; collaborators reach a trip and its bookings through their role (viewers
-- read, editors change bookings); owners share trips by adding collaborators; airports are
-- reference data that everyone, anon included, may read. travel.my_trip_ids() runs once per
-- query; trips.owner_id, trip_collaborators.user_id and every booking's trip_id are indexed.
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
    USING (owner_id = (SELECT app.current_user_uuid()) OR id IN (SELECT travel.my_trip_ids('viewer')));
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
    FOR SELECT TO authenticated USING (trip_id IN (SELECT travel.my_trip_ids('viewer')));
DROP POLICY IF EXISTS "Trip owners share their trips" ON travel.trip_collaborators;
CREATE POLICY "Trip owners share their trips" ON travel.trip_collaborators
    FOR ALL TO authenticated USING (trip_id IN (SELECT travel.my_trip_ids('owner')))
    WITH CHECK (trip_id IN (SELECT travel.my_trip_ids('owner')));

DO $$
DECLARE
    v_table record;
BEGIN
    FOR v_table IN SELECT * FROM (VALUES ('travel.flights', 'flights'), ('travel.accommodations', 'accommodations'),
                                         ('travel.activities', 'activities')) AS t(name, noun)
    LOOP
        EXECUTE format('DROP POLICY IF EXISTS %I ON %s', 'Everyone on a trip sees its ' || v_table.noun, v_table.name);
        EXECUTE format('CREATE POLICY %I ON %s FOR SELECT TO authenticated'
                       ' USING (trip_id IN (SELECT travel.my_trip_ids(''viewer'')))',
                       'Everyone on a trip sees its ' || v_table.noun, v_table.name);
        EXECUTE format('DROP POLICY IF EXISTS %I ON %s', 'Trip owners and editors book ' || v_table.noun, v_table.name);
        EXECUTE format('CREATE POLICY %I ON %s FOR ALL TO authenticated'
                       ' USING (trip_id IN (SELECT travel.my_trip_ids(''editor'')))'
                       ' WITH CHECK (trip_id IN (SELECT travel.my_trip_ids(''editor'')))',
                       'Trip owners and editors book ' || v_table.noun, v_table.name);
    END LOOP;
END
$$;

DROP POLICY IF EXISTS "Everyone may read airports" ON travel.airports;
CREATE POLICY "Everyone may read airports" ON travel.airports
    FOR SELECT TO anon, authenticated USING (true);

DO $$
BEGIN
    IF to_regclass('extensions.pg_stat_statements') IS NOT NULL THEN
        GRANT SELECT ON extensions.pg_stat_statements, extensions.pg_stat_statements_info TO PUBLIC;
        GRANT EXECUTE ON FUNCTION extensions.pg_stat_statements(boolean), extensions.pg_stat_statements_info() TO PUBLIC;
    END IF;
END
$$;

DO $$
DECLARE
    v_move record;
BEGIN
    FOR v_move IN SELECT * FROM mempg.extension_moves WHERE kind = 'extension' LOOP
        EXECUTE format('ALTER EXTENSION %I SET SCHEMA %I', v_move.name, v_move.detail);
    END LOOP;
    IF EXISTS (SELECT 1 FROM mempg.extension_moves WHERE kind = 'schema' AND name = 'extensions') THEN
        DROP SCHEMA extensions;  -- fails, rightly, if anything else was put there since
    END IF;
    EXECUTE format('ALTER DATABASE %I SET search_path = "$user", public, memory, app, travel, ops', current_database());
END
$$;
DROP TABLE mempg.extension_moves;
