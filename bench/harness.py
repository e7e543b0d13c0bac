"""Benchmark plumbing: a throw-away PostgreSQL database, a gunicorn server, process stats.

``BenchServer`` is a context manager: it creates a fresh database, migrates it, starts
``manage.py run --workers N`` on a free loopback port in its own process group, waits for
``/healthz``, and on exit (also after an error or Ctrl-C) kills the process group and drops
the database. Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    """Progress messages go to stderr; stdout carries only the result JSON."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _loopback_only(url: sa.URL) -> None:
    if url.host not in {None, "", "127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"benchmarks only use a local database, not {url.host!r}")


class ScratchDatabase:
    """A PostgreSQL database created for one run and dropped after it.

    ``server_url`` names the PostgreSQL server (its database part is ignored): the scratch
    database ``fireside_bench_<random>`` is created there.
    """

    def __init__(self, server_url: str | None = None) -> None:
        base = make_url(server_url or os.environ.get("FIRESIDE_BENCH_PG_URL", DEFAULT_PG))
        _loopback_only(base)
        self.name = f"fireside_bench_{uuid.uuid4().hex[:12]}"
        self._admin_url = base.set(database="postgres")
        self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def _admin(self) -> sa.Engine:
        return sa.create_engine(
            self._admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )

    def create(self) -> None:
        engine = self._admin()
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        finally:
            engine.dispose()
        log(f"created database {self.name}")

    def drop(self) -> None:
        engine = self._admin()
        try:
            with engine.connect() as conn:
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": self.name},
                )
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}"'))
        finally:
            engine.dispose()
        log(f"dropped database {self.name}")

    def __enter__(self) -> ScratchDatabase:
        self.create()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.drop()
        except Exception as err:
            log(f"could not drop database {self.name}: {err}")


def server_env(database_url: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the server (and of ``manage.py migrate``)."""
    env = dict(os.environ)
    env.update(
        {
            "FIRESIDE_DATABASE_URL": database_url,
            "FIRESIDE_BASE_URL": f"http://127.0.0.1:{port}",
            "FIRESIDE_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # The core benchmarks measure the FHIR engine without tokens; bench/auth_read.py
            # measures what authorization adds (it passes FIRESIDE_AUTH_REQUIRED=true).
            "FIRESIDE_AUTH_REQUIRED": "false",
        }
    )
    env.update(extra or {})
    return env


def migrate(database_url: str) -> None:
    """Run ``manage.py migrate`` against ``database_url``."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "migrate"],
        cwd=REPO_ROOT,
        env=server_env(database_url, 0),
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=300,
    )
    log(f"migrated in {time.perf_counter() - started:.1f}s")


@dataclass
class ProcStats:
    """Memory and CPU of a process tree, from /proc."""

    pids: list[int]
    rss_kb: int
    pss_kb: int
    cpu_s: float


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def tree_stats(root: int) -> ProcStats:
    """RSS (summed VmRSS), PSS and CPU seconds of ``root`` and its direct children."""
    pids = [root, *_children(root)]
    rss = pss = 0
    cpu = 0.0
    alive: list[int] = []
    for pid in pids:
        try:
            rss += _status_kb(pid, "VmRSS")
            pss += _pss_kb(pid)
            cpu += _cpu_s(pid)
            alive.append(pid)
        except (OSError, ValueError):
            continue
    return ProcStats(alive, rss, pss, cpu)


def machine_cpu() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of the whole machine, from /proc/stat. ``steal`` is time
    the hypervisor gave this virtual machine's cores to someone else; it is not in ``busy``."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    steal = values[7]
    total = sum(values[:8])
    return total - idle - steal, total, steal


