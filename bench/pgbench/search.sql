-- search_memories as an authenticated user, for one of their facts
\set u random(1, :users)
\set f random(1, :facts)
BEGIN;
SELECT set_config('app.user_id', 'u' || :u, true);
SET LOCAL ROLE authenticated;
SELECT count(*) FROM memory.search_memories(loadtest.vec(:u, :f, 1, 0), 'u' || :u, 5);
COMMIT;
