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
