-- app.touch_updated_at(): stamps updated_at on every UPDATE of the tables that have one.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION app.touch_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION app.touch_updated_at() IS 'Trigger: updated_at = now() on UPDATE';
REVOKE ALL ON FUNCTION app.touch_updated_at() FROM PUBLIC;

DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['app.users', 'app.chat_sessions', 'travel.trips', 'travel.flights',
                                   'travel.accommodations', 'travel.activities'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS touch_updated_at ON %s', v_table);
        EXECUTE format('CREATE TRIGGER touch_updated_at BEFORE UPDATE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at()', v_table);
    END LOOP;
END
$$;
