-- The rules of hybrid ranking, each defined once, for hybrid_search_memories and for
-- agent.unified_search (0013), which fuse a full-text and a vector ranking the same way:
--   memory.check_fusion(): the fusion parameters (22023 naming the one out of range);
--   memory.normalised_score(): min-max normalisation of a side's raw scores for 'weighted'
--     (the best candidate 1, the last 0; a lone candidate, or all equal, 1);
--   memory.fused_score(): 'rrf', weight / (rrf_k + rank) per side (memory.rrf_share, 0012),
--     summed (a row found by one side gets that side's share only); 'weighted', the weighted mean of the normalised scores;
--   memory.term_weight(): the idf of a query term found in `docs` documents (BM25's, over a
--     collection of 1,000: text_search_memories.sql says why the size hardly matters).
-- normalised_score, fused_score and term_weight have no SET clause, so the planner inlines them:
-- their bodies use built-in functions and operators only. check_fusion pins search_path.
CREATE OR REPLACE FUNCTION memory.check_fusion(fusion text, full_text_weight double precision,
                                               semantic_weight double precision, rrf_k integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
BEGIN
    IF NOT coalesce(check_fusion.full_text_weight BETWEEN 0 AND 1000000
                    AND check_fusion.semantic_weight BETWEEN 0 AND 1000000
                    AND check_fusion.full_text_weight + check_fusion.semantic_weight > 0, false) THEN
        RAISE EXCEPTION 'full_text_weight and semantic_weight must be between 0 and 1000000 and not both 0, got % and %',
            coalesce(check_fusion.full_text_weight::text, 'NULL'),
            coalesce(check_fusion.semantic_weight::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF check_fusion.rrf_k IS NULL OR check_fusion.rrf_k < 1 THEN
        RAISE EXCEPTION 'rrf_k must be at least 1, got %', coalesce(check_fusion.rrf_k::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF check_fusion.fusion IS NULL OR check_fusion.fusion NOT IN ('rrf', 'weighted') THEN
        RAISE EXCEPTION 'fusion must be ''rrf'' or ''weighted'', got %', coalesce(check_fusion.fusion, 'NULL')
            USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION memory.check_fusion(text, double precision, double precision, integer) IS
    'Raises 22023 for a fusion other than rrf/weighted, weights out of range or both 0, rrf_k below 1';

CREATE OR REPLACE FUNCTION memory.normalised_score(score double precision, lowest double precision,
                                                   highest double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce((normalised_score.score - normalised_score.lowest)
                    / nullif(normalised_score.highest - normalised_score.lowest, 0), 1)
$$;

COMMENT ON FUNCTION memory.normalised_score(double precision, double precision, double precision) IS
    'Min-max normalisation of a score among its side''s candidates (1 when they are all equal)';

CREATE OR REPLACE FUNCTION memory.fused_score(fusion text, full_text_weight double precision,
                                              semantic_weight double precision, rrf_k integer,
                                              full_text_rank bigint, semantic_rank bigint,
                                              full_text_norm double precision, semantic_norm double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE fused_score.fusion
               WHEN 'rrf' THEN
                   memory.rrf_share(fused_score.full_text_weight, fused_score.rrf_k, fused_score.full_text_rank)
                   + memory.rrf_share(fused_score.semantic_weight, fused_score.rrf_k, fused_score.semantic_rank)
               ELSE (fused_score.full_text_weight * coalesce(fused_score.full_text_norm, 0)
                     + fused_score.semantic_weight * coalesce(fused_score.semantic_norm, 0))
                    / (fused_score.full_text_weight + fused_score.semantic_weight)
           END
$$;

COMMENT ON FUNCTION memory.fused_score(text, double precision, double precision, integer, bigint, bigint, double precision, double precision) IS
    'Score of a row in a hybrid ranking: reciprocal rank fusion, or the weighted mean of normalised scores';

CREATE OR REPLACE FUNCTION memory.term_weight(docs bigint)
RETURNS double precision
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT ln(1 + (greatest(1000 - term_weight.docs, 0) + 0.5) / (term_weight.docs + 0.5))::double precision
$$;

COMMENT ON FUNCTION memory.term_weight(bigint) IS
    'idf of a query term in `docs` documents (BM25''s, over a collection of 1000)';

REVOKE ALL ON FUNCTION memory.check_fusion(text, double precision, double precision, integer),
    memory.normalised_score(double precision, double precision, double precision),
    memory.fused_score(text, double precision, double precision, integer, bigint, bigint, double precision, double precision),
    memory.term_weight(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.check_fusion(text, double precision, double precision, integer),
    memory.normalised_score(double precision, double precision, double precision),
    memory.fused_score(text, double precision, double precision, integer, bigint, bigint, double precision, double precision),
    memory.term_weight(bigint) TO authenticated, service_role;
