-- travel.check_trip_status(): the trip status machine, BEFORE INSERT OR UPDATE OF status on trips.
--   planning -> booked | canceled;  booked -> completed | canceled;  completed, canceled: final.
-- A new trip starts in planning or booked. A bad transition raises 55000 naming both states.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION travel.check_trip_status()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF NEW.status NOT IN ('planning', 'booked', 'completed', 'canceled') THEN
        RETURN NEW;  -- not a state at all: the CHECK constraint status_valid reports it (23514)
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('planning', 'booked') THEN
            RAISE EXCEPTION 'a new trip cannot start as %: it starts as planning or booked', NEW.status
                USING ERRCODE = '55000';
        END IF;
    ELSIF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'planning' AND NEW.status IN ('booked', 'canceled'))
        OR (OLD.status = 'booked' AND NEW.status IN ('completed', 'canceled'))) THEN
        RAISE EXCEPTION 'trip % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = '55000',
                  HINT = 'planning -> booked or canceled; booked -> completed or canceled; completed and canceled are final';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION travel.check_trip_status() IS 'Trigger: enforces the trip status machine (55000 on a bad transition)';
REVOKE ALL ON FUNCTION travel.check_trip_status() FROM PUBLIC;

DROP TRIGGER IF EXISTS trips_status_machine ON travel.trips;
CREATE TRIGGER trips_status_machine
    BEFORE INSERT OR UPDATE OF status ON travel.trips
    FOR EACH ROW EXECUTE FUNCTION travel.check_trip_status();