def postgres_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to ``database``."""
    marker = f" {database} ".encode()
    found: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
            if cmdline.startswith(b"postgres:") and marker in cmdline:
                found[int(entry)] = _cpu_s(int(entry))
        except (OSError, ValueError):
            continue
    return found


class CpuMeter:
    """Where the machine's CPU went during one phase.

    ``server_cpu_s``: the gunicorn master and workers; ``postgres_cpu_s``: the backends of the
    scratch database (a backend that quit inside the phase is not counted);
    ``client_cpu_s``: the load generator; ``other_cpu_s``: everything else that ran on the
    machine meanwhile (PostgreSQL's background processes, and any other work: a figure well
    above ~5% of ``seconds * cores`` means the run was disturbed). ``machine_busy_pct``: share
    of all cores busy. ``steal_pct``: share of the cores' time the hypervisor gave to other
    virtual machines (a run with a large share was starved and its figures are low).
    """

    def __init__(self, server: BenchServer) -> None:
        self.server = server
        self.database = server.database.name if server.database else ""
        self.server0 = server.stats()
        self.pg0 = postgres_backends_cpu(self.database)
        self.machine0 = machine_cpu()
        self.server1: ProcStats | None = None

    def stop(self, client_cpu_s: float) -> dict[str, Any]:
        """The readings since construction, as result fields."""
        machine1 = machine_cpu()
        pg1 = postgres_backends_cpu(self.database)
        self.server1 = self.server.stats()
        busy = (machine1[0] - self.machine0[0]) / CLK_TCK
        total = machine1[1] - self.machine0[1]
        server = self.server1.cpu_s - self.server0.cpu_s
        pg = sum(cpu - self.pg0.get(pid, 0.0) for pid, cpu in pg1.items())
        other = busy - client_cpu_s - server - pg
        capacity = total / CLK_TCK  # core-seconds that passed
        if capacity and other > 0.10 * capacity:
            log(
                f"warning: {other:.1f} of {capacity:.1f} core-seconds went to other processes; "
                "the machine was not quiet and the figures are low"
            )
        steal = machine1[2] - self.machine0[2]
        if total and steal > 0.05 * total:
            log(
                f"warning: the hypervisor took {100.0 * steal / total:.0f}% of the cores' time "
                "for other machines; the figures are low"
            )
        return {
            "client_cpu_s": round(client_cpu_s, 2),
            "server_cpu_s": round(server, 2),
            "postgres_cpu_s": round(pg, 2),
            "other_cpu_s": round(other, 2),
            "machine_busy_pct": round(100.0 * (machine1[0] - self.machine0[0]) / total, 1)
            if total
            else 0.0,
            "steal_pct": round(100.0 * steal / total, 1) if total else 0.0,
        }


@dataclass
class BenchServer:
    """A Fireside server under gunicorn on a scratch database (a context manager); on a
    database of its own unless ``database`` names one."""

    workers: int = 2
    threads: int = 1
    pg_url: str | None = None
    startup_timeout: float = 120.0
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    database: ScratchDatabase | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    _log: IO[bytes] | None = None
    _owns_database: bool = False
    """Created (and so dropped) by this server; a ``database`` passed in, already migrated,
    is left to its owner (several servers in turn on one database)."""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> BenchServer:
        try:
            if self.database is None:  # a database of its own, dropped on exit
                self.database = ScratchDatabase(self.pg_url)
                self._owns_database = True
                self.database.create()
                migrate(self.database.url)
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        assert self.database is not None
        self.port = free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        cmd = [
            sys.executable,
            "manage.py",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--no-migrate",
        ]
        self.process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=server_env(self.database.url, self.port, self.extra_env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole
        )
        self._wait_healthy()
        # gunicorn forks its workers after the master answers nothing itself; wait for all.
        deadline = time.monotonic() + 30
        while len(_children(self.pid)) < self.workers and time.monotonic() < deadline:
            time.sleep(0.1)
        log(
            f"server pid {self.pid} on 127.0.0.1:{self.port}, "
            f"{self.workers} worker(s) x {self.threads} thread(s)"
        )

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.server_log()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock,
            ):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"server not healthy after {self.startup_timeout}s:\n{self.server_log()}"
        )

    def server_log(self, limit: int = 4000) -> str:
        """The tail of the server's combined stdout and stderr."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-limit:]

    def stats(self) -> ProcStats:
        """RSS, PSS and CPU of the gunicorn master and its workers."""
        return tree_stats(self.pid)

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left after 10 seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log("server did not stop on SIGTERM; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)  # stray workers, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def close(self) -> None:
        """Stop the server and drop the database, whatever state they are in."""
        try:
            self.stop()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            if self.database is not None and self._owns_database:
                with contextlib.suppress(Exception):
                    self.database.drop()
                self.database = None

    def __post_init__(self) -> None:
        self.extra_env = dict(self.extra_env)


def summary_ms(latencies_s: list[float]) -> dict[str, Any]:
    """p50/p95/p99/max of latencies in seconds, as milliseconds (nearest rank)."""
    if not latencies_s:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(latencies_s)

    def pct(p: float) -> float:
        index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        return round(ordered[index] * 1000, 2)

    return {"p50": pct(50), "p95": pct(95), "p99": pct(99), "max": round(ordered[-1] * 1000, 2)}


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that ``finally`` blocks clean up (main thread only)."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
