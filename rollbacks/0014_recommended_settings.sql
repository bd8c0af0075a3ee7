-- 0014_recommended_settings rollback: no ops.recommended_settings(). The embedded server's
-- mempg.conf, written by the runner, is configuration, not schema: it stays.
DROP FUNCTION ops.recommended_settings(text, integer, text, integer);
