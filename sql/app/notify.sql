-- Live updates, as Supabase Realtime gives them, in plain PostgreSQL: after a change to a trip, a
-- booking or a chat message, NOTIFY on the channel of each user who may read it (mempg_user_<uuid>)
-- with {table, operation, id}. NOTIFY is transactional: delivered after commit, never on rollback.
-- PostgreSQL lets anyone LISTEN on any channel, so the payload carries ids only; clients read the
-- row itself through row-level security.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION app.user_channel(user_id uuid)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT 'mempg_user_' || user_channel.user_id::text
$$;

COMMENT ON FUNCTION app.user_channel(uuid) IS 'The LISTEN channel of a user''s live updates';

CREATE OR REPLACE FUNCTION app.notify_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_row jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    v_payload text;
    v_trip_id uuid;
    v_recipient uuid;
BEGIN
    v_payload := json_build_object('table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
                                   'operation', TG_OP, 'id', v_row -> 'id')::text;
    IF TG_TABLE_SCHEMA = 'app' THEN
        PERFORM pg_notify(app.user_channel((v_row ->> 'user_id')::uuid), v_payload);
        RETURN NULL;
    END IF;
    v_trip_id := (CASE WHEN TG_TABLE_NAME = 'trips' THEN v_row ->> 'id' ELSE v_row ->> 'trip_id' END)::uuid;
    FOR v_recipient IN
        SELECT t.owner_id FROM travel.trips AS t WHERE t.id = v_trip_id
        UNION
        SELECT c.user_id FROM travel.trip_collaborators AS c WHERE c.trip_id = v_trip_id
    LOOP
        PERFORM pg_notify(app.user_channel(v_recipient), v_payload);
    END LOOP;
    IF TG_TABLE_NAME = 'trips' AND TG_OP = 'DELETE' THEN
        PERFORM pg_notify(app.user_channel(OLD.owner_id), v_payload);  -- the trip row is gone
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION app.notify_change() IS
    'Trigger: NOTIFY each user who may read the changed trip, booking or chat message';
REVOKE ALL ON FUNCTION app.user_channel(uuid), app.notify_change() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.user_channel(uuid) TO authenticated, service_role;

DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['travel.trips', 'travel.flights', 'travel.accommodations',
                                   'travel.activities', 'app.chat_messages'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS notify_change ON %s', v_table);
        EXECUTE format('CREATE TRIGGER notify_change AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION app.notify_change()', v_table);
    END LOOP;
END
$$;
