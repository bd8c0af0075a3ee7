"""An MCP memory server over mempg's SQL functions (`mempg mcp`), on the official SDK (PyPI `mcp` 2.x).

Tools: add_memory, search_memories (hybrid), list_memories, update_memory, delete_memory,
memory_history; upsert_entity, search_entities, assert_fact, entity_facts, entity_neighbourhood.
Each tool is one SQL call (plus the embedding of its text), acting for the user under row-level
security in its own transaction.

Identity comes from the server's configuration, never from the model alone:
- one user per server process (`--user alice`): `user_id` may be left out; any other is refused;
- an allow-list (`--allow-user alice --allow-user bob`): every call names `user_id`, one of them.
A refused user is SQLSTATE 42501, before any SQL runs.

Input is checked twice: by each tool's JSON schema (the SDK refuses a call that does not fit it:
a result with `is_error`), then by the SQL functions. A refusal from SQL is an MCP error
(JSON-RPC): code -32602 (invalid params) for the caller's mistakes (SQLSTATE classes 22, 23, 42,
P0, and PGRST for rate limits), -32603 otherwise, with `data = {"sqlstate", "message", "detail"}`
and the message `SQLSTATE <code>: <message>`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from pydantic import Field

from mempg_client.client import Client, MempgError, vector_literal
from mempg_client.embeddings import Embedder

INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
_CALLER_CLASSES = ("22", "23", "42", "P0", "PG")

Text = Annotated[
    str, Field(min_length=1, max_length=10_000, description="Text, 1 to 10,000 characters")
]
Label = Annotated[str, Field(min_length=1, max_length=255)]
Json = dict[str, Any]
Count = Annotated[int, Field(ge=1, le=100)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def mcp_error(exc: MempgError) -> MCPError:
    code = INVALID_PARAMS if exc.sqlstate.startswith(_CALLER_CLASSES) else INTERNAL_ERROR
    return MCPError(
        code,
        f"SQLSTATE {exc.sqlstate}: {exc.message}",
        {"sqlstate": exc.sqlstate, "message": exc.message, "detail": exc.detail},
    )


class Identity:
    """Who a tool call acts for: the server's one user, or a user of its allow-list."""

    def __init__(self, user: str | None = None, allowed: Iterable[str] | None = None) -> None:
        allowed_set = frozenset(allowed or ())
        if (user is None) == (not allowed_set):
            raise ValueError(
                "give either one user (--user) or an allow-list (--allow-user), not both or neither"
            )
        self.user = user
        self.allowed = allowed_set

    def resolve(self, user_id: str | None) -> str:
        if self.user is not None:
            if user_id is not None and user_id != self.user:
                raise MempgError(
                    "42501", f"this server acts for user {self.user!r} only, not {user_id!r}"
                )
            return self.user
        if user_id is None:
            raise MempgError(
                "22004", "user_id must be given: this server serves an allow-list of users"
            )
        if user_id not in self.allowed:
            raise MempgError("42501", f"user_id {user_id!r} is not in this server's allow-list")
        return user_id


UserArg = Annotated[
    str | None,
    Field(
        description="The user to act for: optional with a one-user server, required with an allow-list"
    ),
]


