-- 0003_app_schema: the application's own data under row-level security, in schemas app and travel:
-- users, their API keys (ciphertext only: encryption happens in the client, see runner/keys.py),
-- API usage, chat sessions and messages, trips with collaborators and bookings, airports as
-- reference data, an audit log of every change to user data (memory tables included), and live
-- updates by NOTIFY. Every function, trigger, view, policy and grant below is also in sql/app/
-- and sql/travel/, with the same text.

CREATE TABLE app.users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CONSTRAINT email_valid CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' AND length(email) <= 320),
    auth_provider text NOT NULL DEFAULT 'email' CONSTRAINT auth_provider_valid CHECK (auth_provider ~ '^[a-z0-9_-]{1,32}$'),
    display_name  text CONSTRAINT display_name_valid CHECK (length(display_name) BETWEEN 1 AND 200),
    profile       jsonb NOT NULL DEFAULT '{}' CONSTRAINT profile_is_object CHECK (jsonb_typeof(profile) = 'object'),
    preferences   jsonb NOT NULL DEFAULT '{}' CONSTRAINT preferences_is_object CHECK (jsonb_typeof(preferences) = 'object'),
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_unique ON app.users (lower(email));
COMMENT ON TABLE app.users IS 'Application users; email unique regardless of case; preferences over app.default_preferences()';

