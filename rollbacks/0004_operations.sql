-- 0004_operations rollback: drop the ops views, functions and tables, and give the churning tables
-- PostgreSQL's default autovacuum settings back.
DROP FUNCTION ops.health_report(integer);
DROP FUNCTION ops.capacity_estimate();
DROP FUNCTION ops.vector_index_health(integer);
DROP FUNCTION ops.recommended_vector_parameters(text, bigint);
DROP FUNCTION ops.slow_queries(double precision, integer);
DROP VIEW ops.index_usage;
DROP VIEW ops.table_stats;
DROP VIEW ops.database_health;
DROP FUNCTION ops.replica_lag();
DROP FUNCTION ops.session_states();
DROP TABLE ops.settings;
DROP TABLE ops.thresholds;

ALTER TABLE memory.memories RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor,
                                   autovacuum_vacuum_insert_scale_factor);
ALTER TABLE memory.session_memories RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor);
ALTER TABLE app.chat_messages RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor);
ALTER TABLE app.audit_log RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor);
