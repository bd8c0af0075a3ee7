"""Mem0 (mem0ai 2.x) on mempg: a vector store provider, and an embedder provider for text callers.

    import mempg_client.mem0
    mempg_client.mem0.register()            # once per process, before Memory.from_config
    memory = Memory.from_config({
        "vector_store": {"provider": "mempg", "config": {"dsn": URL, "user_id": "alice"}},
        "embedder": {"provider": "mempg"},  # MEMPG_EMBEDDINGS_URL, else the local MiniLM model
        ...})

Registration: Mem0 has no plug-in entry point. Its config validation (`VectorStoreConfig`) maps a
provider name to a config class in the module `mem0.configs.vector_stores.<provider>`, and its
factory (`VectorStoreFactory.provider_to_class`, `EmbedderFactory.provider_to_class`) maps the name
to a class path. `register()` adds "mempg" to both maps and makes this module importable under
that config module name. Mem0's embedder config only checks a `config` it is given, so
`{"provider": "mempg"}` is written without one; `register(embedder=...)` chooses the embedder.

Every method maps onto one of mempg's SQL functions (search_memories, text_search_memories,
get_memory, list_memories, update_memory, delete_memory) in a transaction acting for the user
(see mempg_client.client: acting_as(), the pinned `user_id`, else the user the call names), under
row-level security. An insert keeps the id Mem0 chose: memory.add_memory(..., memory_id => id)
(0016). A NOOP / UPDATE / MERGE folds it into a memory the user already has: Mem0's new id is
then not stored (`last_insert_outcomes` lists what happened).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mem0.embeddings.base import EmbeddingBase
from mem0.vector_stores.base import VectorStoreBase
from pydantic import BaseModel, ConfigDict, Field

from mempg_client.client import Client, MempgError, vector_literal
from mempg_client.embeddings import Embedder, default_embedder

logger = logging.getLogger(__name__)

PROVIDER = "mempg"
# Payload keys that are columns of memory.memories (or derived by mempg), not metadata.
_COLUMN_KEYS = frozenset({"data", "user_id", "agent_id", "run_id", "created_at", "updated_at"})
# mempg computes its own full-text vector; Mem0's lemmatised copy of the text is not stored.
_DROPPED_KEYS = frozenset({"text_lemmatized"})
_SCOPE_KEYS = ("user_id", "agent_id", "run_id")
_LIST_PAGE = 1000  # list_memories' largest page

_registered_embedder: Embedder | None = None


class MempgConfig(BaseModel):
    """The `vector_store.config` of provider "mempg"."""

    dsn: str | None = Field(
        None, description="PostgreSQL URL; default DATABASE_URL, else the embedded server"
    )
    collection_name: str = Field(
        "mem0", description="Mem0's collection; mempg holds memories in memory.memories"
    )
    embedding_model_dims: int | None = Field(
        None, description="Checked against the installed dimension at start-up"
    )
    user_id: str | None = Field(
        None, description="Pin every call to this user (one user per Memory)"
    )
    allowed_users: list[str] | None = Field(None, description="Refuse (42501) any other user")
    keyword_search: bool = Field(
        True, description="Offer mempg's full-text ranking to Mem0's hybrid scoring"
    )

    model_config = ConfigDict(extra="forbid")


class OutputData(BaseModel):
    id: str | None
    score: float | None
    payload: dict[str, Any] | None


def _is_auxiliary(collection: str) -> bool:
    """Mem0's own side collections: the telemetry one and the entity store (`<name>_entities`)."""
    return collection == "mem0migrations" or collection.endswith(("_entities", "-entities"))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _payload(row: dict[str, Any], user: str | None = None) -> dict[str, Any]:
    payload = dict(row.get("metadata") or {})
    payload["data"] = row["memory"]
    payload["user_id"] = row.get("user_id") or user
    for key in ("agent_id", "run_id"):
        if row.get(key) is not None:
            payload[key] = row[key]
    payload["created_at"] = _iso(row.get("created_at"))
    payload["updated_at"] = _iso(row.get("updated_at"))
    return payload


def _metadata(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in _COLUMN_KEYS and k not in _DROPPED_KEYS}


