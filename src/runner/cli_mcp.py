"""`mempg mcp`: the MCP memory server (mempg_client.mcp_server), installed by the `mcp` extra.

The runner itself stays lean: the server, its SDK and the embedder are imported only here, when the
command runs. stdout belongs to the MCP protocol on stdio; every message of ours goes to stderr.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from runner import embedded
from runner.config import project_at
from runner.errors import EXIT_FAILURE, EXIT_OK, RunnerError

EMBEDDERS = ("auto", "http", "minilm", "hash")


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _embedder(kind: str, dimension: int | None) -> object:
    from mempg_client import embeddings

    if kind == "http":
        return embeddings.HttpEmbedder()
    if kind == "minilm":
        return embeddings.MiniLMEmbedder()
    if kind == "hash":
        if dimension is None:
            raise RunnerError("--embedder hash needs the dimension: it is read from the database")
        return embeddings.HashEmbedder(dimension)
    return embeddings.default_embedder()


@click.command("mcp")
@click.option(
    "--database",
    envvar="DATABASE_URL",
    metavar="URL",
    help="Default: $DATABASE_URL, else the embedded server.",
)
@click.option(
    "--dir", "project_dir", envvar="MEMPG_DIR", type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--user", envvar="MEMPG_MCP_USER", help="The one user this server acts for.")
@click.option(
    "--allow-user",
    "allowed",
    multiple=True,
    help="A user the server may act for (repeat); each call then names its user_id. "
    "Env: MEMPG_MCP_ALLOWED_USERS, comma-separated.",
)
@click.option(
    "--embedder",
    type=click.Choice(EMBEDDERS),
    default="auto",
    show_default=True,
    help="auto: MEMPG_EMBEDDINGS_URL if set, else the local MiniLM model; hash: words only, for demos and tests.",
)
@click.option("--http", is_flag=True, help="Streamable HTTP on --host/--port instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
def mcp_command(
    database: str | None,
    project_dir: Path | None,
    user: str | None,
    allowed: tuple[str, ...],
    embedder: str,
    http: bool,
    host: str,
    port: int,
) -> int:
    """Run the MCP memory server (stdio by default) over mempg's SQL functions."""
    try:
        from mempg_client import mcp_server
        from mempg_client.client import Client, MempgError
        from mempg_client.embeddings import EmbeddingError
    except ImportError as missing:
        raise RunnerError(
            f"the MCP server needs its extra ({missing}): make mcp, or pip install 'mempg[mcp]'"
        ) from missing
    allowed_users = list(allowed) or [
        u.strip() for u in os.environ.get("MEMPG_MCP_ALLOWED_USERS", "").split(",") if u.strip()
    ]
    if (user is None) == (not allowed_users):
        raise click.UsageError(
            "give either --user (one user per server) or --allow-user (an allow-list)"
        )
    if http and not _loopback(host):
        raise click.UsageError(
            f"--host {host} is not a loopback address: the HTTP transport has no authentication of "
            "its own, so it listens on this machine only (put an authenticating proxy in front)"
        )
    url = database or embedded.start(project_at(project_dir).root).url()
    try:
        dimension = None
        if embedder == "hash":
            with Client(url) as probe:
                dimension = probe.embedding_dim()
        chosen = _embedder(embedder, dimension)
        mcp_server.serve(
            dsn=url,
            user=user,
            allowed_users=allowed_users or None,
            embedder=chosen,
            http=http,
            host=host,
            port=port,
        )
    except (MempgError, EmbeddingError) as exc:
        click.echo(f"mempg mcp: {exc}", err=True)
        return EXIT_FAILURE
    return EXIT_OK
