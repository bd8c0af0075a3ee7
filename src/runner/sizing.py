"""The embedded server sized to its machine: the machine's memory and cores (cgroup limits first),
the rule of ops.recommended_settings() (sql/ops/recommended_settings.sql, evaluated on the server
itself), and mempg.conf, the file the result is written to.

The rule lives in SQL only. On a server where migration 0014 is not applied (a fresh initdb has no
schema at all), the runner evaluates sql/ops/recommended_settings.sql in a transaction that it
rolls back, on the maintenance database `postgres`: the same text, nothing left behind.

mempg.conf sits in the data folder, included at the end of postgresql.conf (so it wins over
initdb's `shared_buffers = 128MB`), and postgresql.auto.conf (ALTER SYSTEM) is read after it, so
ALTER SYSTEM always wins over the sizing. Each line mempg writes carries its value in a marker
(`# mempg=6037MB`); a line whose value differs from its marker, or that has none, is the user's,
and mempg never changes it. Why not ALTER SYSTEM: postgresql.auto.conf is where the user's own
settings (and mempg's archiving and replication settings) go; sized values there could not be told
from the user's, and `ALTER SYSTEM RESET ALL` would erase them.

Inputs, each overridable: MEMPG_SERVER_MEMORY (a size such as 8GB, or a share of the machine such
as 25%), MEMPG_SERVER_CORES, MEMPG_SERVER_STORAGE (ssd, the default, or hdd), MEMPG_SIZING=off
(leave the configuration alone), MEMPG_CGROUP_ROOT (default /sys/fs/cgroup, for tests).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg

from runner import cluster
from runner.database import run_script
from runner.errors import RunnerError

CONF = "mempg.conf"
INCLUDE = f"include_if_exists = '{CONF}'"
RULE_FILE = Path("sql") / "ops" / "recommended_settings.sql"
MB = 1024 * 1024
UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge number
# The inputs of the rule, recorded for ops.recommended_settings()'s defaults: not PostgreSQL
# settings but placeholders that any "x.y" name may be. Rewritten on every sizing.
INPUTS = ("mempg.machine_memory", "mempg.machine_cores", "mempg.storage")

Echo = Callable[[str], None]


# ------------------------------------------------------------------ the machine
@dataclass(frozen=True)
class Machine:
    memory: str  # a size for SQL's pg_size_bytes: '24151MB'
    cores: int
    storage: str
    memory_source: str
    cores_source: str


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_paths() -> dict[str, str]:
    """Controller (memory, cpu, or '' for cgroup v2) -> this process's cgroup path."""
    out: dict[str, str] = {}
    for line in (_read(Path("/proc/self/cgroup")) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            out[controller] = parts[2]
    return out


def _upwards(base: Path, relative: str) -> list[Path]:
    """base/relative and each of its parents up to base: a limit anywhere above us applies."""
    here = base / relative.lstrip("/")
    folders = [here, *here.parents]
    return [f for f in folders if f == base or base in f.parents]


def cgroup_memory_limit(root: Path) -> int | None:
    """The tightest memory limit of this process's cgroups (v2 memory.max, v1 limit_in_bytes)."""
    paths = _cgroup_paths()
    limits: list[int] = []
    for folder in _upwards(root, paths.get("", "/")):
        value = _read(folder / "memory.max")
        if value and value.isdigit():
            limits.append(int(value))
    for folder in _upwards(root / "memory", paths.get("memory", "/")):
        value = _read(folder / "memory.limit_in_bytes")
        if value and value.isdigit() and int(value) < UNLIMITED:
            limits.append(int(value))
    return min(limits) if limits else None


def cgroup_cpu_limit(root: Path) -> float | None:
    """The tightest CPU quota of this process's cgroups, in cores (v2 cpu.max, v1 cfs quota)."""
    paths = _cgroup_paths()
    limits: list[float] = []
    for folder in _upwards(root, paths.get("", "/")):
        value = (_read(folder / "cpu.max") or "").split()
        if len(value) == 2 and value[0].isdigit() and value[1].isdigit() and int(value[1]) > 0:
            limits.append(int(value[0]) / int(value[1]))
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for folder in _upwards(root / name, paths.get("cpu", "/")):
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            if quota and period and quota.isdigit() and period.isdigit() and int(period) > 0:
                limits.append(int(quota) / int(period))
    return min(limits) if limits else None


def physical_memory() -> int:
    for line in (_read(Path("/proc/meminfo")) or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def detect(env: Mapping[str, str] | None = None) -> Machine:
    """This machine as a server on it sees it: the smaller of physical memory and the cgroup
    limit, the fewer of the CPUs this process may use and the cgroup quota; overrides first."""
    env = os.environ if env is None else env
    root = Path(env.get("MEMPG_CGROUP_ROOT") or "/sys/fs/cgroup")
    physical = physical_memory()
    limit = cgroup_memory_limit(root)
    if limit is not None and limit < physical:
        memory, memory_source = limit, f"cgroup limit ({root})"
    else:
        memory, memory_source = physical, "physical memory (/proc/meminfo)"
    memory_text = f"{memory // MB}MB"
    explicit = (env.get("MEMPG_SERVER_MEMORY") or "").strip()
    if explicit.endswith("%"):
        try:
            share = float(explicit[:-1])
        except ValueError:
            raise RunnerError(
                f"MEMPG_SERVER_MEMORY must be a size or a share such as 25%, got {explicit!r}"
            ) from None
        if not 0 < share <= 100:
            raise RunnerError(
                f"MEMPG_SERVER_MEMORY must be a share between 0% and 100%, got {explicit!r}"
            )
        memory_text = f"{int(memory * share / 100) // MB}MB"
        memory_source = f"MEMPG_SERVER_MEMORY={explicit} of {memory // MB}MB ({memory_source})"
    elif explicit:
        memory_text, memory_source = explicit, "MEMPG_SERVER_MEMORY"

    try:
        cpus = len(os.sched_getaffinity(0))
        cores_source = "CPUs this process may run on"
    except AttributeError:
        cpus, cores_source = os.cpu_count() or 1, "os.cpu_count()"
    quota = cgroup_cpu_limit(root)
    cores = cpus
    if quota is not None and math.ceil(quota) < cpus:
        cores, cores_source = max(1, math.ceil(quota)), f"cgroup CPU quota {quota:g} ({root})"
    explicit_cores = (env.get("MEMPG_SERVER_CORES") or "").strip()
    if explicit_cores:
        if not explicit_cores.isdigit():
            raise RunnerError(f"MEMPG_SERVER_CORES must be a whole number, got {explicit_cores!r}")
        cores, cores_source = int(explicit_cores), "MEMPG_SERVER_CORES"
    storage = (env.get("MEMPG_SERVER_STORAGE") or "ssd").strip().lower()
    return Machine(memory_text, cores, storage, memory_source, cores_source)


def enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return (env.get("MEMPG_SIZING") or "on").strip().lower() not in ("off", "0", "false", "no")


# ------------------------------------------------------------------ the rule, in SQL
@dataclass(frozen=True)
class Recommendation:
    name: str
    current_value: str
    recommended_value: str
    unit: str | None
    reason: str
    needs_restart: bool
    differs: bool
    source: str


COLUMNS = "name, current_value, recommended_value, unit, reason, needs_restart, differs, source"


def recommend(
    conn: psycopg.Connection,
    project_root: Path,
    *,
    memory: str | None,
    cores: int | None,
    storage: str | None,
    connections: int | None = None,
) -> list[Recommendation]:
    """ops.recommended_settings() of this database, or, where it is not installed, the same
    function from sql/ evaluated in a transaction that is rolled back."""
    args = (memory, cores, storage, connections)
    query = f"SELECT {COLUMNS} FROM ops.recommended_settings(%s, %s::integer, %s, %s::integer)"
    row = conn.execute(
        "SELECT to_regprocedure('ops.recommended_settings(text, integer, text, integer)')"
    ).fetchone()
    if row is not None and row[0] is not None:
        return [Recommendation(*r) for r in conn.execute(query, args).fetchall()]
    rule = project_root / RULE_FILE
    if not rule.is_file():
        raise RunnerError(f"cannot size the server: {rule} is missing")
    conn.execute("BEGIN")
    try:
        conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
        conn.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role')"
            " THEN CREATE ROLE service_role NOLOGIN; END IF; END $$"
        )
        run_script(conn, rule.read_text())
        return [Recommendation(*r) for r in conn.execute(query, args).fetchall()]
    finally:
        conn.execute("ROLLBACK")


# ------------------------------------------------------------------ mempg.conf
LINE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=?\s*('(?:[^']|'')*'|[^\s#]+)\s*(#.*)?$")
MARKER = re.compile(r"#\s*mempg=(\S+)")


