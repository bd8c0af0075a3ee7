-- 0001_foundation: the ground every later migration stands on.
-- * pgvector must be installable (0.8 or newer): otherwise a clear error names what to install.
-- * Schemas memory, app, travel and ops; schema mempg (the runner creates it first for its ledger).
-- * Roles anon, authenticated and service_role (BYPASSRLS), named as in Supabase and PostgREST,
--   created only when missing. Roles, extensions and default privileges that this migration
--   creates are recorded in mempg.foundation_created, so the rollback removes only those.
-- * Extensions vector and pg_trgm, and pg_stat_statements where it is preloaded.
-- * EXECUTE on new functions is no longer granted to PUBLIC by default (for the role that runs
--   the migrations); each function grants EXECUTE to the roles that may call it.
-- * mempg.settings with the embedding dimension, fixed once: `mempg apply --embedding-dim N`
--   passes N in the session setting mempg.embedding_dim (default 1536, 1..16000).
-- * app.current_user_id(), the identity every policy uses (fail closed).
-- * A database search_path that lists the public schemas, so psql finds functions unqualified.

DO $$
DECLARE
    v_version text;
BEGIN
    SELECT coalesce(installed_version, default_version) INTO v_version
    FROM pg_catalog.pg_available_extensions WHERE name = 'vector';
    IF v_version IS NULL THEN
        RAISE EXCEPTION 'mempg needs the pgvector extension ("vector"), which this PostgreSQL server does not have'
            USING ERRCODE = '0A000',
                  HINT = 'install pgvector 0.8 or newer on the server (for example the postgresql-18-pgvector package), or unset DATABASE_URL to use the embedded server, which ships it';
    END IF;
    IF string_to_array(split_part(v_version, '-', 1), '.')::int[] < ARRAY[0, 8] THEN
        RAISE EXCEPTION 'mempg needs pgvector 0.8 or newer for iterative index scans; this server has %', v_version
            USING ERRCODE = '0A000',
                  HINT = 'install a newer pgvector, then ALTER EXTENSION vector UPDATE';
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS mempg;
COMMENT ON SCHEMA mempg IS 'mempg runner: migration ledger, yoyo bookkeeping and install settings; never granted to application roles';
REVOKE ALL ON SCHEMA mempg FROM PUBLIC;

CREATE TABLE mempg.foundation_created (
    kind   text NOT NULL CHECK (kind IN ('role', 'extension', 'default privileges', 'database search_path')),
    name   text NOT NULL,
    detail text,
    PRIMARY KEY (kind, name)
);
COMMENT ON TABLE mempg.foundation_created IS
    'Server-wide objects and settings that 0001_foundation created or changed, so that its rollback undoes exactly those';

CREATE SCHEMA memory;
COMMENT ON SCHEMA memory IS 'Long-term and session memories of agents: tables, search, deduplication, decay, cleanup';
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'The application: users, their API keys (ciphertext only), usage, chat, audit log, identity helpers';
CREATE SCHEMA travel;
COMMENT ON SCHEMA travel IS 'Trips, collaborators, flights, accommodations, activities and reference data';
CREATE SCHEMA ops;
COMMENT ON SCHEMA ops IS 'Health, monitoring and maintenance views and functions, for service_role';

DO $$
DECLARE
    v_role record;
BEGIN
    FOR v_role IN
        SELECT * FROM (VALUES
            ('anon', 'NOLOGIN NOINHERIT'),
            ('authenticated', 'NOLOGIN NOINHERIT'),
            ('service_role', 'NOLOGIN NOINHERIT BYPASSRLS')
        ) AS r(name, options)
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role.name);
        BEGIN
            EXECUTE format('CREATE ROLE %I %s', v_role.name, v_role.options);
            INSERT INTO mempg.foundation_created (kind, name) VALUES ('role', v_role.name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created a moment ago by an install into another database of this server
        END;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA memory, app, travel TO authenticated, service_role;
GRANT USAGE ON SCHEMA app, travel TO anon;
GRANT USAGE ON SCHEMA ops TO service_role;

DO $$
DECLARE
    v_extension text;
BEGIN
    FOREACH v_extension IN ARRAY ARRAY['vector', 'pg_trgm'] LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = v_extension);
        EXECUTE format('CREATE EXTENSION %I WITH SCHEMA public', v_extension);
        INSERT INTO mempg.foundation_created (kind, name) VALUES ('extension', v_extension);
    END LOOP;
    IF 'pg_stat_statements' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_stat_statements')
    THEN
        CREATE EXTENSION pg_stat_statements WITH SCHEMA public;
        INSERT INTO mempg.foundation_created (kind, name) VALUES ('extension', 'pg_stat_statements');
    END IF;
END
$$;

