-- Facts about entities, with time (memory.entity_relations). valid_from/valid_to is when the fact
-- held in the world ([valid_from, valid_to), NULL: still holds); recorded_at when mempg learnt it;
-- expired_at when the record was retracted (a correction: it never held). The temporal keys
-- refuse, for one subject, two overlapping objects of a single-valued relation
-- (one_object_at_a_time) and two overlapping copies of one fact (one_copy_of_a_fact).
-- memory.assert_fact() states a fact and keeps the timeline consistent in one call, under an
-- advisory lock per (subject, relation):
--   the same fact already holding over the whole interval      -> NOOP (its id)
--   the same fact overlapping or adjacent                     -> EXTEND: those records are
--                                                                 retracted and one record of
--                                                                 the union is written
--   single-valued, another object holding since before        -> SUPERSEDE: its interval is
--                                                                 closed at the new valid_from
--                                                                 (and continues after a
--                                                                 bounded new fact)
--   single-valued, another object starting later              -> the new fact ends where it starts
--   single-valued, another object starting at the same time   -> it is retracted (a correction)
--   otherwise                                                 -> ADD
-- Facts of other relations and other subjects are never touched; disjoint intervals of one fact
-- stay separate records. valid_from defaults to the source memory's created_at, never to now():
-- without either, the call is refused.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
-- memory.fact_key(): what "the same fact" means: its relation and its object, or its value as
-- memory text is compared (memory.normalize_text). The trigger stores it (fact_key), assert_fact()
-- looks a fact up by it, and merge_entities() folds the copies it finds by it.
CREATE OR REPLACE FUNCTION memory.fact_key(relation text, object_id uuid, value text)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT fact_key.relation || chr(31) || coalesce(fact_key.object_id::text, chr(31) || memory.normalize_text(fact_key.value))
$$;

COMMENT ON FUNCTION memory.fact_key(text, uuid, text) IS 'Key of a fact: relation and object, or relation and normalised value';

CREATE OR REPLACE FUNCTION memory.prepare_entity_relation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF NEW.source_memory_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.source_memory_id IS DISTINCT FROM OLD.source_memory_id)
       AND NOT EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = NEW.source_memory_id AND m.user_id = NEW.user_id) THEN
        RAISE EXCEPTION 'source_memory_id % is not a memory of user %', NEW.source_memory_id, NEW.user_id
            USING ERRCODE = '23503';
    END IF;
    NEW.single_key := CASE WHEN NEW.expired_at IS NULL
                                AND (SELECT k.single_valued FROM memory.relation_kinds AS k WHERE k.name = NEW.relation)
                           THEN NEW.relation END;
    NEW.fact_key := CASE WHEN NEW.expired_at IS NULL THEN memory.fact_key(NEW.relation, NEW.object_id, NEW.value) END;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.prepare_entity_relation() IS
    'Trigger: the temporal keys of a fact (single_key, fact_key) and its source memory''s owner';

DROP TRIGGER IF EXISTS entity_relations_10_prepare ON memory.entity_relations;
CREATE TRIGGER entity_relations_10_prepare
    BEFORE INSERT OR UPDATE ON memory.entity_relations
    FOR EACH ROW EXECUTE FUNCTION memory.prepare_entity_relation();

-- A relation kind in use cannot change between single- and multi-valued: the facts already
-- recorded were checked against the other rule.
CREATE OR REPLACE FUNCTION memory.guard_relation_kind()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF NEW.single_valued IS DISTINCT FROM OLD.single_valued
       AND EXISTS (SELECT 1 FROM memory.entity_relations AS r WHERE r.relation = OLD.name) THEN
        RAISE EXCEPTION 'relation kind % is in use: single_valued cannot change', OLD.name
            USING ERRCODE = '55000', HINT = 'add a new relation kind instead';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION memory.guard_relation_kind() IS 'Trigger: single_valued of a relation kind in use is fixed (55000)';

DROP TRIGGER IF EXISTS relation_kinds_10_guard ON memory.relation_kinds;
CREATE TRIGGER relation_kinds_10_guard
    BEFORE UPDATE ON memory.relation_kinds
    FOR EACH ROW EXECUTE FUNCTION memory.guard_relation_kind();

