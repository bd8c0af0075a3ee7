"""The bulk path (memory.import_batch through `mempg import`): the same result as add_memory one row
at a time, idempotent and resumable, a dry run that writes nothing, every rejected row reported
with its SQLSTATE, the dimension rules, and a lossless export round trip."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from import_support import as_list, counts, mempg_import, scalar, vec
from psycopg.types.json import Jsonb

from helpers import ROOT, Database, run_mempg, scratch_database, template_database
from vectors import DIM, add_memory, owner, with_similarity


def _rows(prefix: str, count: int, seed: int) -> list[dict]:
    """Memories for three users and two agents with exact, replace (>= 0.98) and merge (>= 0.95)
    duplicates of earlier rows, in a random order, as one-by-one adds would meet them."""
    rng = random.Random(seed)
    rows: list[dict] = []
    for i in range(count):
        user = f"{prefix}{rng.randrange(3)}"
        agent = rng.choice([None, "planner"])
        earlier = [r for r in rows if r["user_id"] == user and r.get("agent_id") == agent]
        kind = rng.random()
        meta = {"n": i % 7, f"k{i % 3}": rng.choice(["a", "b"])}
        cats = rng.sample(["travel", "food", "work", "Family"], rng.randrange(3))
        if earlier and kind < 0.15:
            base = rng.choice(earlier)
            row = {"memory": base["memory"].upper() + "  ", "embedding": base["embedding"]}
        elif earlier and kind < 0.3:
            base = rng.choice(earlier)
            sim = rng.choice([0.99, 0.96])
            row = {
                "memory": f"variant {i} of {base['memory']}",
                "embedding": as_list(with_similarity(_np(base["embedding"]), sim, seed=i)),
            }
        else:
            row = {"memory": f"memory {i} of {user}", "embedding": vec(seed * 100_000 + i)}
        row.update(user_id=user, metadata=meta, categories=cats)
        if agent:
            row["agent_id"] = agent
        rows.append(row)
    return rows


def _np(values: list[float]):
    import numpy as np

    return np.asarray(values, dtype=np.float32)


def _state(conn: psycopg.Connection, prefix: str) -> tuple[list, list]:
    memories = conn.execute(
        "SELECT substr(user_id, length(%s) + 1), agent_id, memory, metadata, categories, version, is_deleted"
        " FROM memory.memories WHERE starts_with(user_id, %s) ORDER BY 1, 2 NULLS FIRST, 3",
        (prefix, prefix),
    ).fetchall()
    history = conn.execute(
        "SELECT substr(m.user_id, length(%s) + 1), m.agent_id, m.memory, h.event, h.old_memory, h.new_memory,"
        " h.old_version, h.new_version FROM memory.memory_history AS h JOIN memory.memories AS m ON m.id = h.memory_id"
        " WHERE starts_with(m.user_id, %s) ORDER BY 1, 2 NULLS FIRST, 3, h.id",
        (prefix, prefix),
    ).fetchall()
    return memories, history


def _row_id(run: int, i: int) -> str:
    """Row i's memory id in one of the runs compared: a run's ids sort as its rows do, so that
    deduplication's ties between equally near memories (broken by id) fall the same way in every
    run (with random ids, 2,000 rows met such a tie and merged into the other copy)."""
    return f"{run:08x}-0000-4000-8000-{i:012x}"


def test_an_import_ends_where_the_same_rows_added_one_by_one_do(db: Database, write_jsonl) -> None:
    rows = _rows("x", 2_000, seed=7)  # the issue asks for a few thousand
    conn = owner(db.url)
    one_by_one = Counter()
    for i, row in enumerate(rows):
        user = "one-" + row["user_id"]
        _, event = add_memory(
            conn,
            row["memory"],
            str(row["embedding"]).replace(" ", ""),
            user=user,
            metadata=Jsonb(row["metadata"]),
            categories=row["categories"],
            agent_id=row.get("agent_id"),
            memory_id=_row_id(1, i),
        )
        one_by_one[event] += 1
    lines = [
        {**row, "user_id": "imp-" + row["user_id"], "id": _row_id(2, i)}
        for i, row in enumerate(rows)
    ]
    code, report, err = mempg_import(db, write_jsonl(lines), "--batch-size", "250")
    assert code == 0, err
    assert report["events"]["memory"] == dict(one_by_one)
    assert {"ADD", "NOOP", "UPDATE", "MERGE"} <= set(one_by_one)  # the data exercises every outcome
    assert _state(conn, "imp-") == _state(conn, "one-")
    # two sessions at once, each user's rows in one of them: the same end state
    lines = [
        {**row, "user_id": "par-" + row["user_id"], "id": _row_id(3, i)}
        for i, row in enumerate(rows)
    ]
    code, report, err = mempg_import(
        db, write_jsonl(lines, "parallel.jsonl"), "--batch-size", "100", "--jobs", "2"
    )
    assert code == 0, err
    assert report["events"]["memory"] == dict(one_by_one)
    assert _state(conn, "par-") == _state(conn, "one-")


def test_re_running_an_import_adds_nothing(db: Database, write_jsonl) -> None:
    source = write_jsonl(
        [
            {"id": f"m{i}", "memory": f"fact {i}", "user_id": "u", "embedding": vec(i)}
            for i in range(50)
        ]
    )
    first = mempg_import(db, source)
    conn = owner(db.url)
    before = counts(conn)
    second = mempg_import(db, source)
    assert first[0] == second[0] == 0
    assert first[1]["events"] == {"memory": {"ADD": 50}}
    assert second[1]["events"] == {"memory": {"SKIP": 50}}
    after = counts(conn)
    assert {k: v for k, v in after.items() if "import_runs" not in k} == {
        k: v for k, v in before.items() if "import_runs" not in k
    }
    checksums = conn.execute("SELECT checksum FROM memory.import_runs ORDER BY id").fetchall()
    assert checksums[0][0] != checksums[1][0]  # the second run wrote nothing


def test_a_killed_import_resumes_where_it_stopped(db: Database, write_jsonl) -> None:
    lines = [
        {
            "id": f"m{i}",
            "memory": f"resumable fact {i}",
            "user_id": f"u{i % 4}",
            "embedding": vec(i),
        }
        for i in range(600)
    ]
    source = write_jsonl(lines)
    env = {"DATABASE_URL": db.url, "MEMPG_DIR": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "import", str(source), "--batch-size", "20"],
        env={**__import__("os").environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    conn = owner(db.url)
    deadline = time.monotonic() + 120
    while conn.execute("SELECT count(*) FROM memory.import_sources").fetchone()[0] < 60:
        assert process.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = conn.execute("SELECT count(*) FROM memory.import_sources").fetchone()[0]
    assert 60 <= done < 600
    assert done % 20 == 0  # whole batches only: nothing half-written
    code, report, err = mempg_import(db, source)
    assert code == 0, err
    assert report["events"]["memory"] == {"SKIP": done, "ADD": 600 - done}
    assert conn.execute("SELECT count(*) FROM memory.memories").fetchone()[0] == 600


def test_a_dry_run_reports_the_same_and_changes_nothing(db: Database, write_jsonl) -> None:
    conn = owner(db.url)
    add_memory(conn, "already here", str(vec(1)).replace(" ", ""), user="u")
    lines = [
        {
            "id": f"m{i}",
            "memory": f"dry fact {i % 30}",
            "user_id": "u",
            "embedding": vec(i % 30 + 10),
        }
        for i in range(60)
    ]
    lines.append({"id": "same", "memory": "Already here", "user_id": "u", "embedding": vec(1)})
    lines.append({"id": "bad", "memory": " ", "user_id": "u", "embedding": vec(2)})
    source = write_jsonl(lines)
    before = counts(conn)
    dry = mempg_import(
        db, source, "--dry-run", "--batch-size", "20"
    )  # several batches, one transaction
    assert counts(conn) == before
    real = mempg_import(db, source, "--batch-size", "20")
    assert dry[0] == real[0] == 1  # a rejected row: exit 1
    assert dry[1]["events"] == real[1]["events"] == {"memory": {"ADD": 30, "NOOP": 31}}
    assert dry[1]["rejected_by_reason"] == real[1]["rejected_by_reason"]
    assert dry[1]["dry_run"] and not real[1]["dry_run"]


BAD_ROWS = [
    ({"memory": None, "user_id": "u", "embedding": vec(1)}, "22004"),
    ({"memory": "x" * 10_001, "user_id": "u", "embedding": vec(1)}, "22001"),
    ({"memory": "no user", "embedding": vec(1)}, "22004"),
    ({"memory": "blank agent", "user_id": "u", "agent_id": " ", "embedding": vec(1)}, "22023"),
    ({"memory": "zero vector", "user_id": "u", "embedding": [0.0] * DIM}, "22023"),
    ({"memory": "short vector", "user_id": "u", "embedding": [1.0] * 3}, "22023"),
    ({"memory": "long vector", "user_id": "u", "embedding": [1.0] * (DIM + 1)}, "22023"),
    ({"memory": "not a number", "user_id": "u", "embedding": ["a"] * DIM}, "22P02"),
    ({"memory": "metadata list", "user_id": "u", "embedding": vec(1), "metadata": [1]}, "22023"),
    (
        {"memory": "bad time", "user_id": "u", "embedding": vec(1), "created_at": "yesterday-ish"},
        "22007",
    ),
    (
        {"memory": "future", "user_id": "u", "embedding": vec(1), "created_at": "2999-01-01"},
        "22023",
    ),
    ({"memory": "nul \u0000 inside", "user_id": "u", "embedding": vec(1)}, "22P02"),
    (
        {"memory": "category nul", "user_id": "u", "embedding": vec(1), "categories": ["a\u0000"]},
        "22P02",
    ),
    (
        {
            "type": "memory",
            "version": 1,
            "history": [],
            "memory": "entity",
            "user_id": "u",
            "embedding": vec(1),
            "entities": [{"id": "never-imported"}],
        },
        "22023",
    ),
    (
        {
            "type": "memory",
            "version": "one",
            "history": [],
            "memory": "v",
            "user_id": "u",
            "embedding": vec(1),
        },
        "22P02",
    ),
    ("{not json", "22P02"),
    ({"memory": "lone \ud800 surrogate", "user_id": "u", "embedding": vec(1)}, "22P02"),
    (
        json.dumps(
            {
                "type": "memory",
                "version": 1,
                "history": [],
                "memory": "huge relevance",
                "user_id": "u",
                "embedding": vec(1),
                "relevance_score": 0,
            }
        ).replace('"relevance_score": 0', '"relevance_score": 1' + "0" * 400),
        "22P02",
    ),
    (
        {
            "memory": "restored deleted",
            "type": "memory",
            "version": 1,
            "history": [],
            "user_id": "u",
            "embedding": None,
            "is_deleted": True,
            "deleted_at": "2025-01-01",
        },
        "22004",
    ),
    ('"a string"', "22P02"),
]


def test_every_rejected_row_is_reported_with_its_sqlstate_and_the_rest_imported(
    db: Database, write_jsonl
) -> None:
    good = [
        {"id": f"g{i}", "memory": f"good {i}", "user_id": "u", "embedding": vec(100 + i)}
        for i in range(5)
    ]
    bad = [
        row if isinstance(row, str) else {"id": f"b{i}", **row}
        for i, (row, _) in enumerate(BAD_ROWS)
    ]
    lines = bad[:8] + good + bad[8:]
    code, report, _ = mempg_import(db, write_jsonl(lines))
    assert code == 1
    assert report["events"] == {"memory": {"ADD": 5}}
    codes = sorted(r["error_code"] for r in report["rejected_rows"])
    assert codes == sorted(expected for _, expected in BAD_ROWS)
    assert mempg_import(db, write_jsonl(lines, "again.jsonl"), "--allow-rejects")[0] == 0


def test_a_corrupt_row_writes_nothing_and_the_rest_of_its_batch_lands(
    db: Database, write_jsonl
) -> None:
    corrupt_id = "7d4c2a1e-0000-4000-8000-00000000c0de"
    corrupt = {  # an export line whose history breaks after its memory is written
        "type": "memory", "id": corrupt_id, "version": 2, "user_id": "u", "memory": "half written",
        "embedding": vec(50), "entities": [{"id": "e1", "role": "subject"}],
        "history": [
            {"event": "ADD", "new_memory": "half", "new_version": 1, "created_at": "2025-01-01"},
            {"event": "UPDATE", "old_memory": "half", "new_memory": "half written", "old_version": 1,
             "new_version": 2, "created_at": "not a time"},
        ],
    }  # fmt: skip
    entity = {"type": "entity", "id": "e1", "user_id": "u", "entity_type": "person", "name": "Eve"}
    good = [
        {"id": f"g{i}", "memory": f"intact fact {i}", "user_id": "u", "embedding": vec(100 + i)}
        for i in range(6)
    ]
    lines = [entity, *good[:3], corrupt, '{"id": "torn", "memory": "cut off', *good[3:]]
    conn = owner(db.url)
    code, report, _ = mempg_import(db, write_jsonl(lines))  # one batch, one chunk
    assert code == 1
    assert [(r["source_id"], r["error_code"]) for r in report["rejected_rows"]] == [
        ("line 6", "22P02"),  # the reader's, reported before the batch is applied
        (corrupt_id, "22007"),
    ]
    assert report["events"] == {"entity": {"RESTORE": 1}, "memory": {"ADD": 6}}
    # nothing of the corrupt row: no memory, history, entity link or import record
    written = "SELECT count(*) FROM memory.{} WHERE {} = %s OR {} ~ 'half|cut off'"
    assert scalar(conn, written.format("memories", "id", "memory"), corrupt_id) == 0
    assert (
        scalar(conn, written.format("memory_history", "memory_id", "new_memory"), corrupt_id) == 0
    )
    assert scalar(conn, "SELECT count(*) FROM memory.memory_entities") == 0
    assert scalar(conn, "SELECT count(*) FROM memory.pending_memories") == 0
    assert sorted(
        conn.execute("SELECT record_kind, source_id FROM memory.import_sources").fetchall()
    ) == [("entity", "e1"), *(("memory", f"g{i}") for i in range(6))]
    # and the others landed, each with its ADD
    added = scalar(
        conn,
        "SELECT count(*) FROM memory.memories AS m JOIN memory.memory_history AS h"
        " ON h.memory_id = m.id AND h.event = 'ADD' WHERE m.memory LIKE 'intact fact %'",
    )
    assert added == 6

    # mended, the same source brings in what was rejected and nothing twice
    corrupt["history"][1]["created_at"] = "2025-02-01"
    mended = [entity, *good[:3], corrupt, *good[3:]]
    code, report, err = mempg_import(db, write_jsonl(mended))
    assert code == 0, err
    assert report["events"] == {"entity": {"SKIP": 1}, "memory": {"SKIP": 6, "RESTORE": 1}}
    history = "SELECT count(*) FROM memory.memory_history WHERE memory_id = %s"
    assert scalar(conn, history, corrupt_id) == 2


def test_embeddings_of_another_dimension_are_refused_before_anything_is_written(
    db: Database, write_jsonl
) -> None:
    lines = [
        {"id": f"m{i}", "memory": f"small model {i}", "user_id": "u", "embedding": vec(i, 384)}
        for i in range(5)
    ]
    source = write_jsonl(lines)
    conn = owner(db.url)
    before = counts(conn)
    result = run_mempg("import", str(source), url=db.url)
    assert result.returncode == 2
    assert "384 dimensions" in result.stderr and f"{DIM}-dimensional" in result.stderr
    assert "--pad-embeddings" in result.stderr and "--no-embeddings" in result.stderr
    assert counts(conn) == before

    code, report, err = mempg_import(db, source, "--pad-embeddings")
    assert code == 0, err
    a, b = vec(0, 384), vec(1, 384)
    expected = sum(x * y for x, y in zip(a, b, strict=True))
    stored = conn.execute(
        "SELECT 1 - (x.embedding <=> y.embedding) FROM memory.memories AS x, memory.memories AS y"
        " WHERE x.memory = 'small model 0' AND y.memory = 'small model 1'"
    ).fetchone()[0]
    assert stored == pytest.approx(expected, abs=1e-5)  # zero-padding keeps cosine similarity

    code, report, _ = mempg_import(db, write_jsonl(lines, "text.jsonl"), "--no-embeddings")
    assert report["events"] == {"memory": {"PENDING": 5}}
    pending = conn.execute(
        "SELECT id FROM memory.pending_memories ORDER BY memory LIMIT 1"
    ).fetchone()[0]
    row = conn.execute(
        "SELECT memory_id IS NOT NULL, event FROM memory.embed_pending_memory(%s, %s::vector)",
        (pending, str(vec(0)).replace(" ", "")),
    ).fetchone()
    assert row == (True, "NOOP")  # the text was imported already (padded): deduplication as always
    assert conn.execute("SELECT count(*) FROM memory.pending_memories").fetchone()[0] == 4


def _world(conn: psycopg.Connection) -> None:
    """Memories with history (update, merge, delete), entities, a job change, an interaction."""
    alice_id, _ = add_memory(
        conn,
        "Alice joined Acme in 2020",
        str(vec(1)).replace(" ", ""),
        user="alice",
        metadata=Jsonb({"source": "chat"}),
        categories=["work"],
        entities=Jsonb(
            [{"name": "Alice", "type": "person"}, {"name": "Acme", "type": "organization"}]
        ),
    )
    add_memory(
        conn, "Alice likes green tea", str(vec(2)).replace(" ", ""), user="alice", agent_id="coach"
    )
    add_memory(
        conn,
        "Alice likes jasmine green tea",
        str(as_list(with_similarity(_np(vec(2)), 0.99))).replace(" ", ""),
        user="alice",
        agent_id="coach",
    )
    gone, _ = add_memory(conn, "Temporary note", str(vec(3)).replace(" ", ""), user="alice")
    conn.execute("SELECT * FROM memory.delete_memory(%s)", (gone,))
    add_memory(conn, "Bob plays chess", str(vec(4)).replace(" ", ""), user="bob")
    conn.execute(
        "SELECT * FROM memory.update_memory(%s, memory => 'Alice joined Acme in March 2020', embedding => %s::vector)",
        (alice_id, str(vec(5)).replace(" ", "")),
    )
    ids = dict(
        conn.execute("SELECT name, id FROM memory.entities WHERE user_id = 'alice'").fetchall()
    )
    globex = conn.execute(
        "SELECT id FROM memory.upsert_entity('alice', 'Globex', 'organization')"
    ).fetchone()[0]
    conn.execute(
        "SELECT * FROM memory.assert_fact(%s, 'works_at', %s, valid_from => '2020-03-01')",
        (ids["Alice"], ids["Acme"]),
    )
    conn.execute(
        "SELECT * FROM memory.assert_fact(%s, 'works_at', %s, valid_from => '2024-06-01')",
        (ids["Alice"], globex),
    )
    conn.execute(
        "SELECT memory.record_interaction(%s, 'Coffee with Alice', '2024-07-01', 'meeting', '{}', %s)",
        (ids["Alice"], [alice_id]),
    )
    # a memory unused for 40 days whose decayed relevance was stored (relevance and decayed_at
    # travel together: a restore must not decay it a second time)
    conn.execute(
        "UPDATE memory.memories SET last_accessed_at = now() - interval '40 days' WHERE id = %s",
        (alice_id,),
    )
    assert conn.execute("SELECT memory.decay_memories()").fetchone()[0] >= 1


def _normalised_export(db: Database, *args: str) -> list[dict]:
    result = run_mempg("export", "--jsonl", *args, url=db.url)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    names = {
        line["id"]: f"{line['user_id']}/{line['entity_type']}/{line['name']}"
        for line in lines
        if line["type"] == "entity"
    }

    def rename(value):
        if isinstance(value, dict):
            return {
                k: rename(v)
                for k, v in value.items()
                if not (k == "id" and value.get("type") in ("entity", "relation", "interaction"))
            }
        if isinstance(value, list):
            return [rename(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    renamed = [rename(line) for line in lines]
    for line in renamed:
        if (
            line["type"] == "memory"
        ):  # links are listed by entity id, which differs between databases
            line["entities"].sort(key=lambda link: json.dumps(link, sort_keys=True))
    return sorted(renamed, key=lambda line: json.dumps(line, sort_keys=True))


def test_an_export_reads_back_as_it_was(db: Database, tmp_path: Path) -> None:
    _world(owner(db.url))
    exported = tmp_path / "export.jsonl"
    assert run_mempg("export", "--jsonl", "-o", str(exported), url=db.url).returncode == 0
    with scratch_database("mempg_roundtrip", template_database()) as other:
        code, report, err = mempg_import(other, exported)
        assert code == 0, err
        assert set(report["events"]["memory"]) == {"RESTORE"}
        assert _normalised_export(other) == _normalised_export(db)
        assert any(line.get("decayed_at") for line in _normalised_export(other))
        second = mempg_import(other, exported)
        assert set(second[1]["events"]["memory"]) == {"SKIP"}


def test_an_export_of_one_user_holds_only_their_records_and_reads_back(
    db: Database, tmp_path: Path
) -> None:
    conn = owner(db.url)
    _world(conn)  # alice: 3 memories (one deleted), 3 entities, 2 facts, an interaction; bob: 1
    add_memory(conn, "Bob beat Carol at chess", str(vec(6)).replace(" ", ""), user="bob",
               entities=Jsonb([{"name": "Carol", "type": "person"}, {"name": "Bob", "type": "person"}]))  # fmt: skip
    ids = dict(
        conn.execute("SELECT name, id FROM memory.entities WHERE user_id = 'bob'").fetchall()
    )
    conn.execute(
        "SELECT * FROM memory.assert_fact(%s, 'knows', %s, valid_from => '2024-01-01')",
        (ids["Bob"], ids["Carol"]),
    )
    exported = tmp_path / "alice.jsonl"
    result = run_mempg("export", "--jsonl", "--user", "alice", "-o", str(exported), url=db.url)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    everyone = [json.loads(line) for line in run_mempg("export", "--jsonl", url=db.url).stdout.splitlines()]  # fmt: skip
    assert {line["user_id"] for line in everyone} == {"alice", "bob"}
    # the same lines as alice's in the export of everyone, in the same order
    assert lines == [line for line in everyone if line["user_id"] == "alice"]
    assert Counter(line["type"] for line in lines) == {
        "entity": 3, "memory": 3, "relation": 2, "interaction": 1,
    }  # fmt: skip
    assert result.stderr.strip() == f"exported {len(lines)} lines"
    with scratch_database("mempg_one_user", template_database()) as other:
        code, report, err = mempg_import(other, exported)
        assert code == 0, err
        assert report["read"] == {"entity": 3, "memory": 3, "relation": 2, "interaction": 1}
        assert _normalised_export(other) == _normalised_export(db, "--user", "alice")
        with other.connect() as copy:
            assert copy.execute("SELECT DISTINCT user_id FROM memory.memories").fetchall() == [
                ("alice",)
            ]


def test_the_application_role_cannot_restore_past_deduplication_or_history(db: Database) -> None:
    from vectors import connect_as

    with connect_as(db.url, "alice") as conn:
        add_memory(conn, "Alice likes tea", str(vec(1)).replace(" ", ""))
        conn.execute("SELECT set_config('memory.import_restore', 'on', false)")
        _, event = add_memory(
            conn,
            "Alice likes green tea",
            str(as_list(with_similarity(_np(vec(1)), 0.99))).replace(" ", ""),
        )
        assert add_memory(conn, "Alice reads novels", str(vec(2)).replace(" ", ""))[1] == "ADD"
        assert event == "UPDATE"  # near-duplicates still fold
        assert (
            conn.execute(
                "SELECT count(*) FROM memory.memory_history WHERE event = 'ADD'"
            ).fetchone()[0]
            == 2
        )


def test_a_source_id_given_twice_is_rejected_whatever_the_batch_size(
    db: Database, write_jsonl
) -> None:
    lines = [{"id": "same", "memory": "first text", "user_id": "u", "embedding": vec(1)}]
    lines += [
        {"id": f"m{i}", "memory": f"filler {i}", "user_id": "u", "embedding": vec(10 + i)}
        for i in range(5)
    ]
    lines += [{"id": "same", "memory": "second text", "user_id": "u", "embedding": vec(2)}]
    relations = [{"type": "relation", "user_id": "u", "subject": "e1", "relation": "knows", "value": f"v{i}",
                  "valid_from": "2025-01-01"} for i in range(3)]  # fmt: skip
    entity = {"type": "entity", "id": "e1", "user_id": "u", "entity_type": "person", "name": "Eve"}
    for size in ("2", "100"):
        code, report, _ = mempg_import(db, write_jsonl([entity, *lines, *relations], f"twice-{size}.jsonl"),
                                       "--batch-size", size)  # fmt: skip
        assert code == 1
        assert [(r["source_id"], r["error_code"]) for r in report["rejected_rows"]] == [
            ("same", "23505")
        ]
        assert (
            sum(report["events"]["relation"].values()) == 3
        )  # lines without ids: keyed by their text
    conn = owner(db.url)
    assert (
        conn.execute(
            "SELECT count(*) FROM memory.memories WHERE memory = 'second text'"
        ).fetchone()[0]
        == 0
    )


def test_an_export_with_a_deleted_entity_still_reads_back(db: Database, tmp_path: Path) -> None:
    conn = owner(db.url)
    add_memory(conn, "Ann met Acme", str(vec(1)).replace(" ", ""), user="ann",
               entities=Jsonb([{"name": "Acme", "type": "organization"}, {"name": "Ann", "type": "person"}]))  # fmt: skip
    acme = conn.execute("SELECT id FROM memory.entities WHERE name = 'Acme'").fetchone()[0]
    conn.execute("SELECT * FROM memory.delete_entity(%s)", (acme,))
    exported = tmp_path / "export.jsonl"
    assert run_mempg("export", "--jsonl", "-o", str(exported), url=db.url).returncode == 0
    with scratch_database("mempg_deleted", template_database()) as other:
        code, report, err = mempg_import(other, exported)
        assert code == 0, err
        assert report["events"] == {"entity": {"RESTORE": 1}, "memory": {"RESTORE": 1}}


def test_a_restore_flag_left_in_a_pooled_session_counts_for_nothing(db: Database) -> None:
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET ROLE service_role")
        add_memory(conn, "Tea at five", str(vec(1)).replace(" ", ""), user="u")
        xid = conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        conn.execute(
            "SELECT set_config('memory.import_restore', %s, false)", (f"on {int(xid) + 2}",)
        )
        near = str(as_list(with_similarity(_np(vec(1)), 0.99))).replace(" ", "")
        assert add_memory(conn, "Tea at five pm", near, user="u")[1] == "UPDATE"


def test_two_runs_of_one_source_at_once_are_refused(db: Database, write_jsonl) -> None:
    source = write_jsonl([{"id": "a", "memory": "locked", "user_id": "u", "embedding": vec(1)}])
    with psycopg.connect(db.url, autocommit=True) as holder:
        holder.execute("SET ROLE service_role")
        holder.execute("SELECT memory.start_import('jsonl', %s)", (str(source.resolve()),))
        result = run_mempg("import", str(source), url=db.url)
        assert result.returncode == 1 and "another import of jsonl" in result.stderr
    assert mempg_import(db, source)[0] == 0  # the holder's session ended: its lock went with it
