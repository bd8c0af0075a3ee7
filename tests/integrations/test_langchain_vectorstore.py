"""The LangChain VectorStore: langchain-tests' own standard suite, then what that suite leaves out
(metadata filters, hybrid search, MMR, search by vector, scores, users kept apart)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip(
    "langchain_core", reason="the langchain extra is not installed (make test installs it)"
)
pytest.importorskip(
    "langchain_tests", reason="langchain-tests is not installed (make test installs it)"
)

from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from helpers import Database
from mempg_client import DimensionMismatch, MempgError
from mempg_client.embeddings import HashEmbedder
from mempg_client.langchain import MempgEmbeddings, MempgVectorStore
from vectors import DIM


class PositiveFakeEmbedding(DeterministicFakeEmbedding):
    """The suite's DeterministicFakeEmbedding with each component's absolute value: mempg's search
    never returns a memory at negative cosine (its threshold is 0..1), and half the pairs of random
    vectors are negative; real text embeddings of related texts are not."""

    def _get_embedding(self, seed: int) -> list[float]:
        return [abs(x) for x in super()._get_embedding(seed)]


class TestMempgStandard(VectorStoreIntegrationTests):
    """langchain-tests' VectorStoreIntegrationTests, unchanged, at the installed dimension."""

    @staticmethod
    def get_embeddings() -> Embeddings:
        return PositiveFakeEmbedding(size=DIM)

    @pytest.fixture
    def vectorstore(self, module_db: Database) -> Iterator[MempgVectorStore]:
        # a new user is an empty store; the module's database is dropped afterwards
        store = MempgVectorStore(
            self.get_embeddings(), user_id=f"lc-{uuid.uuid4().hex[:12]}", dsn=module_db.url
        )
        yield store
        store.client.close()


@pytest.fixture
def store(module_db: Database) -> Iterator[MempgVectorStore]:
    store = MempgVectorStore(
        MempgEmbeddings(HashEmbedder(DIM)), user_id=f"lc-{uuid.uuid4().hex[:12]}", dsn=module_db.url
    )
    store.add_texts(
        [
            "Alice flies to Lisbon in May",
            "Alice flies to Oslo in December",
            "Alice has dinner with Ana on Friday",
            "Alice visits the dentist in March",
        ],
        metadatas=[
            {"topic": "travel", "month": 5},
            {"topic": "travel", "month": 12},
            {"topic": "social", "month": 5},
            {"month": 3},
        ],
        ids=["lisbon", "oslo", "dinner", "dentist"],
    )
    yield store
    store.client.close()


def test_metadata_filters_use_mempgs_filter_language(store: MempgVectorStore):
    def ids(filter):
        return sorted(d.id for d in store.similarity_search("Alice", k=10, filter=filter))

    assert ids({"topic": "travel"}) == ["lisbon", "oslo"]
    assert ids({"month": {"gte": 5}, "topic": {"ne": "social"}}) == ["lisbon", "oslo"]
    assert ids({"OR": [{"month": 3}, {"topic": "social"}]}) == ["dentist", "dinner"]
    assert ids({"NOT": {"topic": "travel"}}) == ["dentist", "dinner"]
    with pytest.raises(MempgError) as refused:
        store.similarity_search("Alice", filter={"month": {"between": [1, 2]}})
    assert refused.value.sqlstate == "22023"


def test_scores_search_by_vector_and_hybrid(store: MempgVectorStore):
    (top, score), *_ = store.similarity_search_with_score("Alice flies to Lisbon in May", k=2)
    assert top.id == "lisbon" and top.metadata == {"topic": "travel", "month": 5}
    assert score == pytest.approx(1.0, abs=1e-5)
    vector = store.embeddings.embed_query("Alice flies to Oslo in December")
    assert store.similarity_search_by_vector(vector, k=1)[0].id == "oslo"
    hybrid = store.similarity_search_with_score("Lisbon", k=2, hybrid=True)
    assert hybrid[0][0].id == "lisbon"  # the full-text side finds the rare term
    assert [d.id for d in store.hybrid_search("dentist March", k=1)] == ["dentist"]
    relevance = store.similarity_search_with_relevance_scores("Alice flies to Lisbon in May", k=1)
    assert relevance[0][1] == pytest.approx(1.0, abs=1e-5)


def test_max_marginal_relevance_prefers_diverse_results(store: MempgVectorStore):
    store.add_texts(
        ["Alice flies to Lisbon in May again"], metadatas=[{"topic": "travel"}], ids=["lisbon2"]
    )
    nearest = [d.id for d in store.similarity_search("Alice flies to Lisbon in May", k=2)]
    diverse = [
        d.id
        for d in store.max_marginal_relevance_search(
            "Alice flies to Lisbon in May", k=2, fetch_k=5, lambda_mult=0.3
        )
    ]
    assert nearest == ["lisbon", "lisbon2"]
    assert diverse[0] == "lisbon" and diverse[1] != "lisbon2"


def test_two_stores_of_two_users_never_see_each_other(store: MempgVectorStore, module_db: Database):
    other = MempgVectorStore(
        MempgEmbeddings(HashEmbedder(DIM)), user_id=f"lc-{uuid.uuid4().hex[:12]}", dsn=module_db.url
    )
    assert other.similarity_search("Alice flies to Lisbon in May", k=4) == []
    assert other.get_by_ids(["lisbon"]) == []
    other.delete(["lisbon"])  # another user's id is an unknown id: nothing happens
    other.add_texts(["Bob's own Lisbon note"], ids=["lisbon"])  # the same document id, another user
    assert [d.page_content for d in other.get_by_ids(["lisbon"])] == ["Bob's own Lisbon note"]
    assert [d.page_content for d in store.get_by_ids(["lisbon"])] == [
        "Alice flies to Lisbon in May"
    ]


def test_a_deleted_id_can_be_added_again(store: MempgVectorStore):
    store.delete(["oslo"])
    assert store.get_by_ids(["oslo"]) == []
    store.add_documents(
        [Document(page_content="Alice flies to Oslo in January", metadata={"month": 1}, id="oslo")]
    )
    assert store.get_by_ids(["oslo"]) == [
        Document(page_content="Alice flies to Oslo in January", metadata={"month": 1}, id="oslo")
    ]


def test_an_embedding_model_of_another_dimension_is_refused_at_start_up(module_db: Database):
    with pytest.raises(DimensionMismatch) as refused:
        MempgVectorStore(
            DeterministicFakeEmbedding(size=384), user_id="lc-small", dsn=module_db.url
        )
    assert (refused.value.sqlstate, refused.value.embedder_dim, refused.value.installed_dim) == (
        "22023",
        384,
        DIM,
    )
