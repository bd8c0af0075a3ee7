-- Chat: app.chat_message_defaults() (BEFORE INSERT on chat_messages) copies the session's user onto
-- the message, so policies filter messages by an indexed column without a join, and refuses
-- (42501) a session the writer cannot see. app.chat_session_counters() (AFTER INSERT OR DELETE) keeps
-- message_count and last_activity of the session. app.list_chat_messages() pages a session's
-- messages newest first with a keyset cursor (the id of the last message seen).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION app.chat_message_defaults()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    SELECT s.user_id INTO NEW.user_id FROM app.chat_sessions AS s WHERE s.id = NEW.session_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'chat session % does not exist or is not yours', NEW.session_id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION app.chat_message_defaults() IS 'Trigger: a message belongs to the user of its session';

CREATE OR REPLACE FUNCTION app.chat_session_counters()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE app.chat_sessions AS s
        SET message_count = s.message_count + 1, last_activity = greatest(s.last_activity, NEW.created_at)
        WHERE s.id = NEW.session_id;
    ELSE
        UPDATE app.chat_sessions AS s SET message_count = s.message_count - 1 WHERE s.id = OLD.session_id;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION app.chat_session_counters() IS 'Trigger: keeps chat_sessions.message_count and last_activity';

DROP TRIGGER IF EXISTS chat_messages_10_defaults ON app.chat_messages;
CREATE TRIGGER chat_messages_10_defaults
    BEFORE INSERT ON app.chat_messages
    FOR EACH ROW EXECUTE FUNCTION app.chat_message_defaults();
DROP TRIGGER IF EXISTS chat_messages_20_counters ON app.chat_messages;
CREATE TRIGGER chat_messages_20_counters
    AFTER INSERT OR DELETE ON app.chat_messages
    FOR EACH ROW EXECUTE FUNCTION app.chat_session_counters();

CREATE OR REPLACE FUNCTION app.list_chat_messages(session_id uuid, before_id bigint DEFAULT NULL,
                                                  page_size integer DEFAULT 50)
RETURNS SETOF app.chat_messages
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF list_chat_messages.session_id IS NULL THEN
        RAISE EXCEPTION 'session_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF list_chat_messages.page_size IS NULL OR list_chat_messages.page_size NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 1000, got %', coalesce(list_chat_messages.page_size::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT m.* FROM app.chat_messages AS m
    WHERE m.session_id = list_chat_messages.session_id
      AND (list_chat_messages.before_id IS NULL OR m.id < list_chat_messages.before_id)
    ORDER BY m.id DESC
    LIMIT list_chat_messages.page_size;
END
$$;

COMMENT ON FUNCTION app.list_chat_messages(uuid, bigint, integer) IS
    'A page of a chat session''s messages, newest first; pass the last id seen as before_id';
REVOKE ALL ON FUNCTION app.chat_message_defaults(), app.chat_session_counters(),
    app.list_chat_messages(uuid, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.list_chat_messages(uuid, bigint, integer) TO authenticated, service_role;
