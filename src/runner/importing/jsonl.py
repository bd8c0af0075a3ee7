"""JSON lines: mempg's own export (memory.export_lines(), read back verbatim), Mem0's
`Memory.get_all()` items (one a line, or a whole `{"results": [...]}` object on a line), and the
entity and relation lines of the MCP reference memory server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.importing.records import Item, MemoryRow, Record, Unreadable

MEMPG_MEMORY_KEYS = ("version", "history")


class JsonlSource:
    kind = "jsonl"

    def __init__(self, path: Path) -> None:
        from runner.importing.loader import SourceError

        self.path = path
        self.name = str(path.resolve())
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        with path.open("rb") as handle:
            head = handle.read(4096)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not a character cut at the end of the sample
                raise SourceError(f"{path}: not a UTF-8 text file (JSON lines expected)") from None
        first = head.lstrip()[:1]
        if first and first not in (b"{", b"["):
            raise SourceError(f"{path}: not JSON lines (the first line does not start with '{{')")

    def items(self) -> Iterator[Item]:
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    yield Unreadable(
                        f"line {number}",
                        f"line {number} is not UTF-8: {exc.reason} at byte {exc.start}",
                    )
                    continue
                if not text:
                    continue
                try:
                    value = json.loads(text)
                except (json.JSONDecodeError, RecursionError) as exc:
                    reason = (
                        exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                    )
                    yield Unreadable(f"line {number}", f"line {number} is not JSON: {reason}")
                    continue
                yield from lines_to_items(value, number, text)


def lines_to_items(value: Any, number: int, text: str) -> Iterator[Item]:
    if not isinstance(value, dict):
        yield Unreadable(f"line {number}", f"line {number} is not a JSON object")
        return
    if isinstance(value.get("results"), list) and "memory" not in value:
        for index, item in enumerate(value["results"]):
            yield from lines_to_items(item, number, json.dumps(item, sort_keys=True) + f"#{index}")
        return
    kind = value.get("type")
    if kind == "memory" and all(key in value for key in MEMPG_MEMORY_KEYS):
        yield _mempg_memory(value, text)
    elif kind == "entity" and "entityType" in value:
        yield from _mcp_entity(value)
    elif kind == "relation" and "relationType" in value:
        yield _mcp_relation(value)
    elif kind == "entity":
        yield _mempg_entity(value, text)
    elif kind == "relation":
        yield _mempg_relation(value, text)
    elif kind == "interaction":
        yield _mempg_interaction(value, text)
    elif "memory" in value:
        yield _mem0_item(value, text)
    else:
        yield Unreadable(f"line {number}", f"line {number}: no memory, entity or relation in it")


def _id(value: dict[str, Any], text: str) -> str:
    ident = value.get("id")
    return (
        str(ident) if ident is not None else "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    )


def _mempg_memory(value: dict[str, Any], text: str) -> MemoryRow:
    restore = {
        key: value.get(key)
        for key in (
            "id",
            "version",
            "is_deleted",
            "deleted_at",
            "access_count",
            "last_accessed_at",
            "decayed_at",
            "history",
        )
    }
    return MemoryRow(
        source_id=_id(value, text),
        user_id=value.get("user_id"),
        memory=value.get("memory"),
        embedding=value.get("embedding"),
        agent_id=value.get("agent_id"),
        run_id=value.get("run_id"),
        metadata=value.get("metadata"),
        categories=value.get("categories"),
        memory_type=value.get("memory_type"),
        source=value.get("source"),
        relevance_score=value.get("relevance_score"),
        expires_at=value.get("expires_at"),
        created_at=value.get("created_at"),
        updated_at=value.get("updated_at"),
        entities=value.get("entities") or None,
        restore=restore,
    )


def _mem0_item(value: dict[str, Any], text: str) -> MemoryRow:
    """A Mem0 get_all() item: {id, memory, hash, created_at, updated_at, user_id, agent_id, run_id,
    metadata, ...}; without an embedding it becomes a pending memory."""
    metadata = (
        dict(value.get("metadata") or {})
        if isinstance(value.get("metadata") or {}, dict)
        else value.get("metadata")
    )
    known = {
        "id",
        "memory",
        "hash",
        "created_at",
        "updated_at",
        "user_id",
        "agent_id",
        "run_id",
        "metadata",
        "embedding",
        "categories",
        "score",
        "actor_id",
        "role",
    }
    if isinstance(metadata, dict):
        for key, item in value.items():
            if key not in known:
                metadata.setdefault(key, item)
    ident = _id(value, text)
    return MemoryRow(
        source_id=ident,
        preferred_id=ident,  # the memory's id when it is a uuid and free (the loader decides)
        user_id=value.get("user_id"),
        memory=value.get("memory"),
        embedding=value.get("embedding"),
        agent_id=value.get("agent_id"),
        run_id=value.get("run_id"),
        metadata=metadata,
        categories=value.get("categories"),
        created_at=value.get("created_at"),
        updated_at=value.get("updated_at"),
        source="mem0",
    )


def _mcp_entity(value: dict[str, Any]) -> Iterator[Item]:
    """The MCP memory server's {"type":"entity","name","entityType","observations":[...]}: an entity,
    and each observation a memory about it (pending: the server keeps no embeddings)."""
    name = value.get("name")
    yield Record("entity", str(name), None, {"name": name, "type": value.get("entityType")})
    observations = value.get("observations") or []
    if not isinstance(observations, list):
        yield Unreadable(f"{name}", "observations must be a list")
        return
    for index, observation in enumerate(observations):
        yield MemoryRow(
            source_id=f"{name}#observation-{index}",
            user_id=None,
            memory=observation,
            entities=[{"id": str(name), "role": "subject"}],
            source="mcp-memory",
        )


def _mcp_relation(value: dict[str, Any]) -> Record:
    source_id = f"{value.get('from')}|{value.get('relationType')}|{value.get('to')}"
    return Record(
        "relation",
        source_id,
        None,
        {
            "subject": value.get("from"),
            "object": value.get("to"),
            "relation": value.get("relationType"),
        },
    )


def _mempg_entity(value: dict[str, Any], text: str) -> Record:
    doc = {
        key: value.get(key)
        for key in (
            "name",
            "aliases",
            "attributes",
            "contact",
            "importance",
            "person_type",
            "embedding",
        )
    }
    doc["type"] = value.get("entity_type")
    doc["restore"] = True  # an exported entity: its exact name only (memory.restore_entity)
    return Record(
        "entity",
        _id(value, text),
        value.get("user_id"),
        {k: v for k, v in doc.items() if v is not None},
    )


def _mempg_relation(value: dict[str, Any], text: str) -> Record:
    doc = {
        key: value.get(key)
        for key in (
            "subject",
            "relation",
            "object",
            "value",
            "fact",
            "valid_from",
            "valid_to",
            "source_memory",
        )
    }
    return Record(
        "relation",
        _id(value, text),
        value.get("user_id"),
        {k: v for k, v in doc.items() if v is not None},
    )


def _mempg_interaction(value: dict[str, Any], text: str) -> Record:
    doc = {
        key: value.get(key)
        for key in ("entity", "summary", "occurred_at", "channel", "metadata", "memories")
    }
    return Record(
        "interaction",
        _id(value, text),
        value.get("user_id"),
        {k: v for k, v in doc.items() if v is not None},
    )