def _unquote(value: str) -> str:
    return value[1:-1].replace("''", "'") if value.startswith("'") else value


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class ConfLine:
    text: str
    name: str | None = None
    value: str | None = None
    marker: str | None = None

    @property
    def by_mempg(self) -> bool:
        return self.name is not None and self.marker is not None and self.marker == self.value


def read_conf(pgdata: Path) -> list[ConfLine]:
    text = _read(pgdata / CONF)
    lines = []
    for raw in (text or "").splitlines():
        match = LINE.match(raw)
        if match is None or raw.lstrip().startswith("#"):
            lines.append(ConfLine(raw))
            continue
        marker = MARKER.search(match.group(3) or "")
        lines.append(
            ConfLine(
                raw, match.group(1), _unquote(match.group(2)), marker.group(1) if marker else None
            )
        )
    return lines


def _managed_line(name: str, value: str, note: str) -> str:
    return f"{name} = {_quote(value)}\t# mempg={value} {note}".rstrip()


@dataclass(frozen=True)
class Plan:
    text: str
    kept: dict[str, str]  # settings the user changed in mempg.conf: name -> their value
    changed: dict[str, tuple[str | None, str]]  # name -> (mempg's previous value, new value)


def plan_conf(existing: list[ConfLine], machine: Machine, rows: list[Recommendation]) -> Plan:
    """The new mempg.conf: mempg's own lines updated, the user's lines left as they are."""
    wanted: dict[str, tuple[str, str]] = {
        "mempg.machine_memory": (machine.memory, f"from {machine.memory_source}"),
        "mempg.machine_cores": (str(machine.cores), f"from {machine.cores_source}"),
        "mempg.storage": (machine.storage, ""),
    }
    for row in rows:
        wanted[row.name] = (
            row.recommended_value,
            ("(restart) " if row.needs_restart else "") + row.reason,
        )
    header = [
        "## mempg.conf: this server sized to its machine by mempg, from ops.recommended_settings()",
        f"## ({RULE_FILE}); included at the end of postgresql.conf. docs/operations.md.",
        f"## memory {machine.memory} ({machine.memory_source}), {machine.cores} cores"
        f" ({machine.cores_source}), storage {machine.storage}.",
        "## mempg rewrites a line at each server start while its value equals its `# mempg=` marker;",
        "## change a value here (or with ALTER SYSTEM, which wins over this file) and mempg keeps yours.",
    ]
    body: list[str] = []
    seen: set[str] = set()
    kept: dict[str, str] = {}
    changed: dict[str, tuple[str | None, str]] = {}
    for line in existing:
        if line.name is None:
            if not line.text.startswith("##"):
                body.append(line.text)
            continue
        if line.name in seen:
            body.append(line.text)  # a later duplicate: PostgreSQL takes the last one; keep it
            continue
        seen.add(line.name)
        if line.name not in wanted:
            if not line.by_mempg:
                body.append(line.text)  # the user's own setting; a stale line of mempg's goes
            continue
        value, note = wanted[line.name]
        if line.by_mempg or line.name in INPUTS:
            if line.value != value:
                changed[line.name] = (line.value, value)
            body.append(_managed_line(line.name, value, note))
        else:
            kept[line.name] = line.value or ""
            body.append(line.text)
    for name, (value, note) in wanted.items():
        if name not in seen:
            changed[name] = (None, value)
            body.append(_managed_line(name, value, note))
    return Plan("\n".join([*header, *body]) + "\n", kept, changed)


