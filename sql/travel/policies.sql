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
