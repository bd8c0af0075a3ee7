-- memory.repair_mention_entities(user_id, dry_run): entities that extract_entity_names made of
-- grammar before 0019 and 0020, put right. Before them, "Hey John", "Thanks Nate", "I'm" and
-- "Good Morning" were names, linked as entities of type other (link_entities gives a bare name
-- that type), beside the John and Nate they meant. Each live entity of type other of the user
-- whose name, read by today's rules (memory.span_names, as if a greeting came before it so that a
-- single word stays a name), is not itself:
--   RELINK  the name holds other names ("Hey John" -> John): its links move to the entity each
--           of them stands for (the user's entity of that name, memory.mentioned_entity, else a
--           new one of type other), and it is deleted
--   DELETE  no name is left ("I'm", "Good Morning"): it is deleted, its links stay with it (so
--           memory.restore_entity() brings it back whole)
--   SKIP    it has facts or interactions (a person or a program wrote to it, not the extraction:
--           merge_entities() it by hand if it is one), or one of the names is its own alias
-- Deleted is memory.delete_entity()'s soft delete. dry_run (the default) only lists the actions.
-- It runs as the caller under the user's entity lock (upsert_entity.sql), so row-level security
-- keeps a user to their own entities.
-- search_path is pinned (pg_catalog, extensions, pg_temp), so a caller's own search_path never
-- changes what a name means.
CREATE OR REPLACE FUNCTION memory.repair_mention_entities(user_id text, dry_run boolean DEFAULT true)
RETURNS TABLE (entity_id uuid, name text, action text, names text[], into_ids uuid[], links bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_entity record;
    v_name text;
    v_target uuid;
BEGIN
    PERFORM memory.check_label(repair_mention_entities.user_id, 'user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    IF repair_mention_entities.dry_run IS NULL THEN
        RAISE EXCEPTION 'dry_run must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT repair_mention_entities.dry_run THEN
        PERFORM pg_advisory_xact_lock(memory.entity_lock_key(repair_mention_entities.user_id));
    END IF;
    FOR v_entity IN
        SELECT e.id, e.name, memory.span_names(e.name, true, greeted => true) AS names,
               EXISTS (SELECT 1 FROM memory.entity_relations AS r WHERE r.subject_id = e.id OR r.object_id = e.id)
               OR EXISTS (SELECT 1 FROM memory.interactions AS i WHERE i.entity_id = e.id) AS written_to,
               (SELECT count(*) FROM memory.memory_entities AS me WHERE me.entity_id = e.id) AS links
        FROM memory.entities AS e
        WHERE e.user_id = repair_mention_entities.user_id AND e.entity_type = 'other'
          AND NOT e.is_deleted AND e.merged_into IS NULL
        ORDER BY e.created_at, e.id
    LOOP
        CONTINUE WHEN cardinality(v_entity.names) = 1
                      AND memory.normalize_entity_name(v_entity.names[1]) = memory.normalize_entity_name(v_entity.name);
        entity_id := v_entity.id;
        name := v_entity.name;
        names := v_entity.names;
        links := v_entity.links;
        into_ids := '{}';
        action := CASE WHEN v_entity.written_to
                            -- one of its names is an alias of its own: it is that entity already
                            OR EXISTS (SELECT 1 FROM unnest(v_entity.names) AS n
                                       WHERE (SELECT m.id FROM memory.mentioned_entity(repair_mention_entities.user_id,
                                                                                       n, '{}') AS m) = v_entity.id)
                            THEN 'SKIP'
                       WHEN cardinality(v_entity.names) = 0 THEN 'DELETE' ELSE 'RELINK' END;
        IF NOT repair_mention_entities.dry_run AND action <> 'SKIP' THEN
            FOREACH v_name IN ARRAY v_entity.names LOOP
                v_target := (SELECT m.id FROM memory.mentioned_entity(repair_mention_entities.user_id, v_name, '{}') AS m);
                IF v_target IS NULL THEN
                    SELECT u.id INTO v_target FROM memory.upsert_entity(repair_mention_entities.user_id, v_name) AS u;
                END IF;
                into_ids := into_ids || v_target;
                INSERT INTO memory.memory_entities AS me (memory_id, entity_id, user_id, role, created_at)
                SELECT l.memory_id, v_target, l.user_id, l.role, l.created_at
                FROM memory.memory_entities AS l
                WHERE l.entity_id = v_entity.id
                ON CONFLICT DO NOTHING;
            END LOOP;
            IF action = 'RELINK' THEN
                DELETE FROM memory.memory_entities AS me WHERE me.entity_id = v_entity.id;
            END IF;
            PERFORM memory.delete_entity(v_entity.id);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.repair_mention_entities(text, boolean) IS
    'Entities of type other named by grammar before 0020 ("Hey John", "I''m"): relinked to the names they hold or deleted; dry run by default';

REVOKE ALL ON FUNCTION memory.repair_mention_entities(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.repair_mention_entities(text, boolean) TO authenticated, service_role;
