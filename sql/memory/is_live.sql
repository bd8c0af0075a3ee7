-- The predicates every reader of memory.memories shares.
-- memory.is_live(): the one definition of a live memory, which every reader (search, hybrid
-- search, get, list) asks for: not soft-deleted and not expired. Writers differ on purpose: the
-- unique index on the normalised text and deduplication count a memory as present until it is
-- deleted, expired or not (adding an expired memory again revives it as a NOOP), and search's
-- routing counts the user's rows not deleted (an upper bound, from the index alone).
-- No SET clause, so the planner inlines it and still matches the partial indexes (WHERE NOT
-- is_deleted): its body uses built-ins only.
CREATE OR REPLACE FUNCTION memory.is_live(is_deleted boolean, expires_at timestamptz)
RETURNS boolean
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT NOT is_live.is_deleted AND (is_live.expires_at IS NULL OR is_live.expires_at > now())
$$;

COMMENT ON FUNCTION memory.is_live(boolean, timestamptz) IS 'A memory is live: not deleted and not expired';

-- memory.same_agent(): the one definition of the agent scope: memories of one user belong to
-- one scope per agent, and those without an agent to a scope of their own. Written as the
-- expression of the unique index (coalesce(agent_id, '')), which an inlined call still matches;
-- an empty agent_id is refused on write, so '' cannot stand for "no agent" in the data.
CREATE OR REPLACE FUNCTION memory.same_agent(agent_id text, other_agent_id text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(same_agent.agent_id, '') = coalesce(same_agent.other_agent_id, '')
$$;

COMMENT ON FUNCTION memory.same_agent(text, text) IS 'Whether two agent ids are the same scope (NULL: no agent)';

-- memory.matches_filters(): the one definition of the search filters: metadata containing
-- metadata_filter and categories overlapping category_filter, an empty filter matching all.
-- Inlined like the two above; the empty cases are spelled out so that no GIN scan of the whole
-- index answers `metadata @> '{}'`.
CREATE OR REPLACE FUNCTION memory.matches_filters(metadata jsonb, categories text[], metadata_filter jsonb,
                                                  category_filter text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (matches_filters.metadata_filter = '{}'::jsonb OR matches_filters.metadata @> matches_filters.metadata_filter)
       AND (cardinality(matches_filters.category_filter) = 0 OR matches_filters.categories && matches_filters.category_filter)
$$;

COMMENT ON FUNCTION memory.matches_filters(jsonb, text[], jsonb, text[]) IS
    'Metadata contains the filter and categories overlap the filter (empty filters match all)';
REVOKE ALL ON FUNCTION memory.is_live(boolean, timestamptz), memory.same_agent(text, text),
    memory.matches_filters(jsonb, text[], jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.is_live(boolean, timestamptz), memory.same_agent(text, text),
    memory.matches_filters(jsonb, text[], jsonb, text[]) TO authenticated, service_role;
