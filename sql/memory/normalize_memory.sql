-- Trigger memories_10_normalize (BEFORE INSERT OR UPDATE; runs first, names are ordered on purpose):
-- categories are normalised, then the row is checked against every rule and bound of
-- memory.settings (check_arguments.sql) before deduplication decides anything: a duplicate
-- (NOOP, UPDATE, MERGE) cancels the INSERT, so the table's CHECK constraints never see it, and an
-- add with an empty agent_id or a 1 MB run_id used to succeed whenever its text matched. This runs
-- before the generated columns are computed, so text too long for a tsvector gets 22001 here, not
-- 54000 there. On UPDATE only the changed columns are checked (touch and decay change none of
-- them). The table's CHECK constraints stay as the ceiling of each setting. Column names are the
-- parameter names of memory.add_memory(), so errors name the argument.
-- Then: a change of text or embedding bumps version unless the writer already did; updated_at
-- follows content changes.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.normalize_memory()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_settings memory.settings;
    v_insert boolean := TG_OP = 'INSERT';
BEGIN
    NEW.categories := memory.normalize_categories(coalesce(NEW.categories, '{}'));
    SELECT * INTO v_settings FROM memory.settings;
    IF v_insert OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM memory.check_label(NEW.user_id, 'user_id', v_settings.max_id_chars, true);
    END IF;
    IF v_insert OR NEW.agent_id IS DISTINCT FROM OLD.agent_id THEN
        PERFORM memory.check_label(NEW.agent_id, 'agent_id', v_settings.max_id_chars);
    END IF;
    IF v_insert OR NEW.run_id IS DISTINCT FROM OLD.run_id THEN
        PERFORM memory.check_label(NEW.run_id, 'run_id', v_settings.max_id_chars);
    END IF;
    IF v_insert OR NEW.memory_type IS DISTINCT FROM OLD.memory_type THEN
        PERFORM memory.check_label(NEW.memory_type, 'memory_type', v_settings.max_memory_type_chars);
    END IF;
    IF v_insert OR NEW.source IS DISTINCT FROM OLD.source THEN
        PERFORM memory.check_label(NEW.source, 'source', v_settings.max_source_chars);
    END IF;
    IF v_insert OR NEW.memory IS DISTINCT FROM OLD.memory THEN
        PERFORM memory.check_label(NEW.memory, 'memory', v_settings.max_memory_chars, true);
    END IF;
    IF v_insert OR NEW.embedding IS DISTINCT FROM OLD.embedding THEN
        PERFORM memory.check_embedding(NEW.embedding::vector, 'embedding');
    END IF;
    IF v_insert OR NEW.metadata IS DISTINCT FROM OLD.metadata THEN
        PERFORM memory.check_metadata(NEW.metadata, 'metadata', v_settings.max_metadata_bytes,
                                      v_settings.max_metadata_depth);
    END IF;
    IF v_insert OR NEW.categories IS DISTINCT FROM OLD.categories THEN
        PERFORM memory.check_categories(NEW.categories, 'categories', v_settings.max_categories,
                                        v_settings.max_category_chars);
    END IF;
    IF NOT v_insert THEN
        IF (NEW.memory IS DISTINCT FROM OLD.memory OR NEW.embedding IS DISTINCT FROM OLD.embedding)
           AND NEW.version = OLD.version THEN
            NEW.version := OLD.version + 1;
        END IF;
        IF (NEW.memory, NEW.metadata, NEW.categories, NEW.version, NEW.is_deleted, NEW.expires_at)
           IS DISTINCT FROM (OLD.memory, OLD.metadata, OLD.categories, OLD.version, OLD.is_deleted, OLD.expires_at)
        THEN
            NEW.updated_at := now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.normalize_memory() IS
    'Trigger: normalises categories, checks every rule and bound of memory.settings, bumps version on content change';
REVOKE ALL ON FUNCTION memory.normalize_memory() FROM PUBLIC;

DROP TRIGGER IF EXISTS memories_10_normalize ON memory.memories;
CREATE TRIGGER memories_10_normalize
    BEFORE INSERT OR UPDATE ON memory.memories
    FOR EACH ROW EXECUTE FUNCTION memory.normalize_memory();
