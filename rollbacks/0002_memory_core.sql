-- 0002_memory_core rollback: drop everything 0002 created in schema memory (the schema itself
-- belongs to 0001). Tables go first: their triggers, policies and indexes go with them, and the
-- generated hash column stops depending on memory.text_hash(). memory.memory_history(uuid)
-- returns the history table's row type, so it goes before the table.
DROP FUNCTION memory.memory_history(uuid);
DROP TABLE memory.memory_history;
DROP TABLE memory.session_memories;
DROP TABLE memory.memories;

DROP FUNCTION memory.maintain_memory_performance();
DROP FUNCTION memory.analyze_memory_tables();
DROP FUNCTION memory.cleanup_expired_sessions();
DROP FUNCTION memory.cleanup_old_memories(interval, double precision, interval, integer);
DROP FUNCTION memory.decay_memories(interval);
DROP FUNCTION memory.touch_memories(uuid[]);
DROP FUNCTION memory.restore_memory(uuid);
DROP FUNCTION memory.delete_memory(uuid);
DROP FUNCTION memory.update_memory(uuid, text, vector, jsonb, text[]);
DROP FUNCTION memory.list_memories(text, text, text, timestamptz, uuid, integer);
DROP FUNCTION memory.get_memory(uuid);
DROP FUNCTION memory.add_memory(text, text, vector, jsonb, text[], text, text, text, timestamptz);
DROP FUNCTION memory.hybrid_search_memories(text, vector, text, integer, jsonb, text[], double precision, double precision, integer);
DROP FUNCTION memory.search_memories(vector, text, integer, jsonb, text[], double precision);
DROP FUNCTION memory.nearest_memory(vector, text, text);
DROP FUNCTION memory.search_memories_ann(vector, text, integer, jsonb, text[], double precision, text, boolean);
DROP FUNCTION memory.search_memories_exact(vector, text, integer, jsonb, text[], double precision, text, boolean);
DROP FUNCTION memory.scope_size(text, jsonb, text[], integer);
DROP FUNCTION memory.has_ann_index();
DROP FUNCTION memory.scope_lock_key(text, text);
DROP FUNCTION memory.check_count(integer, text, integer);
DROP FUNCTION memory.check_filters(jsonb, text[]);
DROP FUNCTION memory.check_embedding(vector, text);
DROP FUNCTION memory.embedding_dim();
DROP FUNCTION memory.record_memory_history();
DROP FUNCTION memory.deduplicate_memories();
DROP FUNCTION memory.normalize_memory();
DROP FUNCTION memory.default_session_expiry();
DROP FUNCTION memory.normalize_categories(text[]);
DROP FUNCTION memory.text_hash(text);
DROP FUNCTION memory.normalize_text(text);
DROP TYPE memory.memory_record;
DROP TABLE memory.settings;
