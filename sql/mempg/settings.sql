-- Install settings of mempg (mempg.settings): mempg.embedding_dim() reads the embedding dimension
-- that later migrations use for every vector column, and a guard keeps that dimension fixed:
-- vectors of another size cannot be compared, so a change needs a new database or a re-embedding.
-- text_search_config (from 0010, `mempg apply --text-search-config`) is fixed the same way: every
-- stored tsvector was stemmed and stop-worded with it, and queries are parsed with it.
-- embedding_type (from 0024, `mempg apply --embedding-type vector|halfvec`) is fixed too: it is
-- the storage type of every embedding column and of their HNSW indexes.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION mempg.embedding_dim()
RETURNS integer
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT value::integer FROM mempg.settings WHERE key = 'embedding_dim'
$$;

COMMENT ON FUNCTION mempg.embedding_dim() IS
    'Embedding dimension chosen at install (mempg apply --embedding-dim); fixed afterwards';
REVOKE ALL ON FUNCTION mempg.embedding_dim() FROM PUBLIC;

CREATE OR REPLACE FUNCTION mempg.guard_settings()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF OLD.key IN ('embedding_dim', 'text_search_config', 'embedding_type')
       AND (TG_OP = 'DELETE' OR NEW.value IS DISTINCT FROM OLD.value) THEN
        RAISE EXCEPTION 'mempg.settings: % is fixed at % since install', OLD.key, OLD.value
            USING ERRCODE = '55000',
                  HINT = CASE OLD.key WHEN 'embedding_dim'
                              THEN 'use a new database, or write a migration that re-embeds every memory'
                              WHEN 'embedding_type'
                              THEN 'use a new database and import an export of this one (mempg export --jsonl)'
                              ELSE 'use a new database, or write a migration that re-indexes every memory' END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION mempg.guard_settings() IS
    'Trigger on mempg.settings: keeps embedding_dim, text_search_config and embedding_type fixed and stamps updated_at';
REVOKE ALL ON FUNCTION mempg.guard_settings() FROM PUBLIC;

DROP TRIGGER IF EXISTS guard_settings ON mempg.settings;
CREATE TRIGGER guard_settings
    BEFORE UPDATE OR DELETE ON mempg.settings
    FOR EACH ROW EXECUTE FUNCTION mempg.guard_settings();

-- mempg.request_embedding_dim(): what `mempg apply --embedding-dim N` asks for, checked here
-- alone (the runner passes N and reports this error): a whole number from 1 to 16000 (the check
-- of 0001 on a fresh install), and on an installed database the dimension it already has.
CREATE OR REPLACE FUNCTION mempg.request_embedding_dim(requested text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_installed integer := mempg.embedding_dim();
BEGIN
    IF request_embedding_dim.requested IS NULL OR request_embedding_dim.requested = '' THEN
        RETURN;
    END IF;
    IF request_embedding_dim.requested !~ '^[0-9]{1,5}$' OR request_embedding_dim.requested::integer NOT BETWEEN 1 AND 16000 THEN
        RAISE EXCEPTION 'embedding_dim must be a whole number from 1 to 16000, got %', request_embedding_dim.requested
            USING ERRCODE = '22023';
    END IF;
    IF v_installed IS NOT NULL AND request_embedding_dim.requested::integer <> v_installed THEN
        RAISE EXCEPTION '--embedding-dim % refused: this database was installed with embedding dimension %, which is fixed',
            request_embedding_dim.requested, v_installed
            USING ERRCODE = '22023',
                  HINT = 'use a new database, or write a migration that re-embeds the memories';
    END IF;
END
$$;

COMMENT ON FUNCTION mempg.request_embedding_dim(text) IS
    'Raises 22023 unless the requested embedding dimension is valid and, once installed, the installed one';
REVOKE ALL ON FUNCTION mempg.request_embedding_dim(text) FROM PUBLIC;

-- mempg.request_text_search_config(): what `mempg apply --text-search-config NAME` asks for,
-- checked here alone: an existing text-search configuration (english, simple, french, ...), and
-- on a database that chose one already (0010 applied), that one.
CREATE OR REPLACE FUNCTION mempg.request_text_search_config(requested text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_installed text := (SELECT s.value FROM mempg.settings AS s WHERE s.key = 'text_search_config');
    v_requested regconfig;
BEGIN
    IF request_text_search_config.requested IS NULL OR request_text_search_config.requested = '' THEN
        RETURN;
    END IF;
    BEGIN
        v_requested := request_text_search_config.requested::regconfig;
    EXCEPTION WHEN undefined_object OR invalid_name OR syntax_error OR invalid_text_representation THEN
        RAISE EXCEPTION 'text_search_config % is not a text search configuration of this server (see \dF in psql)',
            request_text_search_config.requested USING ERRCODE = '22023';
    END;
    IF v_installed IS NOT NULL AND v_requested::text <> v_installed THEN
        RAISE EXCEPTION '--text-search-config % refused: this database was installed with text search configuration %, which is fixed',
            request_text_search_config.requested, v_installed
            USING ERRCODE = '22023',
                  HINT = 'use a new database, or write a migration that re-indexes the memories';
    END IF;
END
$$;

COMMENT ON FUNCTION mempg.request_text_search_config(text) IS
    'Raises 22023 unless the requested text search configuration exists and, once installed, is the installed one';
REVOKE ALL ON FUNCTION mempg.request_text_search_config(text) FROM PUBLIC;

-- mempg.request_embedding_type(): what `mempg apply --embedding-type TYPE` asks for, checked here
-- alone: vector (4-byte floats, the default) or halfvec (2-byte floats: half the storage and
-- index; components beyond +-65504 are refused), and on a database that chose one already (0024
-- applied), that one.
CREATE OR REPLACE FUNCTION mempg.request_embedding_type(requested text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_installed text := (SELECT s.value FROM mempg.settings AS s WHERE s.key = 'embedding_type');
BEGIN
    IF request_embedding_type.requested IS NULL OR request_embedding_type.requested = '' THEN
        RETURN;
    END IF;
    IF request_embedding_type.requested NOT IN ('vector', 'halfvec') THEN
        RAISE EXCEPTION 'embedding_type must be vector or halfvec, got %', request_embedding_type.requested
            USING ERRCODE = '22023';
    END IF;
    IF v_installed IS NOT NULL AND request_embedding_type.requested <> v_installed THEN
        RAISE EXCEPTION '--embedding-type % refused: this database was installed with embedding type %, which is fixed',
            request_embedding_type.requested, v_installed
            USING ERRCODE = '22023',
                  HINT = 'use a new database and import an export of this one (mempg export --jsonl)';
    END IF;
END
$$;

COMMENT ON FUNCTION mempg.request_embedding_type(text) IS
    'Raises 22023 unless the requested embedding type is vector or halfvec and, once installed, the installed one';
REVOKE ALL ON FUNCTION mempg.request_embedding_type(text) FROM PUBLIC;
