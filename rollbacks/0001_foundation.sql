-- 0001_foundation rollback: undo 0001 in reverse order. Roles, extensions, default privileges and
-- the database search_path change only where mempg.foundation_created says 0001 made them. A
-- role that another database of this server still uses is kept, with a NOTICE. Schema mempg
-- stays: it holds the runner's ledger.

DO $$
DECLARE
    v_previous text;
BEGIN
    SELECT detail INTO v_previous FROM mempg.foundation_created
    WHERE kind = 'database search_path' AND name = current_database();
    IF v_previous IS NULL THEN
        EXECUTE format('ALTER DATABASE %I RESET search_path', current_database());
    ELSE
        EXECUTE format('ALTER DATABASE %I SET search_path = %s', current_database(), v_previous);
    END IF;
END
$$;

DROP FUNCTION app.current_user_id();
DROP TABLE mempg.settings;
DROP FUNCTION mempg.guard_settings();
DROP FUNCTION mempg.embedding_dim();

DROP SCHEMA ops;
DROP SCHEMA travel;
DROP SCHEMA app;
DROP SCHEMA memory;

DO $$
DECLARE
    v_created record;
BEGIN
    IF EXISTS (SELECT 1 FROM mempg.foundation_created WHERE kind = 'default privileges' AND name = current_user) THEN
        ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
    END IF;
    FOR v_created IN
        SELECT name FROM mempg.foundation_created WHERE kind = 'extension'
        ORDER BY array_position(ARRAY['pg_stat_statements', 'pg_trgm', 'vector'], name)
    LOOP
        EXECUTE format('DROP EXTENSION %I', v_created.name);
    END LOOP;
    FOR v_created IN SELECT name FROM mempg.foundation_created WHERE kind = 'role' ORDER BY name LOOP
        BEGIN
            EXECUTE format('DROP ROLE %I', v_created.name);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role % kept: objects in other databases of this server still depend on it', v_created.name;
        END;
    END LOOP;
END
$$;

DROP TABLE mempg.foundation_created;
