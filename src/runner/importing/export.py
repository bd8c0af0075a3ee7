"""`mempg export --jsonl`: the lines of memory.export_lines() (sql/memory/export_lines.sql), written
as they come from a server-side cursor, so memory stays flat whatever the export's size."""

from __future__ import annotations

import json
from typing import TextIO

import psycopg


def export_jsonl(conn: psycopg.Connection, out: TextIO, user_id: str | None) -> int:
    """Writes one JSON object a line; returns the number of lines."""
    count = 0
    with conn.transaction(), conn.cursor(name="mempg_export") as cur:
        cur.itersize = 500
        cur.execute("SELECT line FROM memory.export_lines(%s) AS line", (user_id,))
        for (line,) in cur:
            out.write(json.dumps(line, ensure_ascii=False, sort_keys=True))
            out.write("\n")
            count += 1
    return count
