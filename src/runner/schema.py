"""The whole current schema in one file (`schema.sql`): every table, column, constraint, index,
type, sequence, partition, view, trigger, policy and grant of the project's schemas, as pg_dump
sees them, in a stable order. `mempg schema` writes it; `mempg verify` compares the database with
it and names each object that differs, so a column or index changed by hand is reported.

Function bodies are left out: sql/ holds their readable definitions, which verify checks on its
own. The file is for reading and diffing, not for restoring (its order is by name, not by
dependency): a database is built by the migrations.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg

from runner import embedded
from runner.errors import RunnerError

FILE_NAME = "schema.sql"
# What sql/ defines in full (function bodies) or what only repeats it.
LEFT_OUT = {"FUNCTION", "PROCEDURE", "AGGREGATE"}
_HEADER = re.compile(
    r"^-- Name: (?P<name>.+?); Type: (?P<type>[A-Z ]+); Schema: (?P<schema>[^;]+);"
)
_NOISE = re.compile(r"^(\\(un)?restrict .*|SET .*|SELECT pg_catalog\.set_config.*)$")
# Kinds in the order a reader looks for them.
_ORDER = [
    "SCHEMA",
    "TYPE",
    "DOMAIN",
    "TABLE",
    "SEQUENCE",
    "SEQUENCE OWNED BY",
    "DEFAULT",
    "CONSTRAINT",
    "FK CONSTRAINT",
    "INDEX",
    "VIEW",
    "MATERIALIZED VIEW",
    "TRIGGER",
    "ROW SECURITY",
    "POLICY",
    "COMMENT",
    "ACL",
]
# What depends on the embedding dimension chosen at install (0002): the vector columns' type,
# their storage (PLAIN up to 1,800 dimensions, MAIN above) and the HNSW index (up to 2,000).
_DIMENSION = re.compile(r"\bvector\(\d+\)")
_STORAGE = re.compile(r"(ALTER COLUMN embedding SET STORAGE) (PLAIN|MAIN)")
MAX_INDEXED_DIMENSION = 2000
ANN_INDEXES = (
    "INDEX memory.memories_embedding_ann",
    "INDEX agent.conversations_embedding_ann",
    "INDEX agent.chunks_embedding_ann",
)
# The daily partitions of agent.metrics (0013) are named by their date and created ahead by
# maintenance, so they differ from one day to the next: the file holds the partitioned table,
# its indexes and policies, and leaves them out (with their indexes, attachments and settings).
_DATED_PARTITION = re.compile(r"^metrics_p\d{8}(_|$)")
# The heavy users' own HNSW indexes (0022) are built and dropped by `mempg maintain` as users grow
# and shrink (memory.user_index_plan(); their names hold a hash of the user id): data, not schema.
_USER_INDEX = re.compile(r"^memories_ann_user_[0-9a-f]{16}$")
_TEXT_SEARCH = re.compile(r"to_tsvector\('((?:[^']|'')+)'::regconfig")


@dataclass(frozen=True)
class Entry:
    kind: str
    schema: str
    name: str
    text: str

    @property
    def key(self) -> str:
        """How a reader names it: `TABLE memory.memories`, `COMMENT ON COLUMN memory.memories.hash`."""
        if self.kind in {"COMMENT", "ACL"} and " " in self.name:
            target, rest = self.name.split(" ", 1)
            where = f"{self.schema}.{rest}" if self.schema != "-" else rest
            return f"{self.kind} ON {target} {where}"
        return (
            f"{self.kind} {self.schema}.{self.name}"
            if self.schema != "-"
            else f"{self.kind} {self.name}"
        )


def dump(url: str, schemas: list[str]) -> list[Entry]:
    """The project's schemas as pg_dump --schema-only writes them, split into named entries."""
    command = [str(embedded.bin_path("pg_dump")), "--schema-only", "--no-owner", "--dbname", url]
    command += [f"--schema={schema}" for schema in schemas]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RunnerError(f"pg_dump failed: {result.stderr.strip()}")
    entries: list[Entry] = []
    current: dict[str, str] | None = None
    lines: list[str] = []

    def close() -> None:
        if (
            current is not None
            and current["type"] not in LEFT_OUT
            and not _about_function(current)
            and not _dated_partition(current)
            and not _user_index(current)
        ):
            text = "\n".join(line for line in lines if line.strip()).strip()
            entries.append(Entry(current["type"], current["schema"], current["name"], text))

    for line in result.stdout.splitlines():
        header = _HEADER.match(line)
        if header:
            close()
            current, lines = header.groupdict(), []
        elif current is not None and not line.startswith("--") and not _NOISE.match(line):
            lines.append(line)
    close()
    return sorted(entries, key=_sort_key)


def _about_function(header: dict[str, str]) -> bool:
    """COMMENT ON FUNCTION and the ACL of a function: sql/ and verify's definitions cover them."""
    return header["type"] in {"COMMENT", "ACL"} and header["name"].startswith(
        ("FUNCTION ", "PROCEDURE ")
    )


def _dated_partition(header: dict[str, str]) -> bool:
    """An entry of a daily partition of agent.metrics (its table, attachment, indexes, RLS)."""
    return header["schema"] == "agent" and bool(_DATED_PARTITION.match(header["name"]))


