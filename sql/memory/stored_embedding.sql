-- memory.stored_embedding: an embedding in the type the embedding columns store, vector(N) or
-- halfvec(N) by the choice made at install (0024). Functions take a query embedding as vector;
-- compared as it is with a halfvec column, it is cast to halfvec again for every row it meets
-- (the cast of a parameter is not folded into a constant), which made an exact search of 5,000
-- halfvec rows 3x slower. The search functions cast it once instead: PL/pgSQL ones into a
-- variable declared memory.memories.embedding%TYPE (every embedding column has that type: 0024
-- converts them together), SQL ones in a scalar subquery cast to this domain, which PostgreSQL
-- runs once as an InitPlan. On a vector install both casts are the identity.
DO $$
BEGIN
    IF to_regtype('memory.stored_embedding') IS NULL THEN
        EXECUTE format('CREATE DOMAIN memory.stored_embedding AS extensions.%I(%s)',
                       coalesce((SELECT s.value FROM mempg.settings AS s WHERE s.key = 'embedding_type'), 'vector'),
                       mempg.embedding_dim());
    END IF;
END
$$;

COMMENT ON DOMAIN memory.stored_embedding IS
    'An embedding in the embedding columns'' type (vector or halfvec, chosen at install), for a query cast once';
