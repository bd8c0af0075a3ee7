-- travel.my_trip_ids(min_role): the trips the current user may act on with at least that role
-- (viewer < editor < owner): owned trips, plus collaborations. Policies use it as
-- `trip_id = ANY (ARRAY(SELECT travel.my_trip_ids('editor')))`, evaluated once per query.
-- SECURITY DEFINER because it is unavoidable here: the policies of trips and trip_collaborators
-- refer to each other, and reading them under their own policies would recurse. It reads only
-- the current user's own rows, takes no other input, and pins search_path.
CREATE OR REPLACE FUNCTION travel.my_trip_ids(min_role text DEFAULT 'viewer')
RETURNS SETOF uuid
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id FROM travel.trips AS t WHERE t.owner_id = app.current_user_uuid()
    UNION
    SELECT c.trip_id FROM travel.trip_collaborators AS c
    WHERE c.user_id = app.current_user_uuid()
      AND (my_trip_ids.min_role = 'viewer' OR (my_trip_ids.min_role = 'editor' AND c.role = 'editor'))
$$;

COMMENT ON FUNCTION travel.my_trip_ids(text) IS
    'Trips the current user owns or collaborates on with at least min_role (viewer, editor, owner)';
REVOKE ALL ON FUNCTION travel.my_trip_ids(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION travel.my_trip_ids(text) TO authenticated, service_role;
