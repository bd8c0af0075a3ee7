"""mempg from the tools agents already use: thin adapters over mempg's SQL functions.

- `mempg_client.client`: a connection acting for one user per call (`Client`, `acting_as`).
- `mempg_client.embeddings`: `HttpEmbedder` (OpenAI-compatible /embeddings), `MiniLMEmbedder`.
- `mempg_client.mem0`: a Mem0 vector-store provider ("mempg") and embedder.
- `mempg_client.langchain`: a LangChain `VectorStore`.
- `mempg_client.mcp_server`: the MCP memory server behind `mempg mcp`.

Each adapter imports its framework only when imported itself (optional extras).
"""

from mempg_client.client import Client, DimensionMismatch, MempgError, acting_as

__all__ = ["Client", "DimensionMismatch", "MempgError", "acting_as"]
