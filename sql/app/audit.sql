-- app.audit_change(): the AFTER trigger behind app.audit_log, on every user-data table (row level
-- for INSERT, UPDATE, DELETE; statement level for TRUNCATE). One row per change, in the same
-- transaction, so a rollback leaves none. Trigger arguments: the primary key columns (comma
-- separated), then columns never to copy into the log: secrets (API key ciphertext and nonce) and
-- bulky derived data (embeddings, tsvectors).
-- It runs as the acting role: authenticated may INSERT into the log only rows stamped with its own
-- role, app user and transaction (a policy checks it), and nobody but the owner may change it.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION app.audit_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_key_columns text[] := string_to_array(TG_ARGV[0], ',');
    v_hidden text[] := TG_ARGV[1:];
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO app.audit_log (table_name, operation)
        VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        v_old := to_jsonb(OLD) - v_hidden;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        v_new := to_jsonb(NEW) - v_hidden;
    END IF;
    v_row := coalesce(v_new, v_old);
    INSERT INTO app.audit_log (table_name, operation, row_key, old_row, new_row)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP,
            (SELECT jsonb_object_agg(k, v_row -> k) FROM unnest(v_key_columns) AS k),
            v_old, v_new);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION app.audit_change() IS
    'Trigger: one app.audit_log row per INSERT, UPDATE, DELETE and TRUNCATE, secrets left out';
REVOKE ALL ON FUNCTION app.audit_change() FROM PUBLIC;

-- The audit triggers, one table per line: (primary key columns, hidden columns).
DO $$
DECLARE
    v_table record;
BEGIN
    FOR v_table IN SELECT * FROM (VALUES
        ('app.users', 'id', ''),
        ('app.user_api_keys', 'id', 'ciphertext,nonce'),
        ('app.api_usage', 'user_id,provider,day', ''),
        ('app.chat_sessions', 'id', ''),
        ('app.chat_messages', 'id', ''),
        ('travel.trips', 'id', ''),
        ('travel.trip_collaborators', 'trip_id,user_id', ''),
        ('travel.flights', 'id', ''),
        ('travel.accommodations', 'id', ''),
        ('travel.activities', 'id', ''),
        ('memory.memories', 'id', 'embedding,fts'),
        ('memory.session_memories', 'id', 'embedding')
    ) AS t(name, key_columns, hidden)
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS audit_rows ON %s', v_table.name);
        EXECUTE format('CREATE TRIGGER audit_rows AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW'
                       ' EXECUTE FUNCTION app.audit_change(%L%s)', v_table.name, v_table.key_columns,
                       (SELECT coalesce(string_agg(format(', %L', h), ''), '')
                        FROM unnest(string_to_array(nullif(v_table.hidden, ''), ',')) AS h));
        EXECUTE format('DROP TRIGGER IF EXISTS audit_truncate ON %s', v_table.name);
        EXECUTE format('CREATE TRIGGER audit_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION app.audit_change(%L)', v_table.name, v_table.key_columns);
    END LOOP;
END
$$;