CREATE OR REPLACE FUNCTION memory.assert_fact(
    subject_id uuid,
    relation text,
    object_id uuid DEFAULT NULL,
    value text DEFAULT NULL,
    fact text DEFAULT NULL,
    valid_from timestamptz DEFAULT NULL,
    valid_to timestamptz DEFAULT NULL,
    source_memory_id uuid DEFAULT NULL,
    embedding vector DEFAULT NULL)
RETURNS TABLE (id uuid, event text, closed uuid[])
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_subject memory.entities;
    v_object_id uuid;
    v_single boolean;
    v_from timestamptz := assert_fact.valid_from;
    v_to timestamptz := assert_fact.valid_to;
    v_key text;
    v_same uuid[];
    v_closed uuid[] := '{}';
    v_covering uuid;
    v_conflict memory.entity_relations;
    v_id uuid;
    v_event text := 'ADD';
BEGIN
    IF assert_fact.subject_id IS NULL THEN
        RAISE EXCEPTION 'subject_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- the user's entity lock before any entity row (upsert_entity.sql; from 0020)
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(e.user_id))
    FROM memory.entities AS e WHERE e.id = assert_fact.subject_id;
    SELECT * INTO v_subject FROM memory.entities AS e
    WHERE e.id = memory.live_entity_id(assert_fact.subject_id) AND NOT e.is_deleted;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subject_id % is not a known live entity', assert_fact.subject_id USING ERRCODE = '22023';
    END IF;
    SELECT k.single_valued INTO v_single FROM memory.relation_kinds AS k WHERE k.name = assert_fact.relation;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation % is not a known relation kind', coalesce(quote_literal(assert_fact.relation), 'NULL')
            USING ERRCODE = '22023', HINT = 'the kinds are the rows of memory.relation_kinds; service_role adds more';
    END IF;
    IF (assert_fact.object_id IS NULL) = (assert_fact.value IS NULL) THEN
        RAISE EXCEPTION 'give exactly one of object_id (an entity) and value (a text)' USING ERRCODE = '22023';
    END IF;
    IF assert_fact.object_id IS NOT NULL THEN
        SELECT e.id INTO v_object_id FROM memory.entities AS e
        WHERE e.id = memory.live_entity_id(assert_fact.object_id) AND NOT e.is_deleted AND e.user_id = v_subject.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'object_id % is not a known live entity of the subject''s user', assert_fact.object_id
                USING ERRCODE = '22023';
        END IF;
        IF v_object_id = v_subject.id THEN
            RAISE EXCEPTION 'object_id is the subject itself' USING ERRCODE = '22023';
        END IF;
    ELSE
        PERFORM memory.check_label(assert_fact.value, 'value', 1000, true);
    END IF;
    PERFORM memory.check_label(assert_fact.fact, 'fact', (SELECT s.max_memory_chars FROM memory.settings AS s));
    IF assert_fact.embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(assert_fact.embedding, 'embedding');
    END IF;
    IF assert_fact.source_memory_id IS NOT NULL THEN
        SELECT coalesce(v_from, m.created_at) INTO v_from FROM memory.memories AS m
        WHERE m.id = assert_fact.source_memory_id AND m.user_id = v_subject.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'source_memory_id % is not a memory of the subject''s user', assert_fact.source_memory_id
                USING ERRCODE = '22023';
        END IF;
    END IF;
    IF v_from IS NULL THEN
        RAISE EXCEPTION 'valid_from is required when no source_memory_id is given'
            USING ERRCODE = '22023', HINT = 'a fact''s start is when it became true, not when it was recorded';
    END IF;
    IF NOT isfinite(v_from) AND v_from > 'epoch' THEN
        RAISE EXCEPTION 'valid_from must not be infinity' USING ERRCODE = '22023';
    END IF;
    IF v_to IS NOT NULL AND v_to <= v_from THEN
        RAISE EXCEPTION 'valid_to (%) must be after valid_from (%)', v_to, v_from USING ERRCODE = '22023';
    END IF;
    IF v_to = 'infinity' THEN
        v_to := NULL;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtextextended('memory.fact' || chr(31) || v_subject.id::text || chr(31)
                                                   || assert_fact.relation, 0));
    v_key := memory.fact_key(assert_fact.relation, v_object_id, assert_fact.value);

    -- the same fact: already holding over the whole interval, or overlapping / adjacent
    SELECT r.id INTO v_covering FROM memory.entity_relations AS r
    WHERE r.subject_id = v_subject.id AND r.relation = assert_fact.relation AND r.fact_key = v_key
      AND r.expired_at IS NULL AND r.valid @> tstzrange(v_from, v_to, '[)');
    IF FOUND THEN
        RETURN QUERY SELECT v_covering, 'NOOP'::text, '{}'::uuid[];
        RETURN;
    END IF;
    SELECT array_agg(r.id), least(min(r.valid_from), v_from),
           CASE WHEN bool_or(r.valid_to IS NULL) OR v_to IS NULL THEN NULL ELSE greatest(max(r.valid_to), v_to) END
    INTO v_same, v_from, v_to
    FROM memory.entity_relations AS r
    WHERE r.subject_id = v_subject.id AND r.relation = assert_fact.relation AND r.fact_key = v_key
      AND r.expired_at IS NULL AND (r.valid && tstzrange(v_from, v_to, '[)') OR r.valid -|- tstzrange(v_from, v_to, '[)'));
    IF v_same IS NOT NULL THEN
        UPDATE memory.entity_relations AS r SET expired_at = now() WHERE r.id = ANY (v_same);
        v_closed := v_same;
        v_event := 'EXTEND';
    END IF;

    IF v_single THEN
        -- another object starting later: the new fact ends where the first of them starts
        SELECT least(v_to, min(r.valid_from)) INTO v_to FROM memory.entity_relations AS r
        WHERE r.subject_id = v_subject.id AND r.single_key = assert_fact.relation
          AND r.valid_from > v_from AND (v_to IS NULL OR r.valid_from < v_to);
        -- another object starting at the same time: a correction, the old record is retracted
        FOR v_conflict IN
            UPDATE memory.entity_relations AS r SET expired_at = now()
            WHERE r.subject_id = v_subject.id AND r.single_key = assert_fact.relation AND r.valid_from = v_from
            RETURNING r.*
        LOOP
            v_closed := v_closed || v_conflict.id;
            v_event := 'SUPERSEDE';
        END LOOP;
        -- another object holding since before: closed at v_from, continued after a bounded fact
        FOR v_conflict IN
            SELECT r.* FROM memory.entity_relations AS r
            WHERE r.subject_id = v_subject.id AND r.single_key = assert_fact.relation
              AND r.valid && tstzrange(v_from, v_to, '[)') AND r.valid_from < v_from
            FOR UPDATE
        LOOP
            UPDATE memory.entity_relations AS r SET valid_to = v_from WHERE r.id = v_conflict.id;
            IF v_to IS NOT NULL AND (v_conflict.valid_to IS NULL OR v_conflict.valid_to > v_to) THEN
                INSERT INTO memory.entity_relations (user_id, subject_id, relation, object_id, value, fact, embedding,
                                                     valid_from, valid_to, recorded_at, source_memory_id)
                VALUES (v_conflict.user_id, v_conflict.subject_id, v_conflict.relation, v_conflict.object_id,
                        v_conflict.value, v_conflict.fact, v_conflict.embedding, v_to, v_conflict.valid_to,
                        v_conflict.recorded_at, v_conflict.source_memory_id);
            END IF;
            v_closed := v_closed || v_conflict.id;
            v_event := 'SUPERSEDE';
        END LOOP;
    END IF;

    INSERT INTO memory.entity_relations AS r (user_id, subject_id, relation, object_id, value, fact, embedding,
                                              valid_from, valid_to, source_memory_id)
    VALUES (v_subject.user_id, v_subject.id, assert_fact.relation, v_object_id, btrim(assert_fact.value),
            assert_fact.fact, assert_fact.embedding, v_from, v_to, assert_fact.source_memory_id)
    RETURNING r.id INTO v_id;
    RETURN QUERY SELECT v_id, v_event, v_closed;
