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
