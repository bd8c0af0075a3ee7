-- Privileges of schema travel: authenticated through row-level security (no TRUNCATE, no
-- REFERENCES), airports read-only for everyone but service_role.
REVOKE ALL ON ALL TABLES IN SCHEMA travel FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON travel.trips, travel.trip_collaborators, travel.flights,
    travel.accommodations, travel.activities TO authenticated, service_role;
GRANT SELECT ON travel.airports TO anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON travel.airports TO service_role;
