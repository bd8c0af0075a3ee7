-- Trigger entities_30_history (AFTER INSERT OR UPDATE): one memory.entity_history row per ADD,
-- UPDATE, DELETE and RESTORE of an entity, in the same transaction, with the database role and
-- the app user. The old and new rows are recorded without the embedding and the tsvector.
-- Changes of the interaction counters alone (kept by the interactions trigger) do not fire it (the
-- trigger lists the columns it records), and an UPDATE that changes none of them writes nothing;
-- merges and their undo write their own MERGE and UNMERGE rows, with what moved, and say so in
-- the transaction-local setting memory.entity_event.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.entity_snapshot(entity memory.entities)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT to_jsonb(entity_snapshot.entity) - ARRAY['embedding', 'fts', 'interaction_count', 'last_interaction_at']
           || jsonb_build_object('has_embedding', (entity_snapshot.entity).embedding IS NOT NULL)
$$;

COMMENT ON FUNCTION memory.entity_snapshot(memory.entities) IS
    'An entity as its history records it: without embedding, tsvector and counters';

CREATE OR REPLACE FUNCTION memory.record_entity_history()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_event text;
    v_old jsonb;
    v_new jsonb := memory.entity_snapshot(NEW);
BEGIN
    IF coalesce(current_setting('memory.entity_event', true), '') <> '' THEN
        RETURN NULL;  -- merge_entities() / unmerge_entity() record the change themselves
    END IF;
    IF TG_OP = 'INSERT' THEN
        v_event := 'ADD';
    ELSE
        v_old := memory.entity_snapshot(OLD);
        IF (v_old - 'updated_at') = (v_new - 'updated_at') THEN
            RETURN NULL;  -- counters or updated_at alone
        END IF;
        v_event := CASE WHEN NOT OLD.is_deleted AND NEW.is_deleted THEN 'DELETE'
                        WHEN OLD.is_deleted AND NOT NEW.is_deleted THEN 'RESTORE'
                        ELSE 'UPDATE' END;
    END IF;
    INSERT INTO memory.entity_history (entity_id, user_id, event, old_row, new_row)
    VALUES (NEW.id, NEW.user_id, v_event, v_old, v_new);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION memory.record_entity_history() IS
    'Trigger: writes entity_history rows for ADD, UPDATE, DELETE and RESTORE of an entity';

-- memory.entity_history_of(): an entity's history, oldest first, as its user sees it.
CREATE OR REPLACE FUNCTION memory.entity_history_of(entity_id uuid)
RETURNS SETOF memory.entity_history
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT h.* FROM memory.entity_history AS h WHERE h.entity_id = entity_history_of.entity_id ORDER BY h.id
$$;

COMMENT ON FUNCTION memory.entity_history_of(uuid) IS 'The history of one entity, oldest first';

REVOKE ALL ON FUNCTION memory.entity_snapshot(memory.entities), memory.record_entity_history(),
    memory.entity_history_of(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.entity_snapshot(memory.entities), memory.entity_history_of(uuid)
    TO authenticated, service_role;

DROP TRIGGER IF EXISTS entities_30_history ON memory.entities;
CREATE TRIGGER entities_30_history
    AFTER INSERT OR UPDATE OF entity_type, person_type, name, aliases, attributes, contact, importance, embedding,
                              is_deleted, deleted_at, merged_into ON memory.entities
    FOR EACH ROW EXECUTE FUNCTION memory.record_entity_history();