def _user_index(header: dict[str, str]) -> bool:
    """A heavy user's own HNSW index on memory.memories (user_indexes.sql)."""
    return (
        header["schema"] == "memory"
        and header["type"] == "INDEX"
        and bool(_USER_INDEX.match(header["name"]))
    )


def _sort_key(entry: Entry) -> tuple[str, int, str, str]:
    rank = _ORDER.index(entry.kind) if entry.kind in _ORDER else len(_ORDER)
    return (entry.schema, rank, entry.name, entry.text)


def render(entries: list[Entry], embedding_dim: int) -> str:
    head = (
        "-- The whole current schema of mempg's schemas, generated by `mempg schema` (do not edit).\n"
        "-- Tables, columns, constraints, indexes, types, views, triggers, policies and grants, by\n"
        "-- schema and kind; function bodies are in sql/. `mempg verify` compares a database with it.\n"
        f"-- embedding dimension: {embedding_dim}\n"
    )
    body = "\n\n".join(f"-- {entry.key}\n{entry.text}" for entry in entries)
    return head + "\n" + body + "\n"


def parse(text: str) -> tuple[int | None, dict[str, str]]:
    """The embedding dimension a file was written at, and its entries by key."""
    dimension = re.search(r"^-- embedding dimension: (\d+)$", text, re.MULTILINE)
    entries: dict[str, str] = {}
    for block in text.split("\n\n"):
        first, _, rest = block.partition("\n")
        if first.startswith("-- ") and rest and not first.startswith("-- The whole"):
            entries[first[3:]] = rest.strip()
    return (int(dimension.group(1)) if dimension else None), entries


def _at_any_dimension(entries: dict[str, str]) -> dict[str, str]:
    """Entries with the dimension-dependent parts masked, to compare installs of two dimensions."""
    return {
        key: _STORAGE.sub(r"\1 <storage>", _DIMENSION.sub("vector(<dimension>)", text))
        for key, text in entries.items()
    }


def _in_installed_text_search_config(
    conn: psycopg.Connection, entries: dict[str, str]
) -> dict[str, str]:
    """The file's entries with its text-search configuration replaced by the one this database
    chose at install (`--text-search-config`, recorded in mempg.settings), so that a database
    installed with `simple` matches a file written from one installed with `english`. A column
    whose configuration differs from the recorded choice still differs."""
    row = conn.execute(
        "SELECT value FROM mempg.settings WHERE key = 'text_search_config'"
    ).fetchone()
    if row is None:
        return entries
    chosen = row[0].replace("'", "''")
    return {
        key: _TEXT_SEARCH.sub(lambda _m: f"to_tsvector('{chosen}'::regconfig", text)
        for key, text in entries.items()
    }


_HALFVEC = (
    (re.compile(r"\bhalfvec\((\d+)\)"), r"vector(\1)"),
    (re.compile(r"\bhalfvec_(\w+)_ops\b"), r"vector_\1_ops"),
    (re.compile(r"\bl2_norm\(embedding\)"), "vector_norm(embedding)"),
)


def _as_vector(conn: psycopg.Connection, entries: dict[str, str]) -> dict[str, str]:
    """A halfvec install's entries (`--embedding-type halfvec`, 0024) as the vector install they
    mirror: the column types, the HNSW operator classes and the norm of the non-zero CHECK, the
    only things the choice changes. Any other difference still shows."""
    row = conn.execute("SELECT value FROM mempg.settings WHERE key = 'embedding_type'").fetchone()
    if row is None or row[0] != "halfvec":
        return entries
    out = {}
    for key, text in entries.items():
        for pattern, replacement in _HALFVEC:
            text = pattern.sub(replacement, text)
        out[key] = text
    return out


def installed_dimension(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT mempg.embedding_dim()").fetchone()
    if row is None or row[0] is None:
        raise RunnerError("mempg.embedding_dim() is not installed: apply the migrations first")
    return int(row[0])


def write(conn: psycopg.Connection, url: str, schemas: list[str], path: Path) -> Path:
    entries = {entry.key: entry for entry in dump(url, schemas)}
    texts = _as_vector(conn, {key: entry.text for key, entry in entries.items()})
    vector_entries = [replace(entry, text=texts[key]) for key, entry in entries.items()]
    path.write_text(render(vector_entries, installed_dimension(conn)), encoding="utf-8")
    return path


def differences(conn: psycopg.Connection, url: str, schemas: list[str], path: Path) -> list[str]:
    """Each object whose definition in the database differs from the file, by kind and name."""
    if not path.is_file():
        return [f"{path.name} is missing: write it with `mempg schema`"]
    file_dimension, expected = parse(path.read_text(encoding="utf-8"))
    live_dimension = installed_dimension(conn)
    live = _as_vector(conn, {entry.key: entry.text for entry in dump(url, schemas)})
    expected = _in_installed_text_search_config(conn, expected)
    if file_dimension is not None and live_dimension != file_dimension:
        expected, live = _at_any_dimension(expected), _at_any_dimension(live)
        if max(file_dimension, live_dimension) > MAX_INDEXED_DIMENSION:
            for index in ANN_INDEXES:
                expected.pop(index, None)
                live.pop(index, None)
    out = []
    for key in sorted(expected.keys() | live.keys()):
        if key not in live:
            out.append(f"{key} is in {path.name} but not in the database")
        elif key not in expected:
            out.append(f"{key} is in the database but not in {path.name}")
        elif expected[key] != live[key]:
            out.append(f"{key} differs from {path.name}")
    return out