_WILDCARD_ANY = [  # Mem0's {"key": "*"}: the key holds a string, a number or a boolean
    {"gte": ""},
    {"gte": -1.7976931348623157e308},
    {"in": [True, False]},
]


def translate_filters(filters: dict[str, Any]) -> dict[str, Any] | None:
    """Mem0's processed filters (`$or`, `$not`, `*`) in mempg's filter language (OR, NOT, AND).

    `$not: [c1, c2]` means none of them (as Mem0's Qdrant store reads it); `{"k": "*"}` means k
    holds a string, number or boolean. mempg's SQL checks the result (22023 for a bad one)."""
    parts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key, value in filters.items():
        logical = {"$or": "OR", "$and": "AND", "$not": "NOT"}.get(key, key)
        if logical in ("OR", "AND", "NOT"):
            if logical in seen:
                continue  # Mem0 may pass both "OR" and its rewrite "$or"
            seen.add(logical)
            conditions = value if isinstance(value, list) else [value]
            translated = [translate_filters(c) if isinstance(c, dict) else c for c in conditions]
            if logical == "NOT":
                parts.extend({"NOT": c} for c in translated)
            else:
                parts.append({logical: translated})
        elif value == "*":
            parts.append({"OR": [{key: op} for op in _WILDCARD_ANY]})
        else:
            parts.append({key: value})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"AND": parts}


def split_filters(
    filters: dict[str, Any] | None,
) -> tuple[str | None, str | None, str | None, dict[str, Any] | None]:
    """(user_id, agent_id, run_id, the rest in mempg's language): plain scope values become the
    functions' arguments; an agent_id / run_id with operators stays in the filter."""
    rest = dict(filters or {})
    scope: dict[str, str | None] = {}
    for key in _SCOPE_KEYS:
        value = rest.get(key)
        if value is None or isinstance(value, str):
            scope[key] = rest.pop(key, None)
        else:
            scope[key] = None
    return scope["user_id"], scope["agent_id"], scope["run_id"], translate_filters(rest)


