-- Row-level security of schema travel, enabled and forced on every table. Trip owners see and
-- change their trips; collaborators reach a trip and its bookings through their role (viewers
-- read, editors change bookings); owners share trips by adding collaborators; airports are
-- reference data that everyone, anon included, may read. travel.my_trip_ids() runs once per
-- query; trips.owner_id, trip_collaborators.user_id and every booking's trip_id are indexed.
-- One permissive policy per table, role and command (splinter 0006: overlapping permissive
-- policies are all evaluated, OR-ed). Membership is written `trip_id = ANY (ARRAY(SELECT ...))`:
-- the array is computed once (an InitPlan) and the planner can use the trip_id index, where
-- `trip_id IN (SELECT ...)` became a hashed subplan filtering every user's rows
-- (docs/application.md has the figures).
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
