"""Fixtures for the integrations (Mem0, LangChain, MCP, embeddings): the real package, never a mock.

Each module shares one clone of the migrated template (`module_db`) and keeps its tests apart by
user id; identity is set per call by mempg_client (role authenticated + app.user_id), as the
product does. `embeddings_server` is a small real HTTP server on 127.0.0.1 answering the
OpenAI-compatible /embeddings shape with hash embeddings, so nothing reaches a network.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# Mem0 reads this at import time; with telemetry on it would create a second store and post
# events to a network this machine does not have.
os.environ["MEM0_TELEMETRY"] = "False"

from mempg_client.embeddings import HashEmbedder

DIM = 1536  # the template database's embedding dimension


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


@dataclass
class EmbeddingsServer:
    """An OpenAI-compatible embeddings endpoint; `requests` records what it was sent."""

    url: str
    dimension: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None


@pytest.fixture(scope="module")
def embeddings_server() -> Iterator[EmbeddingsServer]:
    yield from _serve(DIM)


@pytest.fixture(scope="module")
def small_embeddings_server() -> Iterator[EmbeddingsServer]:
    """The same, at 384 dimensions: an embedder the 1536-dim database must refuse."""
    yield from _serve(384)


def _serve(dimension: int) -> Iterator[EmbeddingsServer]:
    hasher = HashEmbedder(dimension)
    state = EmbeddingsServer(url="", dimension=dimension)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {
                    "path": self.path,
                    "body": body,
                    "authorization": self.headers.get("Authorization"),
                }
            )
            if state.fail_with is not None:
                self.send_response(state.fail_with)
                self.end_headers()
                self.wfile.write(b'{"error": "model not loaded"}')
                return
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [
                {"object": "embedding", "index": i, "embedding": v}
                for i, v in enumerate(hasher.embed(texts))
            ]
            answer = json.dumps({"object": "list", "data": data[::-1], "model": body.get("model")})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
