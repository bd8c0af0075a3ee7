"""Which reader reads a source: --from, or guessed from the source (a URL or a file's suffix)."""

from __future__ import annotations

from pathlib import Path

from runner.importing.loader import Source, SourceError

KINDS = ("mem0-pg", "mem0-history", "langchain", "session-buddy", "sqlite", "jsonl")


def is_database(source: str) -> bool:
    """A PostgreSQL URL or a libpq key=value string (host=... dbname=...)."""
    if source.startswith(("postgres://", "postgresql://")):
        return True
    if "=" not in source:
        return False
    import psycopg

    try:
        psycopg.conninfo.conninfo_to_dict(source)
    except psycopg.ProgrammingError:
        return False
    return True


def guess_kind(source: str) -> str:
    if is_database(source):
        raise SourceError("a database URL needs --from mem0-pg or --from langchain")
    suffix = Path(source).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".duckdb":
        return "session-buddy"
    if suffix in (".db", ".sqlite", ".sqlite3"):
        from runner.importing.sqlite_seed import is_mem0_history

        return "mem0-history" if is_mem0_history(Path(source)) else "sqlite"
    raise SourceError(f"cannot tell what {source} is: give --from ({', '.join(KINDS)})")


def open_source(kind: str, source: str, *, table: str | None, collection: str | None) -> Source:
    """The reader for a source; it checks the source can be read before anything is written."""
    if kind in ("mem0-pg", "langchain") and not is_database(source):
        raise SourceError(f"--from {kind} reads a PostgreSQL database: give its URL, not {source}")
    if kind == "jsonl":
        from runner.importing.jsonl import JsonlSource

        return JsonlSource(Path(source))
    if kind == "mem0-pg":
        from runner.importing.mem0 import Mem0PgSource

        return Mem0PgSource(source, table or "mem0")
    if kind == "mem0-history":
        from runner.importing.mem0 import Mem0HistorySource

        return Mem0HistorySource(Path(source))
    if kind == "langchain":
        from runner.importing.langchain import LangChainSource

        return LangChainSource(source, collection=collection, table=table)
    if kind == "sqlite":
        from runner.importing.sqlite_seed import SeedSqliteSource

        return SeedSqliteSource(Path(source))
    if kind == "session-buddy":
        from runner.importing.session_buddy import SessionBuddySource

        return SessionBuddySource(Path(source))
    raise SourceError(f"unknown source kind {kind}")
