-- Entity-aware search without an LLM.
-- memory.extract_entity_names(text): the names a text mentions, as capitalised spans
-- ("Caroline", "New York City", "LGBTQ"): runs of words that start with an upper-case letter.
-- Capitals that grammar puts there are not names: a single word that opens a sentence ("Hey",
-- "Thanks") is left out, the greeting or interjection that opens a longer span is dropped from
-- it ("Hey John" -> "John", "Thanks Nate" -> "Nate"; the words are in the function), the
-- pronoun I and its contractions end a span ("Sometimes I'm" -> nothing, "Glad I" -> nothing),
-- and spans that are stop words of the text-search configuration are left out (from 0019; before
-- it, "Hey John" and "I'm" were names).
-- The caller links what it wants (add_memory's entities: a bare name links to the user's entity
-- of that name whatever its type, link_entities.sql); the speakers of a conversation are known
-- to the caller and are linked as such.
-- memory.query_entities(query_text, user): the user's live entities whose normalised name or
-- alias is one of the query's word n-grams (1 to 4 words), at most max_query_entities, the
-- most selective first (fewest linked memories, counted up to 1,000).
-- memory.entity_boost_weight(links): Mem0's damping of an entity linked to n memories,
-- 1 / (1 + 0.001 (n - 1)^2): a name that is on every memory tells nothing.
-- memory.search_entities(): a user's entities for a query, three rankings fused by reciprocal
-- rank (memory.rrf_share, k 10 as in hybrid_search_memories): by name (an exact name or alias
-- among the query's n-grams first, then pg_trgm similarity of the whole query to the name), by
-- full text over names, aliases and string attributes (any term), and by the cosine similarity
-- of the embeddings when one is given. Each row carries its current facts (memory.current_facts).
-- The name and text lookups are memory.entities_named / _like / _matching (entity_lookup.sql).
-- search_path is pinned (pg_catalog, extensions, pg_temp) on every function here, so a caller's
-- own search_path never changes what a name means.
CREATE OR REPLACE FUNCTION memory.rrf_share(weight double precision, k integer, rank bigint)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(rrf_share.weight / (rrf_share.k + rrf_share.rank), 0)
$$;

COMMENT ON FUNCTION memory.rrf_share(double precision, integer, bigint) IS
    'One ranking''s share of a reciprocal rank fusion: weight / (k + rank), 0 when the row is not in it';

CREATE OR REPLACE FUNCTION memory.entity_boost_weight(links bigint)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT 1.0 / (1 + 0.001 * power(greatest(entity_boost_weight.links - 1, 0), 2))
$$;

COMMENT ON FUNCTION memory.entity_boost_weight(bigint) IS
    'Weight of an entity linked to n memories in the entity boost: 1 / (1 + 0.001 (n - 1)^2) (Mem0''s)';

-- memory.span_names(span, place, followed_by): the names one capitalised span holds (the rules
-- of extract_entity_names, one span at a time). place is where the span stands:
--   'sentence'  it opens a sentence (the text's start, after . ! ?): greetings are dropped from
--               its front, and a single word left alone is not a name ("Thanks!", "Yesterday")
--               unless a greeting came before it ("Thanks Nate" -> "Nate")
--   'clause'    after a comma, a colon or at the start of a line: greetings are dropped, single
--               words stay names ("Attendees: Caroline", "so, Hey John" -> "John")
--   'inside'    anywhere else: nothing is dropped ("a Hello Kitty bag", "Good Morning America")
-- Greetings are dropped as often as they come ("Oh Hey John" -> "John"), and two-word greetings
-- whole ("Good Morning", "Happy Birthday"); a word that only sometimes greets ("Great", "Happy",
-- "Nice") is dropped only before a single word that ends the clause ("Great Caroline, thanks",
-- "Awesome Caroline!" -> "Caroline"; "Great Britain voted" keeps it). The pronoun I and its
-- contractions split a span, except the numeral I after a word that numbers things ("World War
-- I", "Part I"); spans that are only stop words are not names. The word lists are
-- memory.name_words() (from 0020; 0019 dropped one greeting, and at any position).
CREATE OR REPLACE FUNCTION memory.name_words(list text)
RETURNS text[]
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
    SELECT CASE name_words.list
        -- words that open a sentence by grammar, before a name: "Hey John", "Thanks Nate"
        WHEN 'greeting' THEN ARRAY['hey', 'hi', 'hello', 'bye', 'goodbye', 'thanks', 'thank', 'congrats',
                                   'congratulations', 'sorry', 'welcome', 'cheers', 'dear', 'yes', 'yeah', 'yep',
                                   'no', 'nope', 'ok', 'okay', 'oh', 'ah', 'aw', 'aww', 'wow', 'whoa', 'hmm',
                                   'haha', 'lol', 'omg', 'well', 'so', 'and', 'but', 'glad', 'sure', 'please',
                                   'morning', 'afternoon', 'evening']
        -- words that greet only in a phrase ("Good Morning") or before one word ("Great, Caroline!")
        WHEN 'weak greeting' THEN ARRAY['good', 'great', 'happy', 'nice', 'cool', 'awesome', 'merry', 'thank',
                                        'thanks']
        -- what follows a weak greeting in a two-word greeting
        WHEN 'greeting tail' THEN ARRAY['morning', 'afternoon', 'evening', 'night', 'day', 'luck', 'job', 'work',
                                        'news', 'birthday', 'weekend', 'holidays', 'christmas', 'easter',
                                        'thanksgiving', 'anniversary', 'year', 'monday', 'tuesday', 'wednesday',
                                        'thursday', 'friday', 'saturday', 'sunday', 'idea', 'point', 'question',
                                        'you']
        -- words after which I is the numeral one
        WHEN 'numbered' THEN ARRAY['war', 'part', 'chapter', 'phase', 'volume', 'book', 'season', 'episode',
                                   'type', 'title', 'section', 'article', 'appendix', 'schedule']
    END
$$;

COMMENT ON FUNCTION memory.name_words(text) IS
    'Word lists of name extraction: greeting, weak greeting, greeting tail, numbered';

CREATE OR REPLACE FUNCTION memory.span_names(span text, place text, followed_by text DEFAULT '')
RETURNS text[]
LANGUAGE plpgsql
STABLE STRICT
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    c_greetings constant text[] := memory.name_words('greeting');
    c_weak constant text[] := memory.name_words('weak greeting');
    c_tails constant text[] := memory.name_words('greeting tail');
    c_numbered constant text[] := memory.name_words('numbered');
    v_words text[] := regexp_split_to_array(btrim(span_names.span), '\s+');
    v_word text;
    v_span text[] := '{}';
    v_strips boolean := span_names.place IN ('sentence', 'clause');
    v_opens boolean := span_names.place = 'sentence';
    v_greeted boolean := false;
    v_names text[] := '{}';
BEGIN
    IF span_names.place NOT IN ('sentence', 'clause', 'inside') THEN
        RAISE EXCEPTION 'place must be sentence, clause or inside, got %', quote_literal(span_names.place)
            USING ERRCODE = '22023';
    END IF;
    -- a trailing 'I' flushes the last span: the pronoun ends every span
    FOREACH v_word IN ARRAY v_words || 'I'::text LOOP
        CONTINUE WHEN v_word = '';
        IF v_word !~ '^I([''’][[:alpha:]]+)?$'
           OR (v_word = 'I' AND cardinality(v_span) > 0 AND lower(v_span[cardinality(v_span)]) = ANY (c_numbered)) THEN
            v_span := v_span || v_word;
            CONTINUE;
        END IF;
        WHILE v_strips AND cardinality(v_span) > 0 LOOP
            IF cardinality(v_span) > 1 AND lower(v_span[1]) = ANY (c_weak) AND lower(v_span[2]) = ANY (c_tails) THEN
                v_span := v_span[3:];
            ELSIF lower(v_span[1]) = ANY (c_greetings) THEN
                v_span := v_span[2:];
            ELSIF cardinality(v_span) = 2 AND lower(v_span[1]) = ANY (c_weak) AND v_word = 'I'
                  AND span_names.followed_by IN (',', '!') AND cardinality(v_words) = 2 THEN
                v_span := v_span[2:];  -- "Great Caroline, thanks": the whole span, then the clause ends
            ELSE
                EXIT;
            END IF;
            v_greeted := true;
        END LOOP;
        IF cardinality(v_span) > 1 OR (cardinality(v_span) = 1 AND (NOT v_opens OR v_greeted)) THEN
            v_names := v_names || array_to_string(v_span, ' ');
        END IF;
        v_span := '{}';
        v_strips := false;
        v_opens := false;
    END LOOP;
    RETURN ARRAY(SELECT n FROM unnest(v_names) WITH ORDINALITY AS x(n, i)
                 WHERE to_tsvector(memory.text_search_config(), x.n)::text <> ''
                   AND memory.normalize_entity_name(x.n) <> ''
                 ORDER BY x.i);
END
$$;

COMMENT ON FUNCTION memory.span_names(text, text, text) IS
    'The names in one capitalised span by where it stands (sentence, clause, inside): greetings dropped, split at the pronoun I, stop words left out';

-- memory.extract_entity_names(text): the capitalised spans of a text, each through
-- memory.span_names with its place: 'sentence' at the start and after . ! ?, 'clause' after a
-- comma, a colon, a semicolon or at the start of a line, else 'inside'; a span never crosses a
-- line. The span's closing punctuation is consumed with it (the weak-greeting rule reads it), so
-- the next span's place comes from that punctuation when nothing else stands between them.
CREATE OR REPLACE FUNCTION memory.extract_entity_names(content text)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_match text[];
    v_before text;
    v_after text := '';
    v_first boolean := true;
    v_names text[] := '{}';
BEGIN
    FOR v_match IN
        SELECT m FROM regexp_matches(coalesce(extract_entity_names.content, ''),
                                     '(^|[.!?]\s+|[^.!?\s]\s*|\s+)(\m[[:upper:]][[:alnum:]''’&-]*(?:[[:blank:]]+[[:upper:]][[:alnum:]''’&-]*)*)([,;:.!?]?)',
                                     'g') AS m
    LOOP
        -- the character before the span; when the previous span consumed it, that span's closing
        v_before := CASE WHEN v_match[1] ~ '^\s+$' THEN v_after ELSE left(v_match[1], 1) END;
        v_names := v_names || memory.span_names(
            v_match[2],
            CASE WHEN v_match[1] = '' OR v_before ~ '^[.!?]$' OR (v_first AND v_match[1] ~ '^\s+$') THEN 'sentence'
                 WHEN v_before ~ '^[,;:]$' OR v_match[1] ~ '\n' THEN 'clause'
                 ELSE 'inside' END,
            v_match[3]);
        v_after := v_match[3];
        v_first := false;
    END LOOP;
    RETURN coalesce((SELECT array_agg(DISTINCT n ORDER BY n) FROM unnest(v_names) AS n), '{}');
END
$$;

COMMENT ON FUNCTION memory.extract_entity_names(text) IS
    'Capitalised spans of a text (candidate entity names), without sentence openers, greetings, the pronoun I and stop words';

CREATE OR REPLACE FUNCTION memory.query_entities(query_text text, query_user_id text)
RETURNS TABLE (entity_id uuid, name text, entity_type text, links bigint)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_words text[] := regexp_split_to_array(memory.normalize_entity_name(query_entities.query_text), ' ');
    v_keys text[] := '{}';
    v_limit integer := (SELECT s.max_query_entities FROM memory.entity_resolution_settings AS s);
BEGIN
    IF query_entities.query_text IS NULL OR query_entities.query_user_id IS NULL THEN
        RETURN;
    END IF;
    FOR n IN 1 .. 4 LOOP
        FOR i IN 1 .. cardinality(v_words) - n + 1 LOOP
            EXIT WHEN cardinality(v_keys) >= 400;
            v_keys := v_keys || (query_entities.query_user_id || chr(31) || array_to_string(v_words[i:i + n - 1], ' '));
        END LOOP;
    END LOOP;
    RETURN QUERY
    SELECT e.id, e.name, e.entity_type,
           (SELECT count(*) FROM (SELECT 1 FROM memory.memory_entities AS me WHERE me.entity_id = e.id LIMIT 1000) AS l)
    FROM memory.entities_named(query_entities.query_user_id, v_keys) AS n
    JOIN memory.entities AS e ON e.id = n.id
    ORDER BY 4, e.id
    LIMIT v_limit;
END
$$;

COMMENT ON FUNCTION memory.query_entities(text, text) IS
    'The user''s entities named in a query (exact name or alias among its 1-4 word n-grams), most selective first';

CREATE OR REPLACE FUNCTION memory.search_entities(
    query_text text,
    query_embedding vector DEFAULT NULL,
    query_user_id text DEFAULT NULL,
    type_filter text DEFAULT NULL,
    match_count integer DEFAULT 10)
RETURNS TABLE (id uuid, name text, entity_type text, aliases text[], importance real, score double precision,
               name_rank bigint, text_rank bigint, semantic_rank bigint, name_similarity double precision,
               similarity double precision, facts jsonb)
LANGUAGE plpgsql
VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET search_path = pg_catalog, extensions, pg_temp
AS $$
DECLARE
    v_normalized text;
    v_query tsquery;
    v_lexeme text;
    v_exact uuid[];
    v_depth integer;
    v_stored_query memory.memories.embedding%TYPE;  -- the query, cast once: stored_embedding.sql
BEGIN
    PERFORM memory.check_query_text(search_entities.query_text);
    IF search_entities.query_embedding IS NOT NULL THEN
        PERFORM memory.check_embedding(search_entities.query_embedding, 'query_embedding');
    END IF;
    PERFORM memory.check_label(search_entities.query_user_id, 'query_user_id',
                               (SELECT s.max_id_chars FROM memory.settings AS s), true);
    IF search_entities.type_filter IS NOT NULL THEN
        PERFORM memory.check_entity_type(search_entities.type_filter, 'type_filter');
    END IF;
    PERFORM memory.check_count(search_entities.match_count, 'match_count');
    PERFORM memory.take_token('search', search_entities.query_user_id);  -- rate limit: rate_limits.sql
    v_stored_query := search_entities.query_embedding;  -- once checked: a bad one gets check_embedding's error
    v_depth := greatest(20, search_entities.match_count);
    v_normalized := memory.normalize_entity_name(search_entities.query_text);
    FOR v_lexeme IN SELECT l FROM unnest(tsvector_to_array(to_tsvector(memory.text_search_config(), search_entities.query_text))) AS l LOOP
        v_query := CASE WHEN v_query IS NULL THEN memory.lexeme_query(v_lexeme) ELSE v_query || memory.lexeme_query(v_lexeme) END;
    END LOOP;
    SELECT array_agg(q.entity_id) INTO v_exact FROM memory.query_entities(search_entities.query_text, search_entities.query_user_id) AS q
    WHERE search_entities.type_filter IS NULL OR q.entity_type = search_entities.type_filter;

    RETURN QUERY
    WITH by_name AS (
        SELECT n.id, n.name_similarity, row_number() OVER (ORDER BY n.name_similarity DESC, n.id) AS rank
        FROM (SELECT x.id, max(x.name_similarity) AS name_similarity
              FROM (SELECT unnest(v_exact) AS id, 1::double precision AS name_similarity
                    UNION ALL
                    SELECT l.id, l.similarity
                    FROM memory.entities_like(search_entities.query_user_id, v_normalized, search_entities.type_filter,
                                              v_depth) AS l) AS x
              GROUP BY x.id
              ORDER BY 2 DESC, x.id
              LIMIT v_depth) AS n
    ), by_text AS (
        SELECT t.id, row_number() OVER (ORDER BY t.text_score DESC, t.id) AS rank
        FROM memory.entities_matching(search_entities.query_user_id, v_query, search_entities.type_filter, v_depth) AS t
        WHERE v_query IS NOT NULL
    ), by_vector AS (
        SELECT v.id, v.similarity, row_number() OVER (ORDER BY v.similarity DESC, v.id) AS rank
        FROM (SELECT e.id, 1 - (e.embedding <=> v_stored_query) AS similarity
              FROM memory.entities AS e
              WHERE search_entities.query_embedding IS NOT NULL AND e.embedding IS NOT NULL
                AND e.user_id = search_entities.query_user_id AND NOT e.is_deleted AND e.merged_into IS NULL
                AND (search_entities.type_filter IS NULL OR e.entity_type = search_entities.type_filter)
              ORDER BY e.embedding <=> v_stored_query
              LIMIT v_depth) AS v
    ), fused AS (
        SELECT coalesce(n.id, t.id, v.id) AS id, n.rank AS name_rank, t.rank AS text_rank, v.rank AS semantic_rank,
               n.name_similarity, v.similarity,
               memory.rrf_share(1, 10, n.rank) + memory.rrf_share(1, 10, t.rank) + memory.rrf_share(1, 10, v.rank) AS score
        FROM by_name AS n
        FULL JOIN by_text AS t ON t.id = n.id
        FULL JOIN by_vector AS v ON v.id = coalesce(n.id, t.id)
    )
    SELECT e.id, e.name, e.entity_type, e.aliases, e.importance, f.score, f.name_rank, f.text_rank, f.semantic_rank,
           f.name_similarity, f.similarity,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'subject', c.subject, 'relation', c.relation,
                                                         'object', coalesce(c.object, c.value), 'valid_from', c.valid_from)
                                      ORDER BY c.relation, c.valid_from), '[]')
            FROM memory.current_facts AS c WHERE c.subject_id = e.id OR c.object_id = e.id)
    FROM fused AS f
    JOIN memory.entities AS e ON e.id = f.id
    ORDER BY f.score DESC, e.importance DESC, e.id
    LIMIT search_entities.match_count;
END
$$;

COMMENT ON FUNCTION memory.search_entities(text, vector, text, text, integer) IS
    'A user''s entities for a query: name (exact n-gram, trigram), full text and vector rankings fused by RRF, with current facts';

REVOKE ALL ON FUNCTION memory.rrf_share(double precision, integer, bigint), memory.entity_boost_weight(bigint),
    memory.name_words(text), memory.span_names(text, text, text), memory.extract_entity_names(text), memory.query_entities(text, text),
    memory.search_entities(text, vector, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.rrf_share(double precision, integer, bigint), memory.entity_boost_weight(bigint),
    memory.name_words(text), memory.span_names(text, text, text), memory.extract_entity_names(text), memory.query_entities(text, text),
    memory.search_entities(text, vector, text, text, integer) TO authenticated, service_role;