def _write_server_file(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)
    user = cluster.server_user()
    if user is not None:
        shutil.chown(path, user, user)


def ensure_include(pgdata: Path) -> bool:
    """The include line at the end of postgresql.conf; True when it was added."""
    conf = pgdata / "postgresql.conf"
    text = _read(conf)
    if text is None:
        raise RunnerError(f"no postgresql.conf in {pgdata}")
    pattern = re.compile(rf"^\s*include(_if_exists)?\s*=?\s*'{re.escape(CONF)}'", re.MULTILINE)
    if pattern.search(text):
        return False
    with conf.open("a") as handle:
        handle.write(
            f"\n# The server sized to its machine by mempg (docs/operations.md); last, so that it\n"
            f"# wins over the lines above. postgresql.auto.conf (ALTER SYSTEM) is read after it.\n"
            f"{INCLUDE}\n"
        )
    return True


@dataclass(frozen=True)
class SizingResult:
    machine: Machine
    changed: dict[str, tuple[str | None, str]]
    kept: dict[str, str]
    pending_restart: list[str]


def size_server(
    url: str, pgdata: Path, project_root: Path, machine: Machine | None = None
) -> SizingResult:
    """Evaluate the rule on the running server, write mempg.conf, reload; report what waits for
    a restart (pg_file_settings reads the files now: no race with the reload)."""
    machine = machine or detect()
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            rows = recommend(
                conn,
                project_root,
                memory=machine.memory,
                cores=machine.cores,
                storage=machine.storage,
            )
        except psycopg.errors.DataException as exc:
            raise RunnerError(f"cannot size the server: {exc.diag.message_primary}") from None
        plan = plan_conf(read_conf(pgdata), machine, rows)
        target = pgdata / CONF
        if _read(target) != plan.text.strip():
            _write_server_file(target, plan.text)
        ensure_include(pgdata)
        conn.execute("SELECT pg_reload_conf()")
        pending = conn.execute(
            "SELECT DISTINCT name FROM pg_file_settings WHERE NOT applied AND error IS NOT NULL"
            " AND error LIKE 'setting could not be applied' ORDER BY 1"
        ).fetchall()
        problems = conn.execute(
            "SELECT sourcefile, sourceline, name, error FROM pg_file_settings"
            " WHERE error IS NOT NULL AND error NOT LIKE 'setting could not be applied'"
        ).fetchall()
    if problems:
        where = "; ".join(
            f"{Path(f).name}:{line} {name}: {error}" for f, line, name, error in problems
        )
        raise RunnerError(f"the server's configuration has errors: {where}")
    return SizingResult(machine, plan.changed, plan.kept, [name for (name,) in pending])


