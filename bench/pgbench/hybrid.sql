-- hybrid_search_memories (full text + vector, fused) as an authenticated user
\set u random(1, :users)
\set f random(1, :facts)
BEGIN;
SELECT set_config('app.user_id', 'u' || :u, true);
SET LOCAL ROLE authenticated;
SELECT count(*) FROM memory.hybrid_search_memories('fact number ' || :f, loadtest.vec(:u, :f, 1, 0), 'u' || :u, 10);
COMMIT;
