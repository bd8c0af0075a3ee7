-- 0003_app_schema rollback: drop what 0003 created in schemas app and travel, and its triggers on
-- the memory tables (audit). Tables go first with their triggers, policies and indexes.
DROP TRIGGER audit_rows ON memory.memories;
DROP TRIGGER audit_truncate ON memory.memories;
DROP TRIGGER audit_rows ON memory.session_memories;
DROP TRIGGER audit_truncate ON memory.session_memories;

DROP VIEW app.my_api_keys;
DROP FUNCTION app.list_chat_messages(uuid, bigint, integer);
DROP FUNCTION app.record_api_usage(uuid, text, integer, bigint, numeric, date);
DROP TABLE travel.activities, travel.accommodations, travel.flights, travel.trip_collaborators, travel.trips,
    travel.airports;
DROP TABLE app.chat_messages, app.chat_sessions, app.api_usage, app.user_api_keys, app.users, app.audit_log;

DROP FUNCTION travel.my_trip_ids(text);
DROP FUNCTION travel.check_trip_status();
DROP FUNCTION app.notify_change();
DROP FUNCTION app.user_channel(uuid);
DROP FUNCTION app.audit_change();
DROP FUNCTION app.chat_session_counters();
DROP FUNCTION app.chat_message_defaults();
DROP FUNCTION app.touch_updated_at();
DROP FUNCTION app.user_preferences(uuid);
DROP FUNCTION app.default_preferences();
DROP FUNCTION app.jsonb_deep_merge(jsonb, jsonb);
DROP FUNCTION app.current_user_uuid();
