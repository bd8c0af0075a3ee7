"""0010's retrieval: any-term full-text ranking, fusion, Mem0's scoping and filter language, time
windows, and the text-search configuration chosen at install."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Database, run_mempg
from vectors import add_memory, connect_as, owner, unit, with_similarity

ALICE = "alice"


def add(conn, text, seed=0, **kwargs) -> str:
    """A memory whose embedding lies at cosine 0.5 from unit(1), the query of found()."""
    return add_memory(conn, text, with_similarity(unit(1), 0.5, seed=seed + 100), ALICE, **kwargs)[
        0
    ]


def text_search(conn, text, user=ALICE, **kwargs) -> list[tuple[str, float]]:
    params = "".join(f", {k} => %({k})s" for k in kwargs)
    return conn.execute(
        f"SELECT memory, text_score FROM memory.text_search_memories(%(t)s, %(u)s{params})",
        {"t": text, "u": user, **kwargs},
    ).fetchall()


def found(conn, filters=None, **kwargs) -> set[str]:
    """Texts search_memories returns for alice with these filters (every memory, any similarity)."""
    params = "".join(f", {k} => %({k})s" for k in kwargs)
    rows = conn.execute(
        "SELECT memory FROM memory.search_memories(%(q)s, %(u)s, 1000, similarity_threshold => 0,"
        f" filters => %(f)s::jsonb{params})",
        {"q": unit(1), "u": ALICE, "f": None if filters is None else json.dumps(filters), **kwargs},
    ).fetchall()
    return {r[0] for r in rows}


# ----------------------------------------------------------------- full-text ranking
def test_a_question_matches_memories_holding_any_of_its_terms(alice):
    add(alice, "Evan drives a red Prius to work", seed=1)
    add(alice, "Alice likes green tea", seed=2)
    rows = text_search(alice, "What kind of car does Evan drive?")
    assert [r[0] for r in rows] == ["Evan drives a red Prius to work"]
    # the every-term semantics of websearch_to_tsquery, which the hybrid search used, found nothing
    assert alice.execute(
        "SELECT count(*) FROM memory.memories"
        " WHERE fts @@ websearch_to_tsquery('english', 'What kind of car does Evan drive?')"
    ).fetchone() == (0,)


def test_rarer_and_more_terms_rank_higher(alice):
    for i in range(6):
        add(alice, f"Alice talked about the weather on day {i}", seed=10 + i)
    add(alice, "Alice climbed a volcano", seed=1)
    add(alice, "Alice watched the weather over the volcano", seed=2)
    rows = text_search(alice, "weather volcano", match_count=10)
    assert rows[0][0] == "Alice watched the weather over the volcano"  # both terms
    assert rows[1][0] == "Alice climbed a volcano"  # the rare term beats the common one
    assert rows[1][1] > rows[2][1]
    assert [s for _, s in rows] == sorted((s for _, s in rows), reverse=True)


def test_common_terms_score_but_do_not_choose_candidates(db: Database, alice):
    with owner(db.url) as conn:
        conn.execute("UPDATE memory.settings SET full_text_common_docs = 2")
    for i in range(4):
        add(alice, f"green tea number {i}", seed=10 + i)
    add(alice, "tea in Lisbon", seed=1)
    add(alice, "Lisbon in May", seed=2)
    rows = text_search(alice, "tea Lisbon")
    assert [r[0] for r in rows] == ["tea in Lisbon", "Lisbon in May"]  # no tea-only memory
    # every term common: the rarest chooses, and its memories still rank by all terms
    rows = text_search(alice, "green tea")
    assert {r[0] for r in rows} <= {f"green tea number {i}" for i in range(4)} | {"tea in Lisbon"}
    assert rows[0][0].startswith("green tea number")


def test_a_term_in_none_of_the_users_memories_does_not_empty_the_search(db: Database, alice):
    """0017: the rarest query term chose the candidates alone even with 0 documents, so a word
    the user never wrote beside a common one found nothing."""
    with owner(db.url) as conn:
        conn.execute("UPDATE memory.settings SET full_text_common_docs = 2")
    for i in range(4):
        add(alice, f"Caroline painted picture {i}", seed=10 + i)
    rows = text_search(alice, "What is Caroline's relationship status?")
    # 'caroline' is common (4 > 2) yet chooses: 'relationship' and 'status' are in no memory
    assert len(rows) == 4
    assert {r[0] for r in rows} == {f"Caroline painted picture {i}" for i in range(4)}
    assert text_search(alice, "relationship status") == []  # unknown terms alone: nothing


def test_stop_words_only_find_nothing_and_deleted_memories_are_not_found(alice):
    gone = add(alice, "the volcano erupted", seed=1)
    add(alice, "a volcano slept", seed=2)
    assert text_search(alice, "the of and") == []
    alice.execute("SELECT memory.delete_memory(%s)", (gone,))
    assert [r[0] for r in text_search(alice, "volcano")] == ["a volcano slept"]


def test_another_users_memories_change_neither_results_nor_scores(db: Database, alice):
    add(alice, "Alice climbed a volcano", seed=1)
    add(alice, "Alice hates the weather", seed=2)
    before = text_search(alice, "volcano weather")
    with connect_as(db.url, "bob") as bob:
        for i in range(12):
            add_memory(bob, f"Bob saw volcano {i}", unit(200 + i), "bob")
    assert text_search(alice, "volcano weather") == before
    assert text_search(alice, "volcano weather", user="bob") == []  # RLS: bob's rows stay bob's


# ------------------------------------------------------------------------- fusion
def hybrid(conn, text, query, **kwargs) -> list[tuple]:
    params = "".join(f", {k} => %({k})s" for k in kwargs)
    return conn.execute(
        "SELECT memory, full_text_rank, semantic_rank, score"
        f" FROM memory.hybrid_search_memories(%(t)s, %(q)s, %(u)s{params})",
        {"t": text, "q": query, "u": ALICE, **kwargs},
    ).fetchall()


def test_weighted_fusion_averages_min_max_normalised_scores(alice):
    base = unit(1)
    add_memory(alice, "Lisbon trip in May", with_similarity(base, 0.2, seed=1))
    add_memory(alice, "green tea", with_similarity(base, 0.9, seed=2))
    add_memory(alice, "Lisbon tea house", with_similarity(base, 0.5, seed=3))
    rows = {r[0]: r for r in hybrid(alice, "Lisbon", base, fusion="weighted")}
    # semantic: 0.9 -> 1, 0.5 -> 0.43, 0.2 -> 0; full text: both Lisbon memories score alike -> 1
    assert rows["green tea"][3] == pytest.approx(0.5, abs=1e-3)
    assert rows["Lisbon tea house"][3] == pytest.approx((1 + 0.3 / 0.7) / 2, abs=1e-3)
    assert rows["Lisbon trip in May"][3] == pytest.approx(0.5, abs=1e-3)
    text_only = hybrid(alice, "Lisbon", base, fusion="weighted", semantic_weight=0)
    assert {r[0] for r in text_only[:2]} == {"Lisbon trip in May", "Lisbon tea house"}


@pytest.mark.parametrize(
    ("override", "sqlstate"),
    [
        ({"fusion": "max"}, "22023"),
        ({"fusion": None}, "22023"),
        ({"candidate_depth": 0}, "22023"),
        ({"candidate_depth": 1001}, "22023"),
        ({"candidate_depth": None}, "22023"),
        ({"semantic_depth": 0}, "22023"),
        ({"semantic_depth": 1001}, "22023"),
        ({"semantic_depth": None}, "22023"),
    ],
)
def test_hybrid_refuses_a_bad_fusion_or_depth(alice, override, sqlstate):
    with pytest.raises(psycopg.Error) as caught:
        hybrid(alice, "tea", unit(1), **override)
    assert caught.value.sqlstate == sqlstate
    assert next(iter(override)) in str(caught.value)


def test_a_depth_below_match_count_still_fills_match_count(alice):
    for i in range(6):
        add_memory(alice, f"memory {i}", unit(10 + i))
    assert len(hybrid(alice, "memory", unit(10), match_count=5, candidate_depth=1)) == 5


def test_the_vector_side_takes_semantic_depth_candidates(alice):
    """semantic_depth (0017) bounds the vector side apart from candidate_depth: with weighted
    fusion the last of the side's candidates normalises to 0, so the score of the fifth nearest
    memory shows how many candidates its side had."""
    for i in range(12):
        add_memory(alice, f"note {i}", with_similarity(unit(1), 0.9 - i / 20, seed=300 + i))

    def fifth(**depths) -> float:
        rows = hybrid(alice, "zebra", unit(1), match_count=5, fusion="weighted",
                      full_text_weight=0, **depths)  # fmt: skip
        return next(r[3] for r in rows if r[2] == 5)

    assert fifth(semantic_depth=5) == pytest.approx(0)
    assert fifth(semantic_depth=12) == pytest.approx((0.70 - 0.35) / (0.90 - 0.35), abs=0.02)
    assert fifth(semantic_depth=1) == pytest.approx(0)  # at least match_count: still 5 candidates
    assert fifth(semantic_depth=5, candidate_depth=12) == pytest.approx(0)  # the other side's


# -------------------------------------------------------------- scoping and windows
def test_agent_and_run_scope_every_search(alice):
    add(alice, "tea for the planner", seed=1, agent_id="planner", run_id="r1")
    add(alice, "tea for the booker", seed=2, agent_id="booker", run_id="r2")
    add(alice, "tea for nobody", seed=3)
    assert found(alice, agent_id="planner") == {"tea for the planner"}
    assert found(alice, run_id="r2") == {"tea for the booker"}
    assert found(alice, agent_id="planner", run_id="r2") == set()
    assert {r[0] for r in text_search(alice, "tea", agent_id="booker")} == {"tea for the booker"}
    assert {r[0] for r in hybrid(alice, "tea", unit(1), run_id="r1")} == {"tea for the planner"}


def test_time_windows_on_created_and_updated(db: Database, alice):
    may = add(alice, "in May", seed=1)
    june = add(alice, "in June", seed=2)
    with owner(db.url) as conn:
        conn.execute("SET session_replication_role = replica")  # set the clock of the rows
        conn.execute(
            "UPDATE memory.memories SET created_at = %s, updated_at = %s WHERE id = %s",
            ("2023-05-10", "2023-07-01", may),
        )
        conn.execute(
            "UPDATE memory.memories SET created_at = %s, updated_at = %s WHERE id = %s",
            ("2023-06-10", "2023-06-11", june),
        )
    assert found(alice, created_within="[2023-05-01, 2023-06-01)") == {"in May"}
    assert found(alice, updated_within="[2023-06-01, 2023-06-30)") == {"in June"}
    assert found(alice, created_within="[2023-06-01,)") == {"in June"}
    assert found(alice, {"created_at": {"lt": "2023-06-01T00:00:00Z"}}) == {"in May"}
    assert found(alice, {"updated_at": {"gte": "2023-06-15"}}) == {"in May"}
    with pytest.raises(psycopg.Error) as caught:
        found(alice, created_within="empty")
    assert caught.value.sqlstate == "22023"


# -------------------------------------------------------------------- filter language
ROWS: list[dict[str, Any]] = [
    {"text": "m0", "metadata": {"topic": "travel", "month": 5, "tags": ["sea", "sun"]}},
    {"text": "m1", "metadata": {"topic": "food", "month": 7, "city": "Lisbon"}},
    {"text": "m2", "metadata": {"topic": "travel", "month": 12, "city": "Porto"}, "agent": "a"},
    {"text": "m3", "metadata": {"month": "may", "flag": True}, "agent": "b"},
    {"text": "m4", "metadata": {}, "categories": ["work"], "memory_type": "fact"},
]


@pytest.fixture
def catalogue(db: Database):
    with connect_as(db.url, ALICE) as conn:
        for i, row in enumerate(ROWS):
            add_memory(
                conn,
                row["text"],
                with_similarity(unit(1), 0.5, seed=300 + i),  # every one above threshold 0
                ALICE,
                metadata=json.dumps(row["metadata"]),
                categories=row.get("categories", []),
                agent_id=row.get("agent"),
                memory_type=row.get("memory_type"),
            )
        yield conn


def field_values(row: dict[str, Any], field: str) -> list[Any] | None:
    """The values a filter sees for a field (arrays unwrapped, as SQL/JSON's lax mode does)."""
    columns = {
        "agent_id": row.get("agent"),
        "memory_type": row.get("memory_type"),
        "categories": row.get("categories", []),
    }
    value = columns[field] if field in columns else row["metadata"].get(field)
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def same_type(a: Any, b: Any) -> bool:
    kinds = [bool, (int, float), str]
    return any(isinstance(a, k) and isinstance(b, k) for k in kinds) and (
        isinstance(a, bool) == isinstance(b, bool)
    )


def holds(row: dict[str, Any], node: dict[str, Any]) -> bool:
    """Reference semantics of the filter language (docs/memory.md, "Filters")."""
    results = []
    for key, value in node.items():
        if key == "AND":
            results.append(all(holds(row, n) for n in value))
        elif key == "OR":
            results.append(any(holds(row, n) for n in value))
        elif key == "NOT":
            results.append(
                not all(holds(row, n) for n in (value if isinstance(value, list) else [value]))
            )
        else:
            ops = value if isinstance(value, dict) else {"eq": value}
            values = field_values(row, key) or []
            for op, operand in ops.items():
                eq = any(same_type(v, operand) and v == operand for v in values)
                within = (
                    any(same_type(v, o) and v == o for v in values for o in operand)
                    if op in ("in", "nin")
                    else False
                )
                cmp = {
                    "gt": lambda v, o: v > o,
                    "gte": lambda v, o: v >= o,
                    "lt": lambda v, o: v < o,
                    "lte": lambda v, o: v <= o,
                }
                if op == "eq":
                    results.append(eq)
                elif op == "ne":
                    results.append(not eq)
                elif op == "in":
                    results.append(within)
                elif op == "nin":
                    results.append(not within)
                elif op in cmp:
                    results.append(
                        any(same_type(v, operand) and cmp[op](v, operand) for v in values)
                    )
                else:
                    needle = operand.lower() if op == "icontains" else operand
                    results.append(
                        any(
                            isinstance(v, str) and needle in (v.lower() if op == "icontains" else v)
                            for v in values
                        )
                    )
    return all(results)


def expected(node: dict[str, Any]) -> set[str]:
    return {row["text"] for row in ROWS if holds(row, node)}


@pytest.mark.parametrize(
    "node",
    [
        {"topic": "travel"},
        {"topic": {"ne": "travel"}},
        {"month": {"in": [5, 7]}},
        {"month": {"nin": [5, 7]}},
        {"month": {"gt": 5}},
        {"month": {"gte": 5, "lt": 12}},
        {"month": {"lte": 7}},
        {"month": "may"},
        {"city": {"contains": "isb"}},
        {"city": {"icontains": "PORTO"}},
        {"tags": "sun"},
        {"flag": True},
        {"agent_id": {"in": ["a", "b"]}},
        {"categories": "work"},
        {"memory_type": "fact"},
        {"OR": [{"city": "Lisbon"}, {"agent_id": "b"}]},
        {"AND": [{"topic": "travel"}, {"NOT": {"city": "Porto"}}]},
        {"NOT": [{"topic": "travel"}]},
        {"city": {"contains": "%"}},
    ],
)
def test_each_operator_selects_what_the_reference_says(catalogue, node):
    assert found(catalogue, node) == expected(node), node


FIELDS = ["topic", "month", "city", "tags", "flag", "agent_id", "categories", "nothing"]
SCALARS = st.one_of(
    st.sampled_from(["travel", "food", "Lisbon", "Porto", "sun", "work", "a", "may", "lis"]),
    st.integers(min_value=0, max_value=13),
    st.booleans(),
)
LEAF = st.one_of(
    st.builds(lambda f, v: {f: v}, st.sampled_from(FIELDS), SCALARS),
    st.builds(
        lambda f, op, v: {f: {op: v}},
        st.sampled_from(FIELDS),
        st.sampled_from(["eq", "ne"]),
        SCALARS,
    ),
    st.builds(  # ordering takes numbers and strings (a boolean is refused: see BAD_FILTERS)
        lambda f, op, v: {f: {op: v}},
        st.sampled_from(FIELDS),
        st.sampled_from(["gt", "gte", "lt", "lte"]),
        st.one_of(
            st.integers(min_value=0, max_value=13), st.sampled_from(["Lisbon", "m", "may", "z"])
        ),
    ),
    st.builds(
        lambda f, op, v: {f: {op: v}},
        st.sampled_from(FIELDS),
        st.sampled_from(["in", "nin"]),
        st.lists(SCALARS, min_size=1, max_size=3),
    ),
    st.builds(
        lambda f, op, v: {f: {op: v}},
        st.sampled_from(FIELDS),
        st.sampled_from(["contains", "icontains"]),
        st.sampled_from(["is", "ORT", "o", "ravel", "x"]),
    ),
)
TREES = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.builds(lambda ns: {"AND": ns}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda ns: {"OR": ns}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda n: {"NOT": n}, inner),
    ),
    max_leaves=6,
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(node=TREES)
def test_random_filters_agree_with_the_reference(catalogue, node):
    assert found(catalogue, node) == expected(node), node


