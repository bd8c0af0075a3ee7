-- memory.merge_entities(into_id, from_id): two entities found to be one ("NYC" and "New York
-- City"). Everything of from_id moves to into_id in one transaction: its links (a memory linked
-- to both keeps one link per role), its facts as subject and as object, its interactions; its
-- name and aliases become aliases of into_id; attributes and contact are merged (into_id's keys
-- win); importance is the higher. A fact of from_id that into_id already holds over an
-- overlapping interval is retracted rather than duplicated, and a fact between the two becomes
-- a fact about itself and is retracted too. Two different objects of a single-valued relation
-- at the same time (two employers) are a contradiction: the merge is refused (23P01) and
-- nothing changes; retract or close one of them first.
-- from_id is kept with merged_into = into_id, and the MERGE history row of from_id records what
-- moved; memory.unmerge_entity(from_id) moves it back and restores into_id's names and
-- attributes as they were before the merge. Ids of from_id keep working: get_entity, linking and
-- asserting follow merged_into. Both take the user's entity lock (memory.entity_lock_key, from
-- 0020) before the rows, so a name resolved at the same time sees the merge whole or not at all.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.merge_entities(into_id uuid, from_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_into memory.entities;
    v_from memory.entities;
    v_moved_links jsonb;
    v_dropped_links jsonb;
    v_folded uuid[];
    v_subjects uuid[];
    v_objects uuid[];
    v_interactions uuid[];
    v_details jsonb;
    v_constraint text;
BEGIN
    IF merge_entities.into_id IS NULL OR merge_entities.from_id IS NULL THEN
        RAISE EXCEPTION 'into_id and from_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF merge_entities.into_id = merge_entities.from_id THEN
        RAISE EXCEPTION 'into_id and from_id are the same entity' USING ERRCODE = '22023';
    END IF;
    -- the user's entity lock first (as upsert_entity: no name is resolved against a half-made
    -- merge), then both rows, in id order so that two opposite merges cannot deadlock
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))
    FROM memory.entities AS e WHERE e.id = merge_entities.into_id;
    PERFORM 1 FROM memory.entities AS e WHERE e.id IN (merge_entities.into_id, merge_entities.from_id)
    ORDER BY e.id FOR UPDATE;
    SELECT * INTO v_into FROM memory.entities AS e WHERE e.id = merge_entities.into_id;
    SELECT * INTO v_from FROM memory.entities AS e WHERE e.id = merge_entities.from_id;
    IF v_into.id IS NULL OR v_into.is_deleted OR v_into.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'into_id % is not a known live entity', merge_entities.into_id USING ERRCODE = '22023';
    END IF;
    IF v_from.id IS NULL OR v_from.is_deleted OR v_from.merged_into IS NOT NULL OR v_from.user_id <> v_into.user_id THEN
        RAISE EXCEPTION 'from_id % is not a known live entity of the same user', merge_entities.from_id
            USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('memory.entity_event', 'MERGE', true);

    -- links: moved, or dropped where into_id already has the same memory in the same role
    WITH moved AS (
        UPDATE memory.memory_entities AS me SET entity_id = v_into.id
        WHERE me.entity_id = v_from.id
          AND NOT EXISTS (SELECT 1 FROM memory.memory_entities AS x
                          WHERE x.entity_id = v_into.id AND x.memory_id = me.memory_id AND x.role = me.role)
        RETURNING me.memory_id, me.role
    )
    SELECT coalesce(jsonb_agg(jsonb_build_array(m.memory_id, m.role)), '[]') INTO v_moved_links FROM moved AS m;
    WITH dropped AS (
        DELETE FROM memory.memory_entities AS me WHERE me.entity_id = v_from.id RETURNING me.memory_id, me.role
    )
    SELECT coalesce(jsonb_agg(jsonb_build_array(d.memory_id, d.role)), '[]') INTO v_dropped_links FROM dropped AS d;

    -- facts: copies of into_id's facts and facts between the two are retracted, the rest move
    WITH folded AS (
        UPDATE memory.entity_relations AS r SET expired_at = now()
        WHERE r.expired_at IS NULL
          AND ((r.subject_id = v_from.id AND r.object_id = v_into.id)
               OR (r.subject_id = v_into.id AND r.object_id = v_from.id)
               OR (r.subject_id = v_from.id AND EXISTS (
                       SELECT 1 FROM memory.entity_relations AS x
                       WHERE x.subject_id = v_into.id AND x.expired_at IS NULL AND x.relation = r.relation
                         AND x.fact_key = r.fact_key AND x.valid && r.valid)))
        RETURNING r.id
    )
    SELECT coalesce(array_agg(f.id), '{}') INTO v_folded FROM folded AS f;
    BEGIN
        WITH moved AS (
            UPDATE memory.entity_relations AS r SET subject_id = v_into.id
            WHERE r.subject_id = v_from.id AND r.expired_at IS NULL RETURNING r.id
        )
        SELECT coalesce(array_agg(m.id), '{}') INTO v_subjects FROM moved AS m;
    EXCEPTION WHEN exclusion_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        RAISE EXCEPTION 'cannot merge: a single-valued fact of from_id overlaps a different one of into_id (%)', v_constraint
            USING ERRCODE = '23P01',
                  HINT = 'see memory.entity_facts() of both; retract or close one of the two facts, then merge again';
    END;
    WITH moved AS (
        UPDATE memory.entity_relations AS r SET object_id = v_into.id
        WHERE r.object_id = v_from.id AND r.expired_at IS NULL RETURNING r.id
    )
    SELECT coalesce(array_agg(m.id), '{}') INTO v_objects FROM moved AS m;

    -- the counters of both entities follow by the interactions trigger
    WITH moved AS (
        UPDATE memory.interactions AS i SET entity_id = v_into.id WHERE i.entity_id = v_from.id RETURNING i.id
    )
    SELECT coalesce(array_agg(m.id), '{}') INTO v_interactions FROM moved AS m;

    UPDATE memory.entities AS e
    SET merged_into = v_into.id, updated_at = now()
    WHERE e.id = v_from.id;
    UPDATE memory.entities AS e
    SET aliases = memory.merge_aliases(e.aliases, v_from.name, v_from.aliases,
                                       (SELECT s.max_aliases FROM memory.entity_resolution_settings AS s), e.name),
        attributes = v_from.attributes || e.attributes,
        contact = v_from.contact || e.contact,
        importance = greatest(e.importance, v_from.importance),
        embedding = coalesce(e.embedding, v_from.embedding),
        updated_at = now()
    WHERE e.id = v_into.id;

    v_details := jsonb_build_object(
        'into_id', v_into.id, 'from_id', v_from.id,
        'moved_links', v_moved_links, 'dropped_links', v_dropped_links,
        'moved_subject_facts', to_jsonb(v_subjects), 'moved_object_facts', to_jsonb(v_objects),
        'retracted_facts', to_jsonb(v_folded), 'moved_interactions', to_jsonb(v_interactions),
        'into_before', jsonb_build_object('aliases', to_jsonb(v_into.aliases), 'attributes', v_into.attributes,
                                          'contact', v_into.contact, 'importance', v_into.importance,
                                          'had_embedding', v_into.embedding IS NOT NULL));
    INSERT INTO memory.entity_history (entity_id, user_id, event, old_row, new_row, details)
    VALUES (v_from.id, v_from.user_id, 'MERGE', memory.entity_snapshot(v_from),
            (SELECT memory.entity_snapshot(e) FROM memory.entities AS e WHERE e.id = v_from.id), v_details),
           (v_into.id, v_into.user_id, 'MERGE', memory.entity_snapshot(v_into),
            (SELECT memory.entity_snapshot(e) FROM memory.entities AS e WHERE e.id = v_into.id), v_details);
    PERFORM set_config('memory.entity_event', '', true);
    RETURN v_details;
