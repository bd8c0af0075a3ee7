-- memory.analyze_memory_tables(): ANALYZE of the memory tables for service_role, which does not
-- own them (ANALYZE needs ownership, or PostgreSQL 17's MAINTAIN privilege). SECURITY DEFINER with
-- a pinned search_path; it takes no arguments and does nothing else.
CREATE OR REPLACE FUNCTION memory.analyze_memory_tables()
RETURNS text[]
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    ANALYZE memory.memories, memory.memory_history, memory.session_memories;
    RETURN ARRAY['memory.memories', 'memory.memory_history', 'memory.session_memories'];
END
$$;

COMMENT ON FUNCTION memory.analyze_memory_tables() IS 'ANALYZE of the memory tables (owner rights, for service_role)';
REVOKE ALL ON FUNCTION memory.analyze_memory_tables() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.analyze_memory_tables() TO service_role;
