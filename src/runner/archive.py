"""Continuous WAL archiving and base backups: what point-in-time recovery is made of.

Archiving (off by default; `mempg db start --archive` switches it on, and it stays on) copies every
finished WAL file into the archive folder with PostgreSQL's own basic_archive module: a copy to a
temporary file, fsync, rename, so a crash never leaves half a file; a file already archived with
the same content is accepted and a different one refused. archive_timeout switches to a new WAL
file at least once a minute, so a quiet server's last writes reach the archive within a minute:
that minute is the recovery point objective for losing the data folder.

A base backup is pg_basebackup of the running server (plain format, the WAL it needs streamed
into it, a fast checkpoint), checked with pg_verifybackup against its manifest. Base backups older
than the newest `retain` are deleted, and with them the archived WAL that only they needed
(pg_archivecleanup, up to the oldest base backup kept).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner import cluster
from runner.errors import RunnerError

ARCHIVE_TIMEOUT = "1min"  # as PostgreSQL shows it, so an unchanged setting compares equal
DEFAULT_RETAIN = 7

Echo = Callable[[str], None]


def wal_archive_dir(pgdata: Path) -> Path:
    """MEMPG_WAL_ARCHIVE, else `<data folder>-wal-archive` beside the data folder."""
    explicit = os.environ.get("MEMPG_WAL_ARCHIVE")
    return Path(explicit or pgdata.parent / f"{pgdata.name}-wal-archive").resolve()


def archive_settings(folder: Path) -> dict[str, str]:
    """The server parameters that archive every WAL file into `folder`."""
    return {
        "archive_mode": "on",
        "archive_library": "basic_archive",
        "basic_archive.archive_directory": str(folder),
        "archive_timeout": ARCHIVE_TIMEOUT,
    }


def restore_command(folder: Path) -> str:
    """restore_command that reads WAL files back from the archive folder."""
    return f"cp {shlex.quote(str(folder))}/%f %p"


@dataclass(frozen=True)
class BaseBackup:
    path: Path
    started_at: str  # START TIME of backup_label
    start_lsn: str
    end_lsn: str
    start_wal_file: str
    bytes: int

    def as_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "started_at": self.started_at,
            "start_lsn": self.start_lsn,
            "end_lsn": self.end_lsn,
            "start_wal_file": self.start_wal_file,
            "bytes": self.bytes,
        }


def read_base_backup(path: Path) -> BaseBackup:
    """A base backup folder's backup_label and manifest; RunnerError when it is not one."""
    label_file, manifest_file = path / "backup_label", path / "backup_manifest"
    if not label_file.is_file() or not manifest_file.is_file():
        raise RunnerError(f"{path} is not a base backup (no backup_label and backup_manifest)")
    label = label_file.read_text()
    start = re.search(r"^START WAL LOCATION: (\S+) \(file (\w+)\)$", label, re.MULTILINE)
    started = re.search(r"^START TIME: (.+)$", label, re.MULTILINE)
    ranges = json.loads(manifest_file.read_text()).get("WAL-Ranges") or [{}]
    if start is None or started is None:
        raise RunnerError(f"{label_file} has no START WAL LOCATION or START TIME")
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return BaseBackup(
        path,
        started.group(1).strip(),
        start.group(1),
        str(ranges[-1].get("End-LSN", "")),
        start.group(2),
        size,
    )


def list_base_backups(folder: Path) -> list[BaseBackup]:
    """The base backups in folder, oldest first (their folders are named by UTC time)."""
    if not folder.is_dir():
        return []
    return [
        read_base_backup(child)
        for child in sorted(folder.iterdir())
        if (child / "backup_manifest").is_file()
    ]


def take_base_backup(url: str, folder: Path, *, retain: int, echo: Echo) -> BaseBackup:
    """pg_basebackup into folder/<UTC time>, verified; then retention (keep the newest `retain`)."""
    if retain < 1:
        raise RunnerError("retain must be at least 1")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / stamp
    cluster.run(
        "pg_basebackup",
        "--dbname",
        url,
        "--pgdata",
        str(target),
        "--format=plain",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-password",
        "--label",
        f"mempg base backup {stamp}",
        timeout=None,
    )
    cluster.run("pg_verifybackup", "--quiet", str(target), timeout=None)
    backup = read_base_backup(target)
    echo(
        f"base backup written: {target} ({backup.bytes} bytes, WAL {backup.start_lsn} to"
        f" {backup.end_lsn}), verified with pg_verifybackup"
    )
    return backup


def apply_retention(folder: Path, archive: Path | None, *, retain: int, echo: Echo) -> list[Path]:
    """Delete all but the newest `retain` base backups, and archived WAL older than the oldest kept."""
    backups = list_base_backups(folder)
    doomed = backups[:-retain] if len(backups) > retain else []
    for backup in doomed:
        shutil.rmtree(backup.path)
        echo(f"retention: deleted base backup {backup.path}")
    kept = backups[len(doomed) :]
    if kept and archive is not None and archive.is_dir():
        cluster.run("pg_archivecleanup", str(archive), kept[0].start_wal_file)
        echo(f"retention: archived WAL before {kept[0].start_wal_file} deleted from {archive}")
    return [b.path for b in doomed]