-- PostgreSQL grants EXECUTE on every new function to PUBLIC; per-schema default privileges
-- cannot take that away, so it is revoked for the role that owns mempg's objects.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_default_acl d, aclexplode(d.defaclacl) AS a
        WHERE d.defaclrole = current_user::regrole AND d.defaclnamespace = 0
          AND d.defaclobjtype = 'f' AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'
    ) AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_default_acl d
        WHERE d.defaclrole = current_user::regrole AND d.defaclnamespace = 0 AND d.defaclobjtype = 'f'
    ) THEN
        RETURN;  -- already revoked by someone else: leave it, and leave it to them
    END IF;
    ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
    INSERT INTO mempg.foundation_created (kind, name) VALUES ('default privileges', current_user);
END
$$;

CREATE TABLE mempg.settings (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_.]*$'),
    value       text NOT NULL,
    description text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mempg.settings IS 'Install settings of mempg; embedding_dim is fixed once installed';
REVOKE ALL ON mempg.settings FROM PUBLIC;

DO $$
DECLARE
    v_requested text := nullif(current_setting('mempg.embedding_dim', true), '');
    v_dim integer;
BEGIN
    IF v_requested IS NULL THEN
        v_dim := 1536;
    ELSIF v_requested !~ '^[0-9]{1,5}$' OR v_requested::integer NOT BETWEEN 1 AND 16000 THEN
        RAISE EXCEPTION 'embedding_dim must be a whole number from 1 to 16000, got %', v_requested
            USING ERRCODE = '22023';
    ELSE
        v_dim := v_requested::integer;
    END IF;
    INSERT INTO mempg.settings (key, value, description)
    VALUES ('embedding_dim', v_dim::text,
            'Dimension of every embedding column, chosen at install with mempg apply --embedding-dim');
END
$$;

-- Install settings of mempg (mempg.settings): mempg.embedding_dim() reads the embedding dimension
-- that later migrations use for every vector column, and a guard keeps that dimension fixed:
-- vectors of another size cannot be compared, so a change needs a new database or a re-embedding.
CREATE OR REPLACE FUNCTION mempg.embedding_dim()
RETURNS integer
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT value::integer FROM mempg.settings WHERE key = 'embedding_dim'
$$;

COMMENT ON FUNCTION mempg.embedding_dim() IS
    'Embedding dimension chosen at install (mempg apply --embedding-dim); fixed afterwards';
REVOKE ALL ON FUNCTION mempg.embedding_dim() FROM PUBLIC;

CREATE OR REPLACE FUNCTION mempg.guard_settings()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF OLD.key = 'embedding_dim' AND (TG_OP = 'DELETE' OR NEW.value IS DISTINCT FROM OLD.value) THEN
        RAISE EXCEPTION 'mempg.settings: embedding_dim is fixed at % since install', OLD.value
            USING ERRCODE = '55000',
                  HINT = 'use a new database, or write a migration that re-embeds every memory';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION mempg.guard_settings() IS
    'Trigger on mempg.settings: keeps embedding_dim fixed and stamps updated_at';
REVOKE ALL ON FUNCTION mempg.guard_settings() FROM PUBLIC;

DROP TRIGGER IF EXISTS guard_settings ON mempg.settings;
CREATE TRIGGER guard_settings
    BEFORE UPDATE OR DELETE ON mempg.settings
    FOR EACH ROW EXECUTE FUNCTION mempg.guard_settings();

-- app.current_user_id(): the id of the user the current request acts for, as text.
-- The transaction-local setting app.user_id (set_config('app.user_id', id, true)) wins; else the
-- `sub` claim of request.jwt.claims, which PostgREST and Supabase set per request. Unset or empty
-- gives NULL, and a policy comparing a column with NULL matches no row: fail closed.
-- Policies call it as (select app.current_user_id()) so that it runs once per query.
CREATE OR REPLACE FUNCTION app.current_user_id()
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(
        nullif(current_setting('app.user_id', true), ''),
        nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '')
    )
$$;

COMMENT ON FUNCTION app.current_user_id() IS
    'User id of this request: app.user_id, else the sub of request.jwt.claims; NULL (no rows) when unset';
REVOKE ALL ON FUNCTION app.current_user_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.current_user_id() TO anon, authenticated, service_role;

DO $$
DECLARE
    v_previous text;
BEGIN
    SELECT cfg INTO v_previous
    FROM pg_catalog.pg_db_role_setting s, unnest(s.setconfig) AS cfg
    WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
      AND s.setrole = 0 AND cfg LIKE 'search\_path=%';
    INSERT INTO mempg.foundation_created (kind, name, detail)
    VALUES ('database search_path', current_database(), substr(v_previous, length('search_path=') + 1));
    EXECUTE format('ALTER DATABASE %I SET search_path = "$user", public, memory, app, travel, ops',
                   current_database());
END
$$;
