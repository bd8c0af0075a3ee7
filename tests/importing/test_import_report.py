"""What `mempg import` tells: the validation report (rows read, applied by event, rejected by
reason, per kind of record; a checksum that two databases taking the same import agree on) and
its progress, plain lines when no terminal reads it and a bar when one does."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from collections import Counter

import numpy as np
from import_support import as_list, mempg_import, vec

from helpers import ROOT, Database, run_mempg, scratch_database, template_database
from vectors import owner, with_similarity


def _near(seed: int, similarity: float) -> list[float]:
    base = np.asarray(vec(seed), dtype=np.float32)
    return as_list(with_similarity(base, similarity, seed=seed))


# One user's lines (--user): two entities of the MCP memory server (one observation, pending),
# memories that add, repeat, replace (>= 0.98) and merge (>= 0.95), one blank memory, a fact and a
# fact about an entity the source never had.
LINES = [
    {"type": "entity", "name": "Eve", "entityType": "person", "observations": ["Eve runs the lab"]},
    {"type": "entity", "name": "Bob", "entityType": "person", "observations": []},
    {"id": "m0", "memory": "Eve likes tea", "embedding": vec(1)},
    {"id": "m1", "memory": "EVE LIKES TEA ", "embedding": vec(1)},
    {"id": "m2", "memory": "Eve likes green tea", "embedding": _near(1, 0.99)},
    {"id": "m3", "memory": "Bob plays chess", "embedding": vec(2)},
    {"id": "m4", "memory": "Bob plays chess on Sundays", "embedding": _near(2, 0.96)},
    {"id": "m5", "memory": " ", "embedding": vec(3)},
    {"type": "relation", "from": "Eve", "to": "Bob", "relationType": "knows"},
    {"type": "relation", "from": "Eve", "to": "Nobody", "relationType": "knows"},
]


def test_the_report_counts_rows_read_applied_and_rejected_per_kind(
    db: Database, write_jsonl
) -> None:
    source = write_jsonl(LINES)
    code, report, err = mempg_import(db, source, "--user", "u")
    assert code == 1, err  # rows were rejected
    assert report["read"] == {"entity": 2, "memory": 7, "relation": 2}
    assert report["events"] == {
        "entity": {"ADD": 2},
        "memory": {"ADD": 2, "NOOP": 1, "UPDATE": 1, "MERGE": 1, "PENDING": 1},
        "relation": {"ADD": 1},
    }
    assert report["rejected"] == 2
    assert [(r["kind"], r["source_id"], r["error_code"]) for r in report["rejected_rows"]] == [
        ("memory", "m5", "22023"),
        ("relation", "Eve|knows|Nobody", "22023"),
    ]
    assert {reason.split(":")[0]: n for reason, n in report["rejected_by_reason"].items()} == {
        "memory 22023": 1,
        "relation 22023": 1,
    }
    rejected = Counter(r["kind"] for r in report["rejected_rows"])
    for kind, read in report["read"].items():  # every row read is accounted for
        assert read == sum(report["events"].get(kind, {}).values()) + rejected[kind]
    conn = owner(db.url)
    assert conn.execute("SELECT count(*) FROM memory.memories").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM memory.entity_relations").fetchone()[0] == 1
    assert conn.execute(
        "SELECT status, checksum, report -> 'read' FROM memory.import_runs WHERE id = %s",
        (report["run_id"],),
    ).fetchone() == ("completed", report["checksum"], report["read"])

    text = run_mempg("import", str(write_jsonl(LINES, "again.jsonl")), "--user", "v", url=db.url)
    assert text.returncode == 1
    assert text.stdout.splitlines()[1:4] == [
        "  entity: read 2; ADD 2; rejected 0",
        "  memory: read 7; ADD 2, MERGE 1, NOOP 1, PENDING 1, UPDATE 1; rejected 1",
        "  relation: read 2; ADD 1; rejected 1",
    ]


def test_the_same_import_into_two_fresh_databases_gives_the_same_checksum(
    db: Database, write_jsonl
) -> None:
    source = write_jsonl(LINES)
    first = mempg_import(db, source, "--user", "u", "--allow-rejects")
    with scratch_database("mempg_checksum", template_database()) as other:
        # in other batches: what was written decides, not how it was sent
        second = mempg_import(other, source, "--user", "u", "--allow-rejects", "--batch-size", "3")
    assert first[0] == second[0] == 0
    assert first[1]["events"] == second[1]["events"]
    assert first[1]["checksum"] == second[1]["checksum"]
    assert len(first[1]["checksum"]) == 64
    third = mempg_import(
        db, write_jsonl(LINES, "other-user.jsonl"), "--user", "w", "--allow-rejects"
    )
    assert third[1]["checksum"] != first[1]["checksum"]  # other records: another checksum


def _memories(count: int) -> list[dict]:
    return [
        {"id": f"p{i}", "memory": f"progress fact {i}", "user_id": "u", "embedding": vec(i)}
        for i in range(count)
    ]


def test_progress_is_plain_lines_when_no_terminal_reads_it(db: Database, write_jsonl) -> None:
    lines = [*_memories(7), "{not json"]
    result = run_mempg("import", str(write_jsonl(lines)), "--batch-size", "3", url=db.url)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "  3 rows read, 3 applied, 0 rejected",
        "  6 rows read, 6 applied, 0 rejected",
        "  8 rows read, 7 applied, 1 rejected",
    ]
    for output in (result.stdout, result.stderr):  # no carriage returns or escapes of a bar
        assert "\r" not in output and "\x1b" not in output
    assert result.stdout.startswith("imported from jsonl")


def test_progress_is_a_bar_on_a_terminal(db: Database, write_jsonl) -> None:
    source = write_jsonl(_memories(6))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80 columns
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEMPG_DIR")}
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "import", str(source), "--batch-size", "2"],
        env={**env, "DATABASE_URL": db.url, "MEMPG_DIR": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    terminal = b""
    while True:  # read the terminal until the process closes it
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, "no output on the terminal for 60 s"
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: every writer is gone
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    stdout = process.communicate(timeout=60)[0]
    assert process.returncode == 0
    shown = terminal.decode()
    assert "\r" in shown and "6rows" in shown.replace(" ", "")  # tqdm redraws one line
    assert "rows read" not in shown  # not the plain lines
    assert stdout.startswith("imported from jsonl")
