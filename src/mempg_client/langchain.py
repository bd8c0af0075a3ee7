"""A LangChain (langchain-core) `VectorStore` over mempg's SQL functions, and `MempgEmbeddings`.

    store = MempgVectorStore(embeddings, user_id="alice", dsn=URL)
    store.add_texts(["Alice flies to Lisbon in May"], metadatas=[{"topic": "travel"}])
    store.similarity_search("Lisbon", k=4, filter={"topic": "travel"})
    store.similarity_search("Lisbon", k=4, hybrid=True)         # hybrid_search_memories
    store.max_marginal_relevance_search("Lisbon", k=4, fetch_k=20)

One store is one user's memories (`user_id`, or `acting_as()` per call), optionally narrowed to
an agent and a run; every call runs as `authenticated` for that user under row-level security.
`filter` is mempg's (and Mem0's) filter language: {"topic": "travel"}, {"month": {"gte": 5}},
{"OR": [...]}, {"NOT": ...}; SQL checks it (22023 for a bad one).

Ids: a document id that is a UUID is the memory's id; any other string (LangChain's tests use
"1", "2") is mapped to a UUID (uuid5 of the user and the id) and kept in the metadata key `langchain_id`, which is taken
out again on the way back. Adding a document whose id exists updates it (update_memory); a new id
goes through the memories table's triggers as add_memory() does (checks, deduplication, quotas,
history): a text the user already holds is folded into that memory, as mempg always does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from mempg_client.client import Client, MempgError, vector_literal
from mempg_client.embeddings import Embedder, default_embedder

ID_KEY = "langchain_id"
_NAMESPACE = uuid.UUID("7f0c6c2e-5a43-4d1b-9a59-6d3c1f0e6b21")


class MempgEmbeddings(Embeddings):
    """LangChain's Embeddings over a mempg_client Embedder (default: MEMPG_EMBEDDINGS_URL, else MiniLM)."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        self.embedder = embedder or default_embedder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed([text])[0]


def _memory_id(user: str, document_id: str) -> uuid.UUID:
    """A UUID id as it is; any other string mapped per user (so users' "1" never collide)."""
    try:
        return uuid.UUID(document_id)
    except ValueError:
        return uuid.uuid5(_NAMESPACE, f"{user}\x1f{document_id}")


def _document(row: dict[str, Any]) -> Document:
    metadata = dict(row.get("metadata") or {})
    document_id = metadata.pop(ID_KEY, None) or str(row["id"])
    return Document(page_content=row["memory"], metadata=metadata, id=document_id)


