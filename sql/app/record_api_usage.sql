-- app.record_api_usage(): add one call's requests, tokens and cost to the user's daily total per
-- provider (an upsert, safe under concurrency). Returns the day's totals.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
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
SET search_path = pg_catalog, extensions, pg_temp
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
