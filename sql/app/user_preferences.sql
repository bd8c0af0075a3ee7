-- app.jsonb_deep_merge() and app.user_preferences(): a user's preferences deep-merged over the
-- documented defaults, so a client always gets every key (currency, theme, travel preferences)
-- and a user stores only what they changed.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION app.jsonb_deep_merge(base jsonb, patch jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
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
SET search_path = pg_catalog, extensions, pg_temp
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
SET search_path = pg_catalog, extensions, pg_temp
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
