-- memory.repair_mention_entities(user_id, dry_run): entities that extract_entity_names made of
-- grammar before 0019 and 0020, put right. Before them, "Hey John", "Thanks Nate", "I'm" and
-- "Good Morning" were names, linked as entities of type other (link_entities gives a bare name
-- that type), beside the John and Nate they meant.
-- A candidate is a live entity of type other that nothing but the extraction can have made: its
-- name is a capitalised span (every word capitalised), it is as its ADD left it (no aliases,
-- attributes, contact, embedding or person type, the default importance, no history row but its
-- ADD) and it has no facts and no interactions. Its name is read by today's rules
-- (memory.span_names, as a clause: greetings dropped, a single word kept):
--   MERGE   the name holds one other name ("Hey John" -> John): merged (memory.merge_entities,
--           so memory.unmerge_entity() undoes it) into the user's entity of that name
--           (memory.mentioned_entity), else into a new entity of type other; with no links it is
--           deleted instead, and no entity is made
--   DELETE  the name is only greetings and the pronoun I ("I'm", "Good Morning", "Thank You"):
--           soft-deleted (memory.delete_entity; its links stay, so restore_entity undoes it)
--   SKIP    the name holds several names: merge_entities() it by hand
-- Names today's rules read as they are, names that are only stop words ("The Who") and names
-- with the numeral I ("Elizabeth I") are not candidates. dry_run (the default) only lists the
-- actions, with the entity each MERGE would go into (NULL: a new one).
-- It takes the user's entity lock (upsert_entity.sql) and runs as the caller; a user the caller
-- may not read is refused (42501) before any lock.
-- search_path is pinned (pg_catalog, extensions, pg_temp), so a caller's own search_path never
-- changes what a name means.
CREATE OR REPLACE FUNCTION memory.repair_mention_entities(user_id text, dry_run boolean DEFAULT true)
RETURNS TABLE (entity_id uuid, name text, action text, names text[], into_id uuid, links bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    c_grammar constant text[] := memory.name_words('greeting') || memory.name_words('weak greeting')
                                 || memory.name_words('greeting tail');
    v_entity record;
BEGIN
    PERFORM memory.check_label(repair_mention_entities.user_id, 'user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    IF repair_mention_entities.dry_run IS NULL THEN
        RAISE EXCEPTION 'dry_run must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF memory.lookup_scope(repair_mention_entities.user_id) IS NULL THEN
        RAISE EXCEPTION 'user_id % is not a user whose entities this session may change',
            quote_literal(repair_mention_entities.user_id) USING ERRCODE = '42501';
    END IF;
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(repair_mention_entities.user_id));
    FOR v_entity IN
        SELECT e.id, e.name, memory.span_names(e.name, 'clause') AS names,
               (SELECT count(*) FROM memory.memory_entities AS me WHERE me.entity_id = e.id) AS links
        FROM memory.entities AS e
        WHERE e.user_id = repair_mention_entities.user_id AND e.entity_type = 'other'
          AND NOT e.is_deleted AND e.merged_into IS NULL
          AND e.name ~ '^[[:upper:]][[:alnum:]''’&-]*([[:blank:]]+[[:upper:]][[:alnum:]''’&-]*)*$'
          AND e.name !~ '(^|[[:blank:]])I($|[[:blank:]])'
          AND e.aliases = '{}' AND e.attributes = '{}' AND e.contact = '{}' AND e.importance = 0.5
          AND e.embedding IS NULL AND e.person_type IS NULL
          AND NOT EXISTS (SELECT 1 FROM memory.entity_history AS h WHERE h.entity_id = e.id AND h.event <> 'ADD')
          AND NOT EXISTS (SELECT 1 FROM memory.entity_relations AS r WHERE r.subject_id = e.id OR r.object_id = e.id)
          AND NOT EXISTS (SELECT 1 FROM memory.interactions AS i WHERE i.entity_id = e.id)
        ORDER BY e.created_at, e.id
    LOOP
        CONTINUE WHEN cardinality(v_entity.names) = 1
                      AND memory.normalize_entity_name(v_entity.names[1]) = memory.normalize_entity_name(v_entity.name);
        CONTINUE WHEN cardinality(v_entity.names) = 0
                      AND EXISTS (SELECT 1 FROM regexp_split_to_table(v_entity.name, '\s+') AS w
                                  WHERE lower(w) <> ALL (c_grammar) AND w !~ '^I([''’][[:alpha:]]+)?$');
        entity_id := v_entity.id;
        name := v_entity.name;
        names := v_entity.names;
        links := v_entity.links;
        into_id := NULL;
        action := CASE WHEN cardinality(v_entity.names) > 1 THEN 'SKIP'
                       WHEN cardinality(v_entity.names) = 0 OR v_entity.links = 0 THEN 'DELETE'
                       ELSE 'MERGE' END;
        IF action = 'MERGE' THEN
            into_id := (SELECT m.id FROM memory.mentioned_entity(repair_mention_entities.user_id,
                                                                 v_entity.names[1], '{}') AS m);
        END IF;
        IF NOT repair_mention_entities.dry_run AND action = 'MERGE' THEN
            IF into_id IS NULL THEN
                SELECT u.id INTO into_id FROM memory.upsert_entity(repair_mention_entities.user_id, v_entity.names[1]) AS u;
            END IF;
            PERFORM memory.merge_entities(into_id, v_entity.id);
        ELSIF NOT repair_mention_entities.dry_run AND action = 'DELETE' THEN
            PERFORM memory.delete_entity(v_entity.id);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION memory.repair_mention_entities(text, boolean) IS
    'Entities of type other that older extraction named by grammar ("Hey John", "I''m"): merged into the name they hold, or deleted; a dry run by default';

REVOKE ALL ON FUNCTION memory.repair_mention_entities(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.repair_mention_entities(text, boolean) TO authenticated, service_role;
