-- memory.embedding_dim(): the dimension of memory embeddings, read from the column type itself,
-- so that application roles need no access to schema mempg to validate their arguments.
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.embedding_dim()
RETURNS integer
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT a.atttypmod FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = 'memory.memories'::regclass AND a.attname = 'embedding'
$$;

COMMENT ON FUNCTION memory.embedding_dim() IS
    'Dimension of memory embeddings, read from the column type (fixed at install)';

REVOKE ALL ON FUNCTION memory.embedding_dim() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.embedding_dim() TO authenticated, service_role;

-- memory.embedding_type(): how embeddings are stored, vector or halfvec (0024, chosen at install),
-- read from the column type like the dimension. Every function takes and returns vector either
-- way: pgvector casts a vector to halfvec implicitly, so `embedding <=> query` compares in the
-- column's type and uses its index; a column value passed to a function is cast with ::vector.
CREATE OR REPLACE FUNCTION memory.embedding_type()
RETURNS text
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT t.typname::text FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    WHERE a.attrelid = 'memory.memories'::regclass AND a.attname = 'embedding'
$$;

COMMENT ON FUNCTION memory.embedding_type() IS
    'Storage type of memory embeddings, vector or halfvec, read from the column type (fixed at install)';

REVOKE ALL ON FUNCTION memory.embedding_type() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.embedding_type() TO authenticated, service_role;