class MempgVectorStore(VectorStore):
    """LangChain's VectorStore for one user's memories in mempg (see the module docstring)."""

    def __init__(
        self,
        embedding: Embeddings | None = None,
        *,
        user_id: str | None = None,
        dsn: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        hybrid: bool = False,
        client: Client | None = None,
    ) -> None:
        self.embedding = embedding or MempgEmbeddings()
        self.client = client or Client(dsn, user_id=user_id)
        self.agent_id = agent_id
        self.run_id = run_id
        self.hybrid = hybrid
        # start-up: an embedding model of another dimension than the installed one is refused here
        dimension = len(self.embedding.embed_query("mempg dimension check"))
        self.client.check_dimension(type(self.embedding).__name__, dimension)

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def _user(self) -> str:
        user = self.client.identity()
        if user is None:
            raise MempgError(
                "22004", "user_id must be given (MempgVectorStore(user_id=...) or acting_as())"
            )
        return user

    # -- writes --------------------------------------------------------------------------------
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        if not texts:
            return []
        metadatas = metadatas or [{} for _ in texts]
        given = list(ids) if ids is not None else [None] * len(texts)
        document_ids = [i if i else str(uuid.uuid4()) for i in given]
        vectors = self.embedding.embed_documents(texts)
        user = self._user()
        with self.client.transaction(user) as cur:
            for text, metadata, vector, document_id in zip(
                texts, metadatas, vectors, document_ids, strict=True
            ):
                memory_id = _memory_id(user, document_id)
                stored = dict(metadata)
                if str(memory_id) != document_id:
                    stored[ID_KEY] = document_id
                cur.execute(
                    "SELECT m.is_deleted FROM memory.memories AS m WHERE m.id = %s", (memory_id,)
                )
                existing = cur.fetchone()
                if existing is not None and existing["is_deleted"]:
                    cur.execute("SELECT * FROM memory.restore_memory(%s)", (memory_id,))
                if existing is not None:
                    cur.execute(
                        "SELECT * FROM memory.update_memory(%s, %s, %s::extensions.vector, %s::jsonb)",
                        (memory_id, text, vector_literal(vector), json.dumps(stored)),
                    )
                else:
                    cur.execute(
                        "SELECT * FROM memory.add_memory(%s, %s, %s::extensions.vector, %s::jsonb,"
                        " agent_id => %s, run_id => %s, memory_id => %s)",
                        (
                            user,
                            text,
                            vector_literal(vector),
                            json.dumps(stored),
                            self.agent_id,
                            self.run_id,
                            memory_id,
                        ),
                    )
        return document_ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Soft-deletes the memories with these ids; ids that do not exist are skipped."""
        if not ids:
            return None
        user = self._user()
        with self.client.transaction(user) as cur:
            for document_id in ids:
                cur.execute(
                    "SELECT count(*) AS n FROM memory.memories AS m WHERE m.id = %s AND NOT m.is_deleted",
                    (_memory_id(user, document_id),),
                )
                if cur.fetchone()["n"]:
                    cur.execute(
                        "SELECT * FROM memory.delete_memory(%s)", (_memory_id(user, document_id),)
                    )
        return True

    # -- reads ---------------------------------------------------------------------------------
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        user = self._user()
        found = []
        with self.client.transaction(user) as cur:
            for document_id in ids:
                cur.execute(
                    "SELECT count(*) AS n FROM memory.memories AS m WHERE m.id = %s AND NOT m.is_deleted",
                    (_memory_id(user, document_id),),
                )
                if cur.fetchone()["n"]:
                    cur.execute(
                        "SELECT * FROM memory.get_memory(%s)", (_memory_id(user, document_id),)
                    )
                    found.append(_document(cur.fetchone()))
        return found

    def _search(
        self,
        query: str | None,
        vector: list[float],
        k: int,
        filter: dict[str, Any] | None,
        hybrid: bool,
    ) -> list[tuple[Document, float, dict[str, Any]]]:
        user = self._user()
        filters = None if not filter else json.dumps(filter)
        if hybrid:
            if query is None:
                raise MempgError("22004", "hybrid search needs the query text")
            rows = self.client.call(
                "SELECT id, memory, metadata, score FROM memory.hybrid_search_memories(%s, %s::extensions.vector,"
                " %s, match_count => %s, agent_id => %s, run_id => %s, filters => %s::jsonb)",
                (query, vector_literal(vector), user, k, self.agent_id, self.run_id, filters),
                user=user,
            )
        else:
            rows = self.client.call(
                "SELECT id, memory, metadata, similarity AS score FROM memory.search_memories(%s::extensions.vector,"
                " %s, match_count => %s, similarity_threshold => 0, agent_id => %s, run_id => %s,"
                " filters => %s::jsonb)",
                (vector_literal(vector), user, k, self.agent_id, self.run_id, filters),
                user=user,
            )
        return [(_document(r), float(r["score"]), r) for r in rows]

    def similarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        return [
            doc for doc, _ in self.similarity_search_with_score(query, k, filter=filter, **kwargs)
        ]

    def similarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: dict[str, Any] | None = None,
        *,
        hybrid: bool | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Cosine similarity (higher is nearer); with hybrid, the fused RRF score."""
        vector = self.embedding.embed_query(query)
        use_hybrid = self.hybrid if hybrid is None else hybrid
        return [
            (doc, score) for doc, score, _ in self._search(query, vector, k, filter, use_hybrid)
        ]

    def similarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        return [doc for doc, _, _ in self._search(None, embedding, k, filter, False)]

    def _select_relevance_score_fn(self) -> Any:
        return lambda score: score  # cosine similarity already; 1 is identical

    def hybrid_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None
    ) -> list[Document]:
        """mempg's hybrid search (full text and vector, fused by rank)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, hybrid=True)]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        return self.max_marginal_relevance_search_by_vector(
            self.embedding.embed_query(query), k, fetch_k, lambda_mult, filter=filter
        )

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """The fetch_k nearest by search_memories, then LangChain's MMR over their embeddings."""
        import numpy as np

        candidates = self._search(None, embedding, fetch_k, filter, False)
        if not candidates:
            return []
        user = self._user()
        rows = self.client.call(
            "SELECT m.id, m.embedding::text AS embedding FROM memory.memories AS m WHERE m.id = ANY(%s)",
            ([r["id"] for _, _, r in candidates],),
            user=user,
        )
        by_id = {r["id"]: json.loads(r["embedding"]) for r in rows}
        vectors = [by_id[r["id"]] for _, _, r in candidates]
        chosen = maximal_marginal_relevance(
            np.array(embedding), vectors, lambda_mult=lambda_mult, k=k
        )
        return [candidates[i][0] for i in chosen]

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> MempgVectorStore:
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store
