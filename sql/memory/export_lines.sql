-- memory.export_lines(user_id): a user's memories (or everyone's, with NULL) as JSON lines that
-- `mempg import --from jsonl` reads back as they were (0016). In a stable order: entities, then
-- memories (live and deleted, each with its history and entity links), relations, interactions.
--   {"type": "entity", "id", "user_id", "entity_type", "name", "aliases", "attributes", "contact",
--    "importance", "person_type", "embedding"}                      live entities only, and only
--                                   the links, facts and interactions of live entities
--   {"type": "memory", "id", "user_id", "agent_id", "run_id", "memory", "embedding", "metadata",
--    "categories", "memory_type", "source", "relevance_score", "expires_at", "created_at",
--    "updated_at", "version", "is_deleted", "deleted_at", "access_count", "last_accessed_at",
--    "decayed_at", "history": [{"event", "old_memory", "new_memory", "old_version", "new_version", "db_role",
--    "app_user_id", "created_at"}], "entities": [{"id", "role"}]}
--                                   and pending memories the same way: "embedding": null, "pending": true;
--                                   relevance_score as stored, as of the later of last_accessed_at
--                                   and decayed_at (memory.decayed_relevance() decays it to now)
--   {"type": "relation", "id", "user_id", "subject", "relation", "object" | "value", "fact",
--    "valid_from", "valid_to", "source_memory"}                     records not expired
--   {"type": "interaction", "id", "user_id", "entity", "summary", "occurred_at", "channel",
--    "metadata", "memories"}
-- Embeddings are JSON arrays of numbers. From psql:
--   \copy (SELECT line FROM memory.export_lines('alice') AS line) TO 'alice.jsonl'
-- Read as the caller: under row-level security an authenticated user exports their own rows,
-- service_role everyone's.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.export_lines(user_id text DEFAULT NULL)
RETURNS SETOF jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT line FROM (
        SELECT 1 AS part, e.created_at AS at, e.id, jsonb_build_object(
                   'type', 'entity', 'id', e.id, 'user_id', e.user_id, 'entity_type', e.entity_type,
                   'name', e.name, 'aliases', to_jsonb(e.aliases), 'attributes', e.attributes,
                   'contact', e.contact, 'importance', e.importance, 'person_type', e.person_type,
                   'embedding', to_jsonb(e.embedding::real[])) AS line
        FROM memory.entities AS e
        WHERE (export_lines.user_id IS NULL OR e.user_id = export_lines.user_id)
          AND NOT e.is_deleted AND e.merged_into IS NULL
        UNION ALL
        SELECT 2, m.created_at, m.id, jsonb_build_object(
                   'type', 'memory', 'id', m.id, 'user_id', m.user_id, 'agent_id', m.agent_id,
                   'run_id', m.run_id, 'memory', m.memory, 'embedding', to_jsonb(m.embedding::real[]),
                   'metadata', m.metadata, 'categories', to_jsonb(m.categories), 'memory_type', m.memory_type,
                   'source', m.source, 'relevance_score', m.relevance_score, 'expires_at', m.expires_at,
                   'created_at', m.created_at, 'updated_at', m.updated_at, 'version', m.version,
                   'is_deleted', m.is_deleted, 'deleted_at', m.deleted_at, 'access_count', m.access_count,
                   'last_accessed_at', m.last_accessed_at, 'decayed_at', m.decayed_at,
                   'history', coalesce((
                       SELECT jsonb_agg(jsonb_build_object(
                                  'event', h.event, 'old_memory', h.old_memory, 'new_memory', h.new_memory,
                                  'old_version', h.old_version, 'new_version', h.new_version,
                                  'db_role', h.db_role, 'app_user_id', h.app_user_id, 'created_at', h.created_at)
                              ORDER BY h.created_at, h.id)
                       FROM memory.memory_history AS h WHERE h.memory_id = m.id), '[]'),
                   'entities', coalesce((
                       SELECT jsonb_agg(jsonb_build_object('id', l.entity_id, 'role', l.role)
                                        ORDER BY l.entity_id, l.role)
                       FROM memory.memory_entities AS l
                       JOIN memory.entities AS le ON le.id = l.entity_id AND NOT le.is_deleted AND le.merged_into IS NULL
                       WHERE l.memory_id = m.id), '[]'))
        FROM memory.memories AS m
        WHERE export_lines.user_id IS NULL OR m.user_id = export_lines.user_id
        UNION ALL
        SELECT 2, p.created_at, p.id, jsonb_build_object(
                   'type', 'memory', 'id', p.id, 'user_id', p.user_id, 'agent_id', p.agent_id,
                   'run_id', p.run_id, 'memory', p.memory, 'embedding', NULL, 'metadata', p.metadata,
                   'categories', to_jsonb(p.categories), 'memory_type', p.memory_type, 'source', p.source,
                   'expires_at', p.expires_at, 'created_at', p.created_at, 'version', 1, 'history', '[]'::jsonb,
                   'entities', coalesce(p.entities, '[]'), 'pending', true)
        FROM memory.pending_memories AS p
        WHERE export_lines.user_id IS NULL OR p.user_id = export_lines.user_id
        UNION ALL
        SELECT 3, r.recorded_at, r.id, jsonb_strip_nulls(jsonb_build_object(
                   'type', 'relation', 'id', r.id, 'user_id', r.user_id, 'subject', r.subject_id,
                   'relation', r.relation, 'object', r.object_id, 'value', r.value, 'fact', r.fact,
                   'valid_from', r.valid_from, 'valid_to', r.valid_to, 'source_memory', r.source_memory_id))
        FROM memory.entity_relations AS r
        WHERE (export_lines.user_id IS NULL OR r.user_id = export_lines.user_id) AND r.expired_at IS NULL
          AND EXISTS (SELECT FROM memory.entities AS e WHERE e.id = r.subject_id AND NOT e.is_deleted AND e.merged_into IS NULL)
          AND (r.object_id IS NULL
               OR EXISTS (SELECT FROM memory.entities AS e WHERE e.id = r.object_id AND NOT e.is_deleted AND e.merged_into IS NULL))
        UNION ALL
        SELECT 4, i.occurred_at, i.id, jsonb_build_object(
                   'type', 'interaction', 'id', i.id, 'user_id', i.user_id, 'entity', i.entity_id,
                   'summary', i.summary, 'occurred_at', i.occurred_at, 'channel', i.channel,
                   'metadata', i.metadata,
                   'memories', coalesce((SELECT jsonb_agg(im.memory_id ORDER BY im.memory_id)
                                         FROM memory.interaction_memories AS im
                                         WHERE im.interaction_id = i.id), '[]'))
        FROM memory.interactions AS i
        WHERE (export_lines.user_id IS NULL OR i.user_id = export_lines.user_id)
          AND EXISTS (SELECT FROM memory.entities AS e WHERE e.id = i.entity_id AND NOT e.is_deleted AND e.merged_into IS NULL)
    ) AS lines
    ORDER BY part, at, id
$$;

COMMENT ON FUNCTION memory.export_lines(text) IS
    'A user''s (or everyone''s) entities, memories with history, relations and interactions as JSON lines for mempg import';
REVOKE ALL ON FUNCTION memory.export_lines(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.export_lines(text) TO authenticated, service_role;