class MempgVectorStore(VectorStoreBase):
    """Mem0's VectorStoreBase over mempg's SQL functions (see the module docstring)."""

    def __init__(self, **config: Any) -> None:
        self.config = MempgConfig(**config)
        self.collection_name = self.config.collection_name
        self.auxiliary = _is_auxiliary(self.collection_name)
        self.client = Client(
            self.config.dsn, user_id=self.config.user_id, allowed_users=self.config.allowed_users
        )
        self.last_insert_outcomes: list[dict[str, str]] = []
        if not self.auxiliary:  # start-up: an embedder of another dimension is refused here
            dims = self.config.embedding_model_dims
            if dims is None and _registered_embedder is not None:
                dims = _registered_embedder.dimension
            if dims is not None:
                self.client.check_dimension(f"of {dims} dimensions (Mem0's embedder)", dims)

    def _refuse_auxiliary(self) -> None:
        if self.auxiliary:
            raise MempgError(
                "0A000",
                f"collection {self.collection_name!r} is not stored by mempg: mempg resolves "
                "entities in SQL (memory.upsert_entity), not in a second vector collection",
            )

    # -- collections ---------------------------------------------------------------------------
    def create_col(self, name: str, vector_size: int, distance: str = "cosine") -> None:
        """mempg's table exists once migrated; only the dimension is checked."""
        self.client.check_dimension(f"of {vector_size} dimensions", vector_size)

    def list_cols(self) -> list[str]:
        return [self.collection_name]

    def col_info(self) -> dict[str, Any]:
        return {
            "name": self.collection_name,
            "table": "memory.memories",
            "dimension": self.client.embedding_dim(),
            "distance": "cosine",
            "user_id": self.client.identity(),
        }

    def delete_col(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Soft-deletes every memory of the acting user (never other users': it is shared)."""
        self._refuse_auxiliary()
        user = self.client.identity()
        if user is None:
            raise MempgError("22004", "reset needs a user: set user_id, or call inside acting_as()")
        while True:
            rows = self.client.call(
                "SELECT l.id FROM memory.list_memories(%s, page_size => %s) AS l",
                (user, _LIST_PAGE),
                user=user,
            )
            if not rows:
                return
            with self.client.transaction(user) as cur:
                for row in rows:
                    cur.execute("SELECT * FROM memory.delete_memory(%s)", (row["id"],))

    # -- writes --------------------------------------------------------------------------------
    def insert(
        self,
        vectors: Sequence[Sequence[float]],
        payloads: Sequence[dict] | None = None,
        ids: Sequence[str] | None = None,
    ) -> None:
        self._refuse_auxiliary()
        payloads = payloads or [{} for _ in vectors]
        if ids is None:
            raise MempgError("22004", "ids must be given: Mem0 chooses the memory ids")
        self.last_insert_outcomes = []
        for vector, payload, memory_id in zip(vectors, payloads, ids, strict=True):
            user = self.client.identity(payload.get("user_id"))
            with self.client.transaction(user) as cur:
                cur.execute(
                    "SELECT id, event FROM memory.add_memory(%s, %s, %s::extensions.vector, %s::jsonb,"
                    " agent_id => %s, run_id => %s, memory_id => %s)",
                    (
                        payload.get("user_id") or user,
                        payload.get("data"),
                        vector_literal(vector),
                        json.dumps(_metadata(payload)),
                        payload.get("agent_id"),
                        payload.get("run_id"),
                        memory_id,
                    ),
                )
                outcome = cur.fetchone()
            event = {"mem0_id": str(memory_id), "id": str(outcome["id"]), "event": outcome["event"]}
            self.last_insert_outcomes.append(event)
            if event["event"] != "ADD":
                logger.info(
                    "mempg folded Mem0's memory %s into %s (%s)",
                    memory_id,
                    event["id"],
                    event["event"],
                )

    def update(
        self, vector_id: str, vector: Sequence[float] | None = None, payload: dict | None = None
    ) -> None:
        self._refuse_auxiliary()
        user = self.client.identity()
        self.client.call(
            "SELECT * FROM memory.update_memory(%s::uuid, memory => %s, embedding => %s::extensions.vector,"
            " metadata => %s::jsonb)",
            (
                vector_id,
                None if payload is None else payload.get("data"),
                vector_literal(vector),
                None if payload is None else json.dumps(_metadata(payload)),
            ),
            user=user,
        )

    def delete(self, vector_id: str) -> None:
        self._refuse_auxiliary()
        self.client.call(
            "SELECT * FROM memory.delete_memory(%s::uuid)",
            (vector_id,),
            user=self.client.identity(),
        )

    # -- reads ---------------------------------------------------------------------------------
    def get(self, vector_id: str) -> OutputData | None:
        self._refuse_auxiliary()
        try:
            rows = self.client.call(
                "SELECT * FROM memory.get_memory(%s::uuid)",
                (vector_id,),
                user=self.client.identity(),
            )
        except MempgError as exc:
            if exc.sqlstate in ("P0002", "22P02"):  # not found (or another user's); not a uuid
                return None
            raise
        return OutputData(id=str(rows[0]["id"]), score=None, payload=_payload(rows[0]))

    def search(
        self, query: str, vectors: Sequence[float], top_k: int = 5, filters: dict | None = None
    ) -> list[OutputData]:
        self._refuse_auxiliary()
        user, agent, run, rest = split_filters(filters)
        acting = self.client.identity(user)
        rows = self.client.call(
            "SELECT s.id, s.memory, s.metadata, s.similarity, s.created_at, s.updated_at,"
            "       g.user_id, g.agent_id, g.run_id"
            " FROM memory.search_memories(%s::extensions.vector, %s, match_count => %s,"
            "      similarity_threshold => 0, agent_id => %s, run_id => %s, filters => %s::jsonb) AS s"
            " CROSS JOIN LATERAL memory.get_memory(s.id) AS g",
            (
                vector_literal(vectors),
                user or acting,
                top_k,
                agent,
                run,
                None if rest is None else json.dumps(rest),
            ),
            user=acting,
        )
        return [
            OutputData(id=str(r["id"]), score=float(r["similarity"]), payload=_payload(r))
            for r in rows
        ]

    def keyword_search(
        self, query: str, top_k: int = 5, filters: dict | None = None
    ) -> list[OutputData] | None:
        """mempg's full-text ranking (text_search_memories: any term, per-user idf)."""
        if not self.config.keyword_search or self.auxiliary or not query.strip():
            return None
        user, agent, run, rest = split_filters(filters)
        acting = self.client.identity(user)
        rows = self.client.call(
            "SELECT t.id, t.memory, t.metadata, t.text_score, t.created_at, t.updated_at"
            " FROM memory.text_search_memories(%s, %s, match_count => %s, agent_id => %s, run_id => %s,"
            "      filters => %s::jsonb) AS t",
            (query, user or acting, top_k, agent, run, None if rest is None else json.dumps(rest)),
            user=acting,
        )
        return [
            OutputData(
                id=str(r["id"]), score=float(r["text_score"]), payload=_payload(r, user or acting)
            )
            for r in rows
        ]

    def list(self, filters: dict | None = None, top_k: int | None = 100) -> list[list[OutputData]]:
        """Newest first, pages of list_memories; the filter is evaluated in SQL (memory.in_scope)."""
        self._refuse_auxiliary()
        user, agent, run, rest = split_filters(filters)
        acting = self.client.identity(user)
        limit = top_k or 100
        found: list[OutputData] = []
        cursor: tuple[Any, Any] = (None, None)
        while len(found) < limit:
            rows = self.client.call(
                "SELECT l.id, l.user_id, l.agent_id, l.run_id, l.memory, l.metadata, l.created_at, l.updated_at,"
                "       memory.in_scope(memory.search_scope(NULL, NULL, %s::jsonb, NULL, NULL), l.agent_id,"
                "           l.run_id, l.memory_type, l.metadata, l.categories, l.created_at, l.updated_at) AS matches"
                " FROM memory.list_memories(%s, %s, %s, %s, %s, %s) AS l",
                (
                    None if rest is None else json.dumps(rest),
                    user or acting,
                    agent,
                    run,
                    *cursor,
                    _LIST_PAGE if rest else min(limit, _LIST_PAGE),
                ),
                user=acting,
            )
            found.extend(
                OutputData(id=str(r["id"]), score=None, payload=_payload(r))
                for r in rows
                if r["matches"]
            )
            if len(rows) < (_LIST_PAGE if rest else min(limit, _LIST_PAGE)):
                break
            cursor = (rows[-1]["created_at"], rows[-1]["id"])
        return [found[:limit]]


class MempgEmbedding(EmbeddingBase):
    """Mem0's embedder interface over a mempg_client Embedder (the registered one, else the default)."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.embedder = _registered_embedder or default_embedder()

    def embed(self, text: str, memory_action: str | None = None) -> list[float]:
        return self.embedder.embed([text])[0]

    def embed_batch(self, texts: list[str], memory_action: str = "add") -> list[list[float]]:
        return self.embedder.embed(texts)


def register(embedder: Embedder | None = None) -> None:
    """Make provider "mempg" known to Mem0's config validation and factories (idempotent).

    `embedder`: what `{"embedder": {"provider": "mempg"}}` embeds with (default: MEMPG_EMBEDDINGS_URL,
    else the local MiniLM model); its dimension is also checked against the database at start-up."""
    global _registered_embedder
    from mem0.utils.factory import EmbedderFactory, VectorStoreFactory
    from mem0.vector_stores.configs import VectorStoreConfig

    _registered_embedder = embedder
    VectorStoreFactory.provider_to_class[PROVIDER] = f"{__name__}.MempgVectorStore"
    EmbedderFactory.provider_to_class[PROVIDER] = f"{__name__}.MempgEmbedding"
    VectorStoreConfig.__private_attributes__["_provider_configs"].default[PROVIDER] = "MempgConfig"
    # VectorStoreConfig imports mem0.configs.vector_stores.<provider> and reads the class from it.
    sys.modules[f"mem0.configs.vector_stores.{PROVIDER}"] = sys.modules[__name__]