CREATE TABLE app.user_api_keys (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    service      text NOT NULL CONSTRAINT service_valid CHECK (service ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    ciphertext   bytea NOT NULL CONSTRAINT ciphertext_has_tag CHECK (length(ciphertext) >= 17),
    nonce        bytea NOT NULL CONSTRAINT nonce_is_96_bits CHECK (length(nonce) = 12),
    key_version  integer NOT NULL CONSTRAINT key_version_positive CHECK (key_version >= 1),
    last_four    text NOT NULL CONSTRAINT last_four_short CHECK (length(last_four) <= 4),
    is_valid     boolean NOT NULL DEFAULT true,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rotated_at   timestamptz,
    CONSTRAINT one_key_per_service UNIQUE (user_id, service)
);
CREATE INDEX user_api_keys_version ON app.user_api_keys (key_version, id);
COMMENT ON TABLE app.user_api_keys IS 'Users'' own API keys, AES-256-GCM ciphertext bound to (user, service, id); the database never sees a plaintext key';

CREATE TABLE app.api_usage (
    user_id    uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    provider   text NOT NULL CONSTRAINT provider_valid CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    day        date NOT NULL,
    requests   bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
    tokens     bigint NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    cost       numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_usage_pkey PRIMARY KEY (user_id, provider, day)
);
COMMENT ON TABLE app.api_usage IS 'Requests, tokens and cost per user, provider and day (app.record_api_usage)';

CREATE TABLE app.chat_sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    title         text CONSTRAINT title_valid CHECK (length(title) <= 200),
    metadata      jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    message_count integer NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    last_activity timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sessions_user ON app.chat_sessions (user_id, last_activity DESC);

CREATE TABLE app.chat_messages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES app.chat_sessions (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    role       text NOT NULL CONSTRAINT role_valid CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content    text NOT NULL CONSTRAINT content_length CHECK (length(content) <= 100000),
    metadata   jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    tool_calls jsonb CONSTRAINT tool_calls_is_array CHECK (jsonb_typeof(tool_calls) = 'array'),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_session ON app.chat_messages (session_id, id DESC);
CREATE INDEX chat_messages_user ON app.chat_messages (user_id);

CREATE TABLE app.audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name     text NOT NULL,
    operation      text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
    row_key        jsonb,
    old_row        jsonb,
    new_row        jsonb,
    db_role        text NOT NULL DEFAULT current_user,
    app_user_id    text DEFAULT app.current_user_id(),
    transaction_id bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_table_time ON app.audit_log (table_name, created_at);
COMMENT ON TABLE app.audit_log IS 'One row per change to user data, written by triggers in the same transaction; append-only for application roles';

CREATE TABLE travel.airports (
    iata      text PRIMARY KEY CONSTRAINT iata_valid CHECK (iata ~ '^[A-Z]{3}$'),
    name      text NOT NULL,
    city      text NOT NULL,
    country   text NOT NULL CONSTRAINT country_valid CHECK (country ~ '^[A-Z]{2}$'),
    latitude  numeric(9, 6) NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude numeric(9, 6) NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    timezone  text NOT NULL
);
COMMENT ON TABLE travel.airports IS 'Reference data: readable by everyone, anon included; written by service_role only';
INSERT INTO travel.airports (iata, name, city, country, latitude, longitude, timezone) VALUES
    ('LIS', 'Humberto Delgado Airport', 'Lisbon', 'PT', 38.774200, -9.134200, 'Europe/Lisbon'),
    ('OPO', 'Francisco Sá Carneiro Airport', 'Porto', 'PT', 41.248100, -8.681400, 'Europe/Lisbon'),
    ('LHR', 'Heathrow Airport', 'London', 'GB', 51.470000, -0.454300, 'Europe/London'),
    ('CDG', 'Charles de Gaulle Airport', 'Paris', 'FR', 49.009700, 2.547900, 'Europe/Paris'),
    ('FRA', 'Frankfurt Airport', 'Frankfurt', 'DE', 50.037900, 8.562200, 'Europe/Berlin'),
    ('JFK', 'John F. Kennedy International Airport', 'New York', 'US', 40.641300, -73.778100, 'America/New_York'),
    ('SFO', 'San Francisco International Airport', 'San Francisco', 'US', 37.621300, -122.379000, 'America/Los_Angeles'),
    ('NRT', 'Narita International Airport', 'Tokyo', 'JP', 35.772000, 140.392900, 'Asia/Tokyo'),
    ('SYD', 'Sydney Kingsford Smith Airport', 'Sydney', 'AU', -33.939900, 151.175300, 'Australia/Sydney'),
    ('GRU', 'São Paulo/Guarulhos International Airport', 'São Paulo', 'BR', -23.435600, -46.473100, 'America/Sao_Paulo');

CREATE TABLE travel.trips (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id     uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    title        text NOT NULL CONSTRAINT title_valid CHECK (title ~ '[^[:space:]]' AND length(title) <= 200),
    description  text CONSTRAINT description_length CHECK (length(description) <= 10000),
    destinations text[] NOT NULL DEFAULT '{}' CONSTRAINT destinations_valid CHECK (array_position(destinations, NULL) IS NULL),
    start_date   date,
    end_date     date,
    budget       numeric(12, 2) CONSTRAINT budget_positive CHECK (budget > 0),
    currency     text NOT NULL DEFAULT 'USD' CONSTRAINT currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    travelers    integer NOT NULL DEFAULT 1 CONSTRAINT travelers_positive CHECK (travelers > 0 AND travelers <= 1000),
    status       text NOT NULL DEFAULT 'planning' CONSTRAINT status_valid CHECK (status IN ('planning', 'booked', 'completed', 'canceled')),
    metadata     jsonb NOT NULL DEFAULT '{}' CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT end_after_start CHECK (end_date >= start_date)
);
CREATE INDEX trips_owner ON travel.trips (owner_id, start_date);

CREATE TABLE travel.trip_collaborators (
    trip_id  uuid NOT NULL REFERENCES travel.trips (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    role     text NOT NULL DEFAULT 'viewer' CONSTRAINT role_valid CHECK (role IN ('viewer', 'editor')),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trip_id, user_id)
);
CREATE INDEX trip_collaborators_user ON travel.trip_collaborators (user_id, trip_id);

CREATE TABLE travel.flights (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trip_id           uuid NOT NULL REFERENCES travel.trips (id) ON DELETE CASCADE,
    airline           text NOT NULL CONSTRAINT airline_valid CHECK (airline ~ '[^[:space:]]' AND length(airline) <= 100),
    flight_number     text NOT NULL CONSTRAINT flight_number_valid CHECK (flight_number ~ '^[A-Z0-9]{2,3}[0-9]{1,4}[A-Z]?$'),
    departure_airport text NOT NULL CONSTRAINT departure_airport_iata CHECK (departure_airport ~ '^[A-Z]{3}$'),
    arrival_airport   text NOT NULL CONSTRAINT arrival_airport_iata CHECK (arrival_airport ~ '^[A-Z]{3}$'),
    departure_time    timestamptz NOT NULL,
    arrival_time      timestamptz NOT NULL,
    price             numeric(12, 2) CONSTRAINT price_not_negative CHECK (price >= 0),
    currency          text NOT NULL DEFAULT 'USD' CONSTRAINT currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    booking_reference text CONSTRAINT booking_reference_valid CHECK (length(booking_reference) <= 64),
    status            text NOT NULL DEFAULT 'planned' CONSTRAINT status_valid CHECK (status IN ('planned', 'booked', 'canceled', 'completed')),
    raw_data          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT arrival_after_departure CHECK (arrival_time > departure_time),
    CONSTRAINT different_airports CHECK (arrival_airport <> departure_airport)
);
CREATE INDEX flights_trip ON travel.flights (trip_id, departure_time);

CREATE TABLE travel.accommodations (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trip_id           uuid NOT NULL REFERENCES travel.trips (id) ON DELETE CASCADE,
    name              text NOT NULL CONSTRAINT name_valid CHECK (name ~ '[^[:space:]]' AND length(name) <= 200),
    type              text NOT NULL DEFAULT 'hotel' CONSTRAINT type_valid CHECK (type IN ('hotel', 'apartment', 'hostel', 'house', 'resort', 'other')),
    address           text CONSTRAINT address_length CHECK (length(address) <= 500),
    latitude          numeric(9, 6) CHECK (latitude BETWEEN -90 AND 90),
    longitude         numeric(9, 6) CHECK (longitude BETWEEN -180 AND 180),
    check_in          date NOT NULL,
    check_out         date NOT NULL,
    price_per_night   numeric(12, 2) CONSTRAINT price_per_night_not_negative CHECK (price_per_night >= 0),
    total_price       numeric(12, 2) CONSTRAINT total_price_not_negative CHECK (total_price >= 0),
    currency          text NOT NULL DEFAULT 'USD' CONSTRAINT currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    amenities         text[] NOT NULL DEFAULT '{}',
    rating            numeric(2, 1) CONSTRAINT rating_range CHECK (rating BETWEEN 0 AND 5),
    booking_reference text CONSTRAINT booking_reference_valid CHECK (length(booking_reference) <= 64),
    status            text NOT NULL DEFAULT 'planned' CONSTRAINT status_valid CHECK (status IN ('planned', 'booked', 'canceled', 'completed')),
    raw_data          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT check_out_after_check_in CHECK (check_out > check_in)
);
CREATE INDEX accommodations_trip ON travel.accommodations (trip_id, check_in);

CREATE TABLE travel.activities (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trip_id           uuid NOT NULL REFERENCES travel.trips (id) ON DELETE CASCADE,
    name              text NOT NULL CONSTRAINT name_valid CHECK (name ~ '[^[:space:]]' AND length(name) <= 200),
    type              text CONSTRAINT type_valid CHECK (length(type) <= 64),
    location          text CONSTRAINT location_length CHECK (length(location) <= 500),
    starts_at         timestamptz NOT NULL,
    ends_at           timestamptz,
    price             numeric(12, 2) CONSTRAINT price_not_negative CHECK (price >= 0),
    currency          text NOT NULL DEFAULT 'USD' CONSTRAINT currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    booking_reference text CONSTRAINT booking_reference_valid CHECK (length(booking_reference) <= 64),
    status            text NOT NULL DEFAULT 'planned' CONSTRAINT status_valid CHECK (status IN ('planned', 'booked', 'canceled', 'completed')),
    raw_data          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ends_after_start CHECK (ends_at > starts_at)
);
CREATE INDEX activities_trip ON travel.activities (trip_id, starts_at);


-- app.current_user_uuid(): app.current_user_id() as a uuid, for the tables keyed by app.users(id).
-- An identity that is not a uuid (memory.user_id accepts any external id) matches no app row:
-- NULL, not an error, so policies fail closed.
CREATE OR REPLACE FUNCTION app.current_user_uuid()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN app.current_user_id() ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN app.current_user_id()::uuid END
$$;

COMMENT ON FUNCTION app.current_user_uuid() IS
    'app.current_user_id() as uuid; NULL when unset or not a uuid (no rows)';
REVOKE ALL ON FUNCTION app.current_user_uuid() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.current_user_uuid() TO anon, authenticated, service_role;

-- app.jsonb_deep_merge() and app.user_preferences(): a user's preferences deep-merged over the
-- documented defaults, so a client always gets every key (currency, theme, travel preferences)
-- and a user stores only what they changed.
CREATE OR REPLACE FUNCTION app.jsonb_deep_merge(base jsonb, patch jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(jsonb_deep_merge.base) = 'object' AND jsonb_typeof(jsonb_deep_merge.patch) = 'object' THEN (
            SELECT coalesce(jsonb_object_agg(
                       key,
                       CASE WHEN b.value IS NULL THEN o.value
                            WHEN o.value IS NULL THEN b.value
                            ELSE app.jsonb_deep_merge(b.value, o.value) END), '{}')
            FROM jsonb_each(jsonb_deep_merge.base) AS b
            FULL JOIN jsonb_each(jsonb_deep_merge.patch) AS o USING (key))
        ELSE coalesce(jsonb_deep_merge.patch, jsonb_deep_merge.base)
    END
$$;

COMMENT ON FUNCTION app.jsonb_deep_merge(jsonb, jsonb) IS 'Recursive merge of two jsonb objects; the patch wins on conflicts';

CREATE OR REPLACE FUNCTION app.default_preferences()
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT '{
        "currency": "USD",
        "language": "en",
        "theme": "system",
        "notifications": {"email": true, "push": false},
        "travel": {"cabin_class": "economy", "seat": "any", "budget_level": "moderate",
                   "dietary": [], "accessibility": []}
    }'::jsonb
$$;

COMMENT ON FUNCTION app.default_preferences() IS 'The documented defaults of app.users.preferences';

CREATE OR REPLACE FUNCTION app.user_preferences(user_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_preferences jsonb;
BEGIN
    IF user_preferences.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT u.preferences INTO v_preferences FROM app.users AS u WHERE u.id = user_preferences.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', user_preferences.user_id USING ERRCODE = 'P0002';
    END IF;
    RETURN app.jsonb_deep_merge(app.default_preferences(), v_preferences);
END
$$;

COMMENT ON FUNCTION app.user_preferences(uuid) IS 'A user''s preferences deep-merged over app.default_preferences(); P0002 when not found';
REVOKE ALL ON FUNCTION app.jsonb_deep_merge(jsonb, jsonb), app.default_preferences(), app.user_preferences(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.jsonb_deep_merge(jsonb, jsonb), app.default_preferences(), app.user_preferences(uuid)
    TO authenticated, service_role;

-- app.record_api_usage(): add one call's requests, tokens and cost to the user's daily total per
-- provider (an upsert, safe under concurrency). Returns the day's totals.
CREATE OR REPLACE FUNCTION app.record_api_usage(
    user_id uuid,
    provider text,
    requests integer DEFAULT 1,
    tokens bigint DEFAULT 0,
    cost numeric DEFAULT 0,
    day date DEFAULT current_date)
RETURNS app.api_usage
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_row app.api_usage;
BEGIN
    IF num_nulls(record_api_usage.user_id, record_api_usage.provider, record_api_usage.requests,
                 record_api_usage.tokens, record_api_usage.cost, record_api_usage.day) > 0 THEN
        RAISE EXCEPTION 'user_id, provider, requests, tokens, cost and day must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF record_api_usage.requests < 0 OR record_api_usage.tokens < 0 OR record_api_usage.cost < 0 THEN
        RAISE EXCEPTION 'requests, tokens and cost must be >= 0, got %, %, %',
            record_api_usage.requests, record_api_usage.tokens, record_api_usage.cost USING ERRCODE = '22023';
    END IF;
    INSERT INTO app.api_usage AS u (user_id, provider, day, requests, tokens, cost)
    VALUES (record_api_usage.user_id, record_api_usage.provider, record_api_usage.day,
            record_api_usage.requests, record_api_usage.tokens, record_api_usage.cost)
    ON CONFLICT ON CONSTRAINT api_usage_pkey DO UPDATE
        SET requests = u.requests + EXCLUDED.requests, tokens = u.tokens + EXCLUDED.tokens,
            cost = u.cost + EXCLUDED.cost, updated_at = now()
    RETURNING u.* INTO v_row;
    RETURN v_row;
END
$$;

COMMENT ON FUNCTION app.record_api_usage(uuid, text, integer, bigint, numeric, date) IS
    'Adds requests, tokens and cost to a user''s daily usage of a provider; returns the totals';
REVOKE ALL ON FUNCTION app.record_api_usage(uuid, text, integer, bigint, numeric, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.record_api_usage(uuid, text, integer, bigint, numeric, date) TO authenticated, service_role;

-- app.touch_updated_at(): stamps updated_at on every UPDATE of the tables that have one.
CREATE OR REPLACE FUNCTION app.touch_updated_at()
RETURNS trigger
LANGUAGE plpgsql
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

-- Chat: app.chat_message_defaults() (BEFORE INSERT on chat_messages) copies the session's user onto
-- the message, so policies filter messages by an indexed column without a join, and refuses
-- (42501) a session the writer cannot see. app.chat_session_counters() (AFTER INSERT OR DELETE) keeps
-- message_count and last_activity of the session. app.list_chat_messages() pages a session's
-- messages newest first with a keyset cursor (the id of the last message seen).
CREATE OR REPLACE FUNCTION app.chat_message_defaults()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    SELECT s.user_id INTO NEW.user_id FROM app.chat_sessions AS s WHERE s.id = NEW.session_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'chat session % does not exist or is not yours', NEW.session_id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION app.chat_message_defaults() IS 'Trigger: a message belongs to the user of its session';

CREATE OR REPLACE FUNCTION app.chat_session_counters()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE app.chat_sessions AS s
        SET message_count = s.message_count + 1, last_activity = greatest(s.last_activity, NEW.created_at)
        WHERE s.id = NEW.session_id;
    ELSE
        UPDATE app.chat_sessions AS s SET message_count = s.message_count - 1 WHERE s.id = OLD.session_id;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION app.chat_session_counters() IS 'Trigger: keeps chat_sessions.message_count and last_activity';

DROP TRIGGER IF EXISTS chat_messages_10_defaults ON app.chat_messages;
CREATE TRIGGER chat_messages_10_defaults
    BEFORE INSERT ON app.chat_messages
    FOR EACH ROW EXECUTE FUNCTION app.chat_message_defaults();
DROP TRIGGER IF EXISTS chat_messages_20_counters ON app.chat_messages;
CREATE TRIGGER chat_messages_20_counters
    AFTER INSERT OR DELETE ON app.chat_messages
    FOR EACH ROW EXECUTE FUNCTION app.chat_session_counters();

CREATE OR REPLACE FUNCTION app.list_chat_messages(session_id uuid, before_id bigint DEFAULT NULL,
                                                  page_size integer DEFAULT 50)
RETURNS SETOF app.chat_messages
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF list_chat_messages.session_id IS NULL THEN
        RAISE EXCEPTION 'session_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF list_chat_messages.page_size IS NULL OR list_chat_messages.page_size NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 1000, got %', coalesce(list_chat_messages.page_size::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT m.* FROM app.chat_messages AS m
    WHERE m.session_id = list_chat_messages.session_id
      AND (list_chat_messages.before_id IS NULL OR m.id < list_chat_messages.before_id)
    ORDER BY m.id DESC
    LIMIT list_chat_messages.page_size;
END
$$;

COMMENT ON FUNCTION app.list_chat_messages(uuid, bigint, integer) IS
    'A page of a chat session''s messages, newest first; pass the last id seen as before_id';
REVOKE ALL ON FUNCTION app.chat_message_defaults(), app.chat_session_counters(),
    app.list_chat_messages(uuid, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.list_chat_messages(uuid, bigint, integer) TO authenticated, service_role;

-- app.my_api_keys: the caller's API keys as a client may show them: service, last four characters,
-- validity and dates; never the ciphertext. security_invoker, so the table's RLS applies.
CREATE OR REPLACE VIEW app.my_api_keys WITH (security_invoker = true) AS
SELECT k.id, k.service, k.last_four, k.is_valid, k.key_version, k.last_used_at, k.created_at, k.rotated_at
FROM app.user_api_keys AS k;

COMMENT ON VIEW app.my_api_keys IS 'The caller''s API keys without their ciphertext (security_invoker)';

-- travel.my_trip_ids(min_role): the trips the current user may act on with at least that role
-- (viewer < editor < owner): owned trips, plus collaborations. Policies use it as
-- `trip_id IN (SELECT travel.my_trip_ids('editor'))`, evaluated once per query as a hashed subplan.
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

-- travel.check_trip_status(): the trip status machine, BEFORE INSERT OR UPDATE OF status on trips.
--   planning -> booked | canceled;  booked -> completed | canceled;  completed, canceled: final.
-- A new trip starts in planning or booked. A bad transition raises 55000 naming both states.
CREATE OR REPLACE FUNCTION travel.check_trip_status()
RETURNS trigger
LANGUAGE plpgsql
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

-- app.audit_change(): the AFTER trigger behind app.audit_log, on every user-data table (row level
-- for INSERT, UPDATE, DELETE; statement level for TRUNCATE). One row per change, in the same
-- transaction, so a rollback leaves none. Trigger arguments: the primary key columns (comma
-- separated), then columns never to copy into the log: secrets (API key ciphertext and nonce) and
-- bulky derived data (embeddings, tsvectors).
-- It runs as the acting role: authenticated may INSERT into the log only rows stamped with its own
-- role, app user and transaction (a policy checks it), and nobody but the owner may change it.
CREATE OR REPLACE FUNCTION app.audit_change()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_key_columns text[] := string_to_array(TG_ARGV[0], ',');
    v_hidden text[] := TG_ARGV[1:];
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO app.audit_log (table_name, operation)
        VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        v_old := to_jsonb(OLD) - v_hidden;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        v_new := to_jsonb(NEW) - v_hidden;
    END IF;
    v_row := coalesce(v_new, v_old);
    INSERT INTO app.audit_log (table_name, operation, row_key, old_row, new_row)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP,
            (SELECT jsonb_object_agg(k, v_row -> k) FROM unnest(v_key_columns) AS k),
            v_old, v_new);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION app.audit_change() IS
    'Trigger: one app.audit_log row per INSERT, UPDATE, DELETE and TRUNCATE, secrets left out';
REVOKE ALL ON FUNCTION app.audit_change() FROM PUBLIC;

-- The audit triggers, one table per line: (primary key columns, hidden columns).
DO $$
DECLARE
    v_table record;
BEGIN
    FOR v_table IN SELECT * FROM (VALUES
        ('app.users', 'id', ''),
        ('app.user_api_keys', 'id', 'ciphertext,nonce'),
        ('app.api_usage', 'user_id,provider,day', ''),
        ('app.chat_sessions', 'id', ''),
        ('app.chat_messages', 'id', ''),
        ('travel.trips', 'id', ''),
        ('travel.trip_collaborators', 'trip_id,user_id', ''),
        ('travel.flights', 'id', ''),
        ('travel.accommodations', 'id', ''),
        ('travel.activities', 'id', ''),
        ('memory.memories', 'id', 'embedding,fts'),
        ('memory.session_memories', 'id', 'embedding')
    ) AS t(name, key_columns, hidden)
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS audit_rows ON %s', v_table.name);
        EXECUTE format('CREATE TRIGGER audit_rows AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW'
                       ' EXECUTE FUNCTION app.audit_change(%L%s)', v_table.name, v_table.key_columns,
                       (SELECT coalesce(string_agg(format(', %L', h), ''), '')
                        FROM unnest(string_to_array(nullif(v_table.hidden, ''), ',')) AS h));
        EXECUTE format('DROP TRIGGER IF EXISTS audit_truncate ON %s', v_table.name);
        EXECUTE format('CREATE TRIGGER audit_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION app.audit_change(%L)', v_table.name, v_table.key_columns);
    END LOOP;
END
$$;

-- Live updates, as Supabase Realtime gives them, in plain PostgreSQL: after a change to a trip, a
-- booking or a chat message, NOTIFY on the channel of each user who may read it (mempg_user_<uuid>)
-- with {table, operation, id}. NOTIFY is transactional: delivered after commit, never on rollback.
-- PostgreSQL lets anyone LISTEN on any channel, so the payload carries ids only; clients read the
-- row itself through row-level security.
CREATE OR REPLACE FUNCTION app.user_channel(user_id uuid)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT 'mempg_user_' || user_channel.user_id::text
$$;

COMMENT ON FUNCTION app.user_channel(uuid) IS 'The LISTEN channel of a user''s live updates';

CREATE OR REPLACE FUNCTION app.notify_change()
RETURNS trigger
LANGUAGE plpgsql
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

-- Row-level security of schema app, enabled and forced on every table. Each user sees and changes
-- only their own rows; no identity sees nothing. Identity is (SELECT app.current_user_uuid()), run
-- once per query; every column a policy filters on is indexed (the primary key or a user_id index).
-- service_role bypasses RLS; anon has no access to app tables.
DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['app.users', 'app.user_api_keys', 'app.api_usage', 'app.chat_sessions',
                                   'app.chat_messages', 'app.audit_log'] LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', v_table);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', v_table);
    END LOOP;
END
$$;

DROP POLICY IF EXISTS "Users see their own profile" ON app.users;
CREATE POLICY "Users see their own profile" ON app.users
    FOR SELECT TO authenticated USING (id = (SELECT app.current_user_uuid()));
DROP POLICY IF EXISTS "Users create their own profile" ON app.users;
CREATE POLICY "Users create their own profile" ON app.users
    FOR INSERT TO authenticated WITH CHECK (id = (SELECT app.current_user_uuid()));
DROP POLICY IF EXISTS "Users update their own profile" ON app.users;
CREATE POLICY "Users update their own profile" ON app.users
    FOR UPDATE TO authenticated USING (id = (SELECT app.current_user_uuid()))
    WITH CHECK (id = (SELECT app.current_user_uuid()));
DROP POLICY IF EXISTS "Users delete their own profile" ON app.users;
CREATE POLICY "Users delete their own profile" ON app.users
    FOR DELETE TO authenticated USING (id = (SELECT app.current_user_uuid()));

DO $$
DECLARE
    v_table record;
BEGIN
    FOR v_table IN SELECT * FROM (VALUES
        ('app.user_api_keys', 'API keys'), ('app.api_usage', 'API usage'),
        ('app.chat_sessions', 'chat sessions'), ('app.chat_messages', 'chat messages')
    ) AS t(name, noun)
    LOOP
        EXECUTE format('DROP POLICY IF EXISTS %I ON %s', 'Users manage their own ' || v_table.noun, v_table.name);
        EXECUTE format('CREATE POLICY %I ON %s FOR ALL TO authenticated'
                       ' USING (user_id = (SELECT app.current_user_uuid()))'
                       ' WITH CHECK (user_id = (SELECT app.current_user_uuid()))',
                       'Users manage their own ' || v_table.noun, v_table.name);
    END LOOP;
END
$$;

DROP POLICY IF EXISTS "Changes are logged as made by whoever made them" ON app.audit_log;
CREATE POLICY "Changes are logged as made by whoever made them" ON app.audit_log
    FOR INSERT TO authenticated
    WITH CHECK (db_role = current_user
                AND app_user_id IS NOT DISTINCT FROM (SELECT app.current_user_id())
                AND transaction_id = pg_current_xact_id()::text::bigint);

-- Privileges of schema app. authenticated works through row-level security, and never gets
-- TRUNCATE or REFERENCES; the audit log takes its rows from triggers only and is read by
-- service_role. The key view shows no ciphertext.
REVOKE ALL ON ALL TABLES IN SCHEMA app FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON app.users, app.user_api_keys, app.api_usage, app.chat_sessions,
    app.chat_messages TO authenticated, service_role;
GRANT INSERT ON app.audit_log TO authenticated, service_role;
GRANT SELECT ON app.audit_log TO service_role;
GRANT SELECT ON app.my_api_keys TO authenticated, service_role;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA app TO authenticated, service_role;

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

-- Privileges of schema travel: authenticated through row-level security (no TRUNCATE, no
-- REFERENCES), airports read-only for everyone but service_role.
REVOKE ALL ON ALL TABLES IN SCHEMA travel FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON travel.trips, travel.trip_collaborators, travel.flights,
    travel.accommodations, travel.activities TO authenticated, service_role;
GRANT SELECT ON travel.airports TO anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON travel.airports TO service_role;