BAD_FILTERS = [
    ({"month": {"like": 5}}, "like"),
    ({"month": {"in": 5}}, "in"),
    ({"month": {"in": []}}, "in"),
    ({"month": {"gt": True}}, "gt"),
    ({"city": {"contains": 5}}, "contains"),
    ({"month": {}}, "month"),
    ({"month": None}, "eq"),
    ({"month": [1, 2]}, "eq"),
    ({"AND": []}, "AND"),
    ({"OR": {"a": 1}}, "OR"),
    ({"NOT": 5}, "NOT"),
    ({"user_id": "bob"}, "user_id"),
    ({"created_at": {"gte": "last May"}}, "created_at"),
    ([{"a": 1}], "object"),
]


@pytest.mark.parametrize(("node", "named"), BAD_FILTERS)
def test_a_bad_filter_is_refused_naming_what_is_wrong(catalogue, node, named):
    with pytest.raises(psycopg.Error) as caught:
        found(catalogue, node)
    assert caught.value.sqlstate == "22023", str(caught.value)
    assert named in str(caught.value)


def test_deeply_nested_filters_are_refused(catalogue):
    node: dict[str, Any] = {"topic": "travel"}
    for _ in range(25):
        node = {"NOT": node}
    with pytest.raises(psycopg.Error) as caught:
        found(catalogue, node)
    assert caught.value.sqlstate in {"22023", "22001"}


TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=8
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(
                st.sampled_from(["AND", "OR", "NOT", "eq", "in", "gt", "contains", "created_at"]),
                TEXT,
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(node=JSON)
def test_any_json_filter_is_answered_or_refused_with_a_documented_code(catalogue, node):
    try:
        found(catalogue, node)
    except psycopg.Error as exc:
        assert exc.sqlstate in {"22023", "22001", "22004"}, (node, str(exc))


def test_filters_with_quotes_and_backslashes_stay_values(catalogue):
    hostile = 'x" || @ == @ || "\\'
    assert found(catalogue, {"city": hostile}) == set()
    assert found(catalogue, {"city": {"contains": hostile}}) == set()
    assert found(catalogue, {hostile: {"ne": 1}}) == {r["text"] for r in ROWS}


# ------------------------------------------------------------- text-search config
def test_the_text_search_config_is_chosen_at_install_and_fixed(empty_db: Database):
    done = run_mempg("apply", "--text-search-config", "simple", url=empty_db.url)
    assert done.returncode == 0, done.stderr
    with connect_as(empty_db.url, ALICE) as conn:
        assert conn.execute("SELECT memory.text_search_config()::text").fetchone() == ("simple",)
        add_memory(conn, "The volcanoes of the islands", unit(1), ALICE)
        # simple: no stemming and no stop words, so "the" matches and "volcano" does not
        assert [r[0] for r in text_search(conn, "the")] == ["The volcanoes of the islands"]
        assert text_search(conn, "volcano") == []
    assert run_mempg("verify", url=empty_db.url).returncode == 0
    changed = run_mempg("apply", "--text-search-config", "english", url=empty_db.url)
    assert changed.returncode == 1
    assert "installed with text search configuration simple" in changed.stderr
    assert run_mempg("apply", "--text-search-config", "simple", url=empty_db.url).returncode == 0
    with owner(empty_db.url) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("UPDATE mempg.settings SET value = 'english' WHERE key = 'text_search_config'")
    assert caught.value.sqlstate == "55000"


def test_an_unknown_text_search_config_stops_the_install_at_0010(empty_db: Database):
    done = run_mempg("apply", "--text-search-config", "klingon", url=empty_db.url)
    assert done.returncode == 1
    assert "klingon" in done.stdout + done.stderr
    with owner(empty_db.url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM mempg.settings WHERE key = 'text_search_config'"
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT to_regprocedure('memory.text_search_memories(text, text, integer, jsonb, text[],"
            " text, text, jsonb, tstzrange, tstzrange)')"
        ).fetchone() == (None,)  # 0010 rolled back whole