END
$$;

COMMENT ON FUNCTION memory.merge_entities(uuid, uuid) IS
    'Merges from_id into into_id (links, facts, interactions, names); from_id keeps merged_into; returns what moved';

CREATE OR REPLACE FUNCTION memory.unmerge_entity(from_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_from memory.entities;
    v_into memory.entities;
    v_details jsonb;
    v_interactions uuid[];
BEGIN
    IF unmerge_entity.from_id IS NULL THEN
        RAISE EXCEPTION 'from_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))
    FROM memory.entities AS e WHERE e.id = unmerge_entity.from_id;
    SELECT * INTO v_from FROM memory.entities AS e WHERE e.id = unmerge_entity.from_id FOR UPDATE;
    IF v_from.id IS NULL OR v_from.merged_into IS NULL THEN
        RAISE EXCEPTION 'from_id % is not a merged entity', unmerge_entity.from_id USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_into FROM memory.entities AS e WHERE e.id = v_from.merged_into FOR UPDATE;
    IF v_into.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'entity % was merged into % since: undo that merge first', v_into.id, v_into.merged_into
            USING ERRCODE = '55000';
    END IF;
    SELECT h.details INTO v_details FROM memory.entity_history AS h
    WHERE h.entity_id = v_from.id AND h.event = 'MERGE' ORDER BY h.id DESC LIMIT 1;
    PERFORM set_config('memory.entity_event', 'UNMERGE', true);

    BEGIN
        UPDATE memory.entities AS e SET merged_into = NULL, updated_at = now() WHERE e.id = v_from.id;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'entity % cannot come back: a live entity of that type has its name now', v_from.id
            USING ERRCODE = '23505', HINT = 'merge or rename that entity first';
    END;
    UPDATE memory.memory_entities AS me SET entity_id = v_from.id
    FROM jsonb_array_elements(v_details -> 'moved_links') AS l
    WHERE me.entity_id = v_into.id AND me.memory_id = (l ->> 0)::uuid AND me.role = l ->> 1;
    INSERT INTO memory.memory_entities (memory_id, entity_id, user_id, role)
    SELECT (l ->> 0)::uuid, v_from.id, v_from.user_id, l ->> 1
    FROM jsonb_array_elements(v_details -> 'dropped_links') AS l
    WHERE EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = (l ->> 0)::uuid)
    ON CONFLICT DO NOTHING;
    UPDATE memory.entity_relations AS r SET subject_id = v_from.id
    WHERE r.subject_id = v_into.id
      AND r.id IN (SELECT x::uuid FROM jsonb_array_elements_text(v_details -> 'moved_subject_facts') AS x);
    UPDATE memory.entity_relations AS r SET object_id = v_from.id
    WHERE r.object_id = v_into.id
      AND r.id IN (SELECT x::uuid FROM jsonb_array_elements_text(v_details -> 'moved_object_facts') AS x);
    UPDATE memory.entity_relations AS r SET expired_at = NULL
    WHERE r.id IN (SELECT x::uuid FROM jsonb_array_elements_text(v_details -> 'retracted_facts') AS x);
    WITH moved AS (
        UPDATE memory.interactions AS i SET entity_id = v_from.id
        WHERE i.entity_id = v_into.id
          AND i.id IN (SELECT x::uuid FROM jsonb_array_elements_text(v_details -> 'moved_interactions') AS x)
        RETURNING i.id
    )
    SELECT coalesce(array_agg(m.id), '{}') INTO v_interactions FROM moved AS m;
    UPDATE memory.entities AS e
    SET aliases = ARRAY(SELECT jsonb_array_elements_text(v_details #> '{into_before,aliases}')),
        attributes = v_details #> '{into_before,attributes}',
        contact = v_details #> '{into_before,contact}',
        importance = (v_details #>> '{into_before,importance}')::real,
        embedding = CASE WHEN (v_details #>> '{into_before,had_embedding}')::boolean THEN e.embedding END,
        updated_at = now()
    WHERE e.id = v_into.id;
    INSERT INTO memory.entity_history (entity_id, user_id, event, old_row, new_row, details)
    SELECT x.id, x.user_id, 'UNMERGE', NULL, memory.entity_snapshot(x), v_details
    FROM memory.entities AS x WHERE x.id IN (v_from.id, v_into.id);
    PERFORM set_config('memory.entity_event', '', true);
    RETURN v_details;
END
$$;

COMMENT ON FUNCTION memory.unmerge_entity(uuid) IS
    'Undoes the last merge of from_id: moves its links, facts and interactions back, restores the survivor''s names';

REVOKE ALL ON FUNCTION memory.merge_entities(uuid, uuid), memory.unmerge_entity(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.merge_entities(uuid, uuid), memory.unmerge_entity(uuid) TO authenticated, service_role;