END
$$;

COMMENT ON FUNCTION memory.assert_fact(uuid, text, uuid, text, text, timestamptz, timestamptz, uuid, vector) IS
    'States a fact about an entity with its validity; closes what it supersedes; returns id, ADD/NOOP/EXTEND/SUPERSEDE and the closed ids';

CREATE OR REPLACE FUNCTION memory.retract_fact(fact_id uuid)
RETURNS TABLE (id uuid, event text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF retract_fact.fact_id IS NULL THEN
        RAISE EXCEPTION 'fact_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM pg_advisory_xact_lock(memory.entity_lock_key(r.user_id))
    FROM memory.entity_relations AS r WHERE r.id = retract_fact.fact_id;
    RETURN QUERY
    UPDATE memory.entity_relations AS r SET expired_at = now()
    WHERE r.id = retract_fact.fact_id AND r.expired_at IS NULL
    RETURNING r.id, 'RETRACT'::text;
END
$$;

COMMENT ON FUNCTION memory.retract_fact(uuid) IS
    'Marks a fact record as wrong (expired_at): it leaves every timeline; no row when unknown or already retracted';

-- memory.current_facts: the facts holding now, between live entities: what search reads.
CREATE OR REPLACE VIEW memory.current_facts WITH (security_invoker = true) AS
SELECT r.id, r.user_id, r.subject_id, s.name AS subject, r.relation, r.object_id, o.name AS object, r.value,
       r.fact, r.valid_from, r.valid_to, r.recorded_at, r.source_memory_id
FROM memory.entity_relations AS r
JOIN memory.entities AS s ON s.id = r.subject_id AND NOT s.is_deleted AND s.merged_into IS NULL
LEFT JOIN memory.entities AS o ON o.id = r.object_id
WHERE r.expired_at IS NULL AND r.valid @> now()
  AND (r.object_id IS NULL OR (NOT o.is_deleted AND o.merged_into IS NULL));
COMMENT ON VIEW memory.current_facts IS 'Facts holding now between live entities (not retracted, valid now)';

-- memory.entity_facts(): the facts about an entity (as subject or object) holding at as_of
-- (default now), or its whole timeline with include_past; retracted records never.
CREATE OR REPLACE FUNCTION memory.entity_facts(entity_id uuid, as_of timestamptz DEFAULT NULL,
                                               include_past boolean DEFAULT false)
RETURNS TABLE (id uuid, subject_id uuid, subject text, relation text, object_id uuid, object text, value text,
               fact text, valid_from timestamptz, valid_to timestamptz, recorded_at timestamptz,
               source_memory_id uuid)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_live uuid;
BEGIN
    IF entity_facts.entity_id IS NULL THEN
        RAISE EXCEPTION 'entity_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    v_live := memory.live_entity_id(entity_facts.entity_id);
    RETURN QUERY
    SELECT r.id, r.subject_id, s.name, r.relation, r.object_id, o.name, r.value, r.fact, r.valid_from, r.valid_to,
           r.recorded_at, r.source_memory_id
    FROM (SELECT * FROM memory.entity_relations AS x WHERE x.subject_id = v_live AND x.expired_at IS NULL
          UNION ALL
          SELECT * FROM memory.entity_relations AS x WHERE x.object_id = v_live AND x.expired_at IS NULL) AS r
    JOIN memory.entities AS s ON s.id = r.subject_id
    LEFT JOIN memory.entities AS o ON o.id = r.object_id
    WHERE entity_facts.include_past OR r.valid @> coalesce(entity_facts.as_of, now())
    ORDER BY r.relation, r.valid_from, r.id;
END
$$;

COMMENT ON FUNCTION memory.entity_facts(uuid, timestamptz, boolean) IS
    'Facts about an entity holding at as_of (default now), or its whole timeline with include_past';

REVOKE ALL ON FUNCTION memory.fact_key(text, uuid, text), memory.prepare_entity_relation(), memory.guard_relation_kind(),
    memory.assert_fact(uuid, text, uuid, text, text, timestamptz, timestamptz, uuid, vector),
    memory.retract_fact(uuid), memory.entity_facts(uuid, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.fact_key(text, uuid, text), memory.assert_fact(uuid, text, uuid, text, text, timestamptz, timestamptz, uuid, vector),
    memory.retract_fact(uuid), memory.entity_facts(uuid, timestamptz, boolean) TO authenticated, service_role;
