-- add_memory as an authenticated user: exact duplicates, near-duplicates (UPDATE, MERGE) and new facts
\set u random(1, :users)
\set f random(1, :facts)
\set kind random(1, 10)
\set n random(1, 1000000000)
BEGIN;
SELECT set_config('app.user_id', 'u' || :u, true);
SET LOCAL ROLE authenticated;
INSERT INTO loadtest.events (memory_id, event, app_user)
SELECT a.id, a.event, current_setting('app.user_id')
FROM memory.add_memory('u' || :u, loadtest.fact_text(:u, :f, :kind, :n), loadtest.vec(:u, :f, :kind, :n),
                       '{"source": "loadtest"}', '{load}') AS a;
COMMIT;