def build_server(client: Client, embedder: Embedder, identity: Identity) -> MCPServer:
    """The MCP server; `client` is checked against `embedder`'s dimension here (start-up)."""
    client.check_dimension(embedder.name, embedder.dimension)
    server = MCPServer(
        "mempg",
        instructions="Long-term memory in PostgreSQL (mempg): add, search, update and forget memories; "
        "entities and facts about them.",
    )

    def run_as(
        user_id: str | None, query: str, build: Callable[[str], tuple[Any, ...]]
    ) -> list[dict[str, Any]]:
        try:
            user = identity.resolve(user_id)
            return [_jsonable(row) for row in client.call(query, build(user), user=user)]
        except MempgError as exc:
            raise mcp_error(exc) from exc

    def embed(text: str) -> str | None:
        return vector_literal(embedder.embed([text])[0])

    def dumps(value: Json | None) -> str | None:
        return None if value is None else json.dumps(value)

    @server.tool()
    def add_memory(
        memory: Text,
        metadata: Json | None = None,
        categories: list[Label] | None = None,
        agent_id: Label | None = None,
        run_id: Label | None = None,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """Remember a fact. Deduplicated in SQL: returns the memory's id and ADD, NOOP, UPDATE or MERGE."""
        vector = embed(memory)
        rows = run_as(
            user_id,
            "SELECT id, event FROM memory.add_memory(%s, %s, %s::extensions.vector, coalesce(%s::jsonb, '{}'),"
            " coalesce(%s::text[], '{}'), %s, %s)",
            lambda user: (user, memory, vector, dumps(metadata), categories, agent_id, run_id),
        )
        return rows[0]

    @server.tool()
    def search_memories(
        query: Text,
        match_count: Count = 10,
        filters: Json | None = None,
        agent_id: Label | None = None,
        run_id: Label | None = None,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """Find memories: hybrid search (full text and vector, fused by rank). `filters` takes Mem0's
        operators: {"topic": "travel"}, {"month": {"gte": 5}}, {"OR": [...]}, {"NOT": ...}."""
        vector = embed(query)
        rows = run_as(
            user_id,
            "SELECT id, memory, metadata, categories, score, similarity, full_text_rank, semantic_rank,"
            "       created_at, updated_at"
            " FROM memory.hybrid_search_memories(%s, %s::extensions.vector, %s, match_count => %s,"
            "      agent_id => %s, run_id => %s, filters => %s::jsonb)",
            lambda user: (query, vector, user, match_count, agent_id, run_id, dumps(filters)),
        )
        return {"results": rows}

    @server.tool()
    def list_memories(
        agent_id: Label | None = None,
        run_id: Label | None = None,
        page_size: Count = 20,
        after_created_at: datetime | None = None,
        after_id: UUID | None = None,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """List memories, newest first. For the next page pass the last row's created_at and id."""
        rows = run_as(
            user_id,
            "SELECT id, memory, metadata, categories, agent_id, run_id, version, created_at, updated_at"
            " FROM memory.list_memories(%s, %s, %s, %s, %s, %s)",
            lambda user: (user, agent_id, run_id, after_created_at, after_id, page_size),
        )
        return {"results": rows}

    @server.tool()
    def update_memory(
        memory_id: UUID,
        memory: Text | None = None,
        metadata: Json | None = None,
        categories: list[Label] | None = None,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """Change a memory's text (re-embedded), metadata (replaced) or categories; version + 1."""
        vector = None if memory is None else embed(memory)
        rows = run_as(
            user_id,
            "SELECT memory_id AS id, event, version FROM memory.update_memory(%s, %s, %s::extensions.vector,"
            " %s::jsonb, %s::text[])",
            lambda user: (memory_id, memory, vector, dumps(metadata), categories),
        )
        return rows[0]

    @server.tool()
    def delete_memory(memory_id: UUID, user_id: UserArg = None) -> dict[str, Any]:
        """Forget a memory (soft delete: its history stays)."""
        rows = run_as(
            user_id,
            "SELECT memory_id AS id, event FROM memory.delete_memory(%s)",
            lambda user: (memory_id,),
        )
        return rows[0]

    @server.tool()
    def memory_history(memory_id: UUID, user_id: UserArg = None) -> dict[str, Any]:
        """A memory's history: ADD, UPDATE, MERGE, DELETE, RESTORE, oldest first."""
        rows = run_as(
            user_id,
            "SELECT event, old_memory, new_memory, old_version, new_version, created_at"
            " FROM memory.memory_history(%s)",
            lambda user: (memory_id,),
        )
        return {"history": rows}

    @server.tool()
    def upsert_entity(
        name: Annotated[str, Field(min_length=1, max_length=200)],
        entity_type: Annotated[str, Field(min_length=1, max_length=64)] = "other",
        aliases: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = None,
        attributes: Json | None = None,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """Find or add an entity (person, organization, place, ...), resolved in SQL by name,
        alias, trigram and embedding; returns its id and ADD or MATCH with how it matched."""
        vector = embed(name)
        rows = run_as(
            user_id,
            "SELECT id, event, matched_by, score FROM memory.upsert_entity(%s, %s, %s,"
            " coalesce(%s::text[], '{}'), coalesce(%s::jsonb, '{}'), embedding => %s::extensions.vector)",
            lambda user: (user, name, entity_type, aliases, dumps(attributes), vector),
        )
        return rows[0]

    @server.tool()
    def search_entities(
        query: Text,
        entity_type: Annotated[str, Field(min_length=1, max_length=64)] | None = None,
        match_count: Count = 10,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """Find entities by name, text and meaning; each with its current facts."""
        vector = embed(query)
        rows = run_as(
            user_id,
            "SELECT id, name, entity_type, aliases, score, facts"
            " FROM memory.search_entities(%s, %s::extensions.vector, %s, %s, %s)",
            lambda user: (query, vector, user, entity_type, match_count),
        )
        return {"results": rows}

    @server.tool()
    def assert_fact(
        subject_id: UUID,
        relation: Annotated[str, Field(min_length=1, max_length=64)],
        object_id: UUID | None = None,
        value: Annotated[str, Field(min_length=1, max_length=1000)] | None = None,
        fact: Text | None = None,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """State a fact about an entity (works_at, knows, lives_in, ...) with its validity; a
        single-valued relation supersedes the previous object. Give object_id or value."""
        rows = run_as(
            user_id,
            "SELECT id, event, closed FROM memory.assert_fact(%s, %s, %s, %s, %s, %s, %s)",
            lambda user: (subject_id, relation, object_id, value, fact, valid_from, valid_to),
        )
        return rows[0]

    @server.tool()
    def entity_facts(
        entity_id: UUID,
        as_of: datetime | None = None,
        include_past: bool = False,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """An entity's facts now (or at as_of), or its whole timeline with include_past."""
        rows = run_as(
            user_id,
            "SELECT id, subject, relation, object, value, fact, valid_from, valid_to"
            " FROM memory.entity_facts(%s, %s, %s)",
            lambda user: (entity_id, as_of, include_past),
        )
        return {"facts": rows}

    @server.tool()
    def entity_neighbourhood(
        entity_id: UUID,
        depth: Annotated[int, Field(ge=1, le=3)] = 1,
        user_id: UserArg = None,
    ) -> dict[str, Any]:
        """Entities reachable from one through current facts, up to `depth` hops."""
        rows = run_as(
            user_id,
            "SELECT id, name, entity_type, distance, relation, direction FROM memory.entity_neighbourhood(%s, %s)",
            lambda user: (entity_id, depth),
        )
        return {"results": rows}

    return server


def serve(
    *,
    dsn: str | None,
    user: str | None,
    allowed_users: Iterable[str] | None,
    embedder: Embedder,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8765,
) -> None:
    """Build the server (checking the embedder's dimension first) and run it until stdin closes."""
    identity = Identity(user, allowed_users)
    client = Client(dsn, allowed_users=[user] if user else allowed_users)
    server = build_server(client, embedder, identity)
    if http:
        server.run("streamable-http", host=host, port=port)
    else:
        server.run("stdio")
