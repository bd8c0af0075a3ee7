"""`mempg mcp` driven by the MCP SDK's own client over stdio (and once over streamable HTTP).

The server is the real command in its own process, embedding through a small real HTTP server
(the OpenAI-compatible shape) on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager

import pytest

pytest.importorskip("mcp", reason="the mcp extra is not installed (make test installs it)")

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from helpers import ROOT, Database
from vectors import DIM

TOOLS = {
    "add_memory",
    "search_memories",
    "list_memories",
    "update_memory",
    "delete_memory",
    "memory_history",
    "upsert_entity",
    "search_entities",
    "assert_fact",
    "entity_facts",
    "entity_neighbourhood",
}


def server_env(embeddings_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEMPG_MCP_USER")}
    env.update({"MEMPG_EMBEDDINGS_URL": embeddings_url, "MEMPG_DIR": str(ROOT)})
    return env


@asynccontextmanager
async def mcp_session(db: Database, embeddings_url: str, *identity: str):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "runner", "mcp", "--database", db.url, "--embedder", "http", *identity],
        env=server_env(embeddings_url),
        cwd=str(ROOT),
    )
    async with Client(params) as client:
        yield client


async def call(client: Client, tool: str, **arguments):
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def test_every_tool_over_stdio_for_one_user(module_db: Database, embeddings_server):
    user = f"mcp-{uuid.uuid4().hex[:8]}"
    async with mcp_session(module_db, embeddings_server.url, "--user", user) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        assert tools["add_memory"].input_schema["properties"]["memory"]["minLength"] == 1

        lisbon = await call(
            client,
            "add_memory",
            memory="Alice flies to Lisbon in May",
            metadata={"topic": "travel", "month": 5},
        )
        assert lisbon["event"] == "ADD"
        await call(
            client,
            "add_memory",
            memory="Alice has dinner with Ana on Friday",
            metadata={"topic": "social"},
        )
        again = await call(client, "add_memory", memory="  alice flies to LISBON in may")
        assert (again["id"], again["event"]) == (lisbon["id"], "NOOP")  # deduplicated in SQL

        found = (await call(client, "search_memories", query="Lisbon", match_count=5))["results"]
        assert found[0]["id"] == lisbon["id"] and found[0]["full_text_rank"] == 1
        filtered = await call(
            client, "search_memories", query="Alice", filters={"topic": {"in": ["social"]}}
        )
        assert [r["memory"] for r in filtered["results"]] == ["Alice has dinner with Ana on Friday"]
        listed = (await call(client, "list_memories", page_size=10))["results"]
        assert len(listed) == 2

        updated = await call(
            client, "update_memory", memory_id=lisbon["id"], memory="Alice flies to Lisbon in June"
        )
        assert updated["version"] == 2
        await call(client, "delete_memory", memory_id=lisbon["id"])
        history = (await call(client, "memory_history", memory_id=lisbon["id"]))["history"]
        assert [h["event"] for h in history] == ["ADD", "UPDATE", "DELETE"]

        maria = await call(client, "upsert_entity", name="Maria Lopez", entity_type="person")
        acme = await call(client, "upsert_entity", name="Acme Corp", entity_type="organization")
        assert (await call(client, "upsert_entity", name="Maria Lopes", entity_type="person"))[
            "id"
        ] == maria["id"]
        fact = await call(
            client,
            "assert_fact",
            subject_id=maria["id"],
            relation="works_at",
            object_id=acme["id"],
            valid_from="2021-04-01T00:00:00Z",
        )
        assert fact["event"] == "ADD"
        facts = (await call(client, "entity_facts", entity_id=maria["id"]))["facts"]
        assert [(f["relation"], f["object"]) for f in facts] == [("works_at", "Acme Corp")]
        near = (await call(client, "entity_neighbourhood", entity_id=maria["id"], depth=1))[
            "results"
        ]
        assert [n["name"] for n in near] == ["Acme Corp"]
        entities = (await call(client, "search_entities", query="Maria"))["results"]
        assert entities[0]["id"] == maria["id"]

        # bad input: the schema first (the SDK's is_error result), then SQL (an MCP error with the SQLSTATE)
        for tool, arguments in (
            ("add_memory", {"memory": ""}),
            ("search_memories", {"query": "x", "match_count": 0}),
            ("delete_memory", {"memory_id": "not-a-uuid"}),
            ("entity_neighbourhood", {"entity_id": maria["id"], "depth": 4}),
        ):
            assert (await client.call_tool(tool, arguments)).is_error, tool
        for tool, arguments, sqlstate in (
            ("search_memories", {"query": "x", "filters": {"month": {"regex": "5"}}}, "22023"),
            ("delete_memory", {"memory_id": str(uuid.uuid4())}, "P0002"),
            ("update_memory", {"memory_id": found[0]["id"]}, "22023"),  # nothing to update
            (
                "assert_fact",
                {
                    "subject_id": maria["id"],
                    "relation": "no_such_relation",
                    "value": "x",
                    "valid_from": "2021-01-01T00:00:00Z",
                },
                "22023",
            ),
            (
                "add_memory",
                {"memory": "Bob was here", "user_id": "bob"},
                "42501",
            ),  # not this server's user
        ):
            with pytest.raises(MCPError) as refused:
                await client.call_tool(tool, arguments)
            assert refused.value.data["sqlstate"] == sqlstate, (tool, refused.value.message)


async def test_an_allow_list_server_acts_for_the_named_user_only(
    module_db: Database, embeddings_server
):
    ana, ben = f"ana-{uuid.uuid4().hex[:8]}", f"ben-{uuid.uuid4().hex[:8]}"
    async with mcp_session(
        module_db, embeddings_server.url, "--allow-user", ana, "--allow-user", ben
    ) as client:
        mine = await call(client, "add_memory", memory="Ana keeps bees", user_id=ana)
        await call(client, "add_memory", memory="Ben plays the cello", user_id=ben)
        assert [
            r["memory"]
            for r in (await call(client, "search_memories", query="bees cello", user_id=ana))[
                "results"
            ]
        ] == ["Ana keeps bees"]
        with pytest.raises(MCPError) as refused:  # another user's memory is an unknown id
            await client.call_tool("delete_memory", {"memory_id": mine["id"], "user_id": ben})
        assert refused.value.data["sqlstate"] == "P0002"
        for arguments, sqlstate in (
            ({"query": "x"}, "22004"),
            ({"query": "x", "user_id": "mallory"}, "42501"),
        ):
            with pytest.raises(MCPError) as refused:
                await client.call_tool("search_memories", arguments)
            assert refused.value.data["sqlstate"] == sqlstate


def test_an_embedder_of_another_dimension_stops_the_server_at_start_up(
    module_db: Database, small_embeddings_server
):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "mcp",
            "--database",
            module_db.url,
            "--embedder",
            "http",
            "--user",
            "u",
        ],
        env=server_env(small_embeddings_server.url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert (
        "SQLSTATE 22023" in result.stderr and "384" in result.stderr and str(DIM) in result.stderr
    )


async def test_streamable_http_on_localhost(module_db: Database, embeddings_server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    user = f"http-{uuid.uuid4().hex[:8]}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "mcp",
            "--database",
            module_db.url,
            "--embedder",
            "http",
            "--user",
            user,
            "--http",
            "--port",
            str(port),
        ],
        env=server_env(embeddings_server.url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            added = await call(client, "add_memory", memory="Served over HTTP")
            assert added["event"] == "ADD"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_http_listens_on_loopback_only_and_identity_is_required(
    module_db: Database, embeddings_server
):
    for options in (["--user", "u", "--http", "--host", "0.0.0.0"], []):
        result = subprocess.run(
            [sys.executable, "-m", "runner", "mcp", "--database", module_db.url, *options],
            env=server_env(embeddings_server.url),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stderr  # a usage error, before anything starts
