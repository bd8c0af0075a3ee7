-- app.my_api_keys: the caller's API keys as a client may show them: service, last four characters,
-- validity and dates; never the ciphertext. security_invoker, so the table's RLS applies.
CREATE OR REPLACE VIEW app.my_api_keys WITH (security_invoker = true) AS
SELECT k.id, k.service, k.last_four, k.is_valid, k.key_version, k.last_used_at, k.created_at, k.rotated_at
FROM app.user_api_keys AS k;

COMMENT ON VIEW app.my_api_keys IS 'The caller''s API keys without their ciphertext (security_invoker)';