# ------------------------------------------------------------------ report (mempg db status)
def report(pgdata: Path, url: str | None) -> dict[str, Any]:
    """What mempg.conf holds, and, when the server runs, the value in effect of each setting and
    who set it: mempg, the user (in mempg.conf, postgresql.auto.conf or elsewhere), or nobody."""
    lines = [line for line in read_conf(pgdata) if line.name is not None]
    if not lines:
        return {"sized": False, "file": str(pgdata / CONF)}
    inputs = {line.name: line.value for line in lines if line.name in INPUTS}
    settings = {line.name: line for line in lines if line.name not in INPUTS}
    effective: dict[str, tuple[str, str | None, bool]] = {}
    if url is not None:
        with psycopg.connect(url, autocommit=True) as conn:
            # pending: in a file with a new value that waits for a restart (pg_file_settings
            # reads the files now; pg_settings.pending_restart only once the reload is done)
            for name, value, sourcefile, pending in conn.execute(
                "SELECT s.name, current_setting(s.name), s.sourcefile,"
                " EXISTS (SELECT FROM pg_file_settings AS f WHERE f.name = s.name"
                "         AND f.error = 'setting could not be applied')"
                " FROM pg_settings AS s WHERE s.name = ANY (%s)",
                (list(settings),),
            ).fetchall():
                effective[name] = (value, sourcefile, pending)
    out = []
    for name, line in sorted(settings.items()):
        value, sourcefile, pending = effective.get(name, (None, None, False))
        source = Path(sourcefile).name if sourcefile else None
        if source is not None and source != CONF:
            set_by = f"user ({source})"
        elif not line.by_mempg:
            set_by = f"user ({CONF})"
        else:
            set_by = "mempg"
        out.append(
            {
                "name": name,
                "value": value,
                "in_file": line.value,
                "mempg": line.marker,
                "set_by": set_by,
                "pending_restart": bool(pending),
            }
        )
    machine = {
        "memory": inputs.get("mempg.machine_memory"),
        "cores": inputs.get("mempg.machine_cores"),
        "storage": inputs.get("mempg.storage"),
    }
    return {"sized": True, "file": str(pgdata / CONF), "machine": machine, "settings": out}


def as_dict(result: SizingResult) -> dict[str, Any]:
    return {
        "machine": asdict(result.machine),
        "changed": {k: {"from": a, "to": b} for k, (a, b) in result.changed.items()},
        "kept": result.kept,
        "pending_restart": result.pending_restart,
    }
