"""A real PostgreSQL server for the tests, and its fixtures.

Loaded as a pytest plugin by ``tests/conftest.py``: ``postgres_server`` (one server for the
session), ``pg_url`` (a fresh database on it per test, dropped after) and ``own_postgres``
(a private server a test may stop and start again).

The server binaries come from the machine (``.ci/install-postgresql`` finds or installs
them); without them the tests fail with that advice, they are never skipped. The server
listens on 127.0.0.1 on a free port and on a Unix socket in its own temporary folder, with
``fsync=off``: a killed server process loses nothing, only an OS crash would, which is fine
for tests. Postgres refuses to run as root, so as root it runs as the ``postgres`` user (the
Debian package creates it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import asyncpg
import pytest

__all__ = ["PASSWORD", "PostgresServer", "find_bindir", "own_postgres", "pg_url",
           "postgres_server"]

PASSWORD = "pw-Secret-4711"
"""The ``postgres`` user's password (TCP connections need it: scram-sha-256)."""
_BINARIES = ("initdb", "postgres", "pg_ctl")
_READY_TIMEOUT = 60.0


def _has_all(folder: str | None) -> bool:
    return bool(folder) and all(os.access(Path(str(folder), b), os.X_OK) for b in _BINARIES)


def find_bindir() -> Path:
    """The folder of the server binaries, found as ``.ci/install-postgresql`` finds it."""
    candidates: list[str] = []
    if (initdb := shutil.which("initdb")) is not None:
        candidates.append(str(Path(initdb).resolve().parent))

    def version(path: str) -> int:
        part = Path(path).parent.name
        return int(part) if part.isdigit() else -1

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    if shutil.which("pg_config") is not None:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, check=True)
            candidates.append(out.stdout.decode().strip())
    for folder in candidates:
        if _has_all(folder):
            return Path(folder)
    pytest.fail(
        "no PostgreSQL server binaries (initdb, postgres, pg_ctl) found:"
        " run .ci/install-postgresql",
        pytrace=False,
    )


def _free_port() -> int:
    """A port nothing listens on, below the kernel's ephemeral ports (Linux: 32768-60999,
    macOS: from 49152). The outgoing connections of every other test (and xdist worker)
    take their local ports from that range: one could hold a port from it just when a test
    restarts its server on the same port (``own_postgres``)."""
    pick = random.SystemRandom()  # not the random module: tests seed it
    for _ in range(200):
        port = pick.randint(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000 on 127.0.0.1")


class _PortTakenError(RuntimeError):
    """The server could not bind its port (taken since :func:`_free_port` found it)."""


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder; :meth:`start` it, :meth:`close` it."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._log = self.root / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        # Postgres refuses root; Debian's package brings a 'postgres' user to run it as.
        self._user: str | None = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self._user is not None:
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
             "-E", "UTF8", "--locale=C", "--no-sync"]
        )

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(
            argv, capture_output=True, user=self._user, cwd=self.root, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')}")

    def url(self, dbname: str = "postgres") -> str:
        """The TCP URL of a database on this server (user ``postgres``, with its password)."""
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server (again, on the same folder and port); return when it accepts
        connections."""
        assert not self.running, "already running"
        with self._log.open("ab") as log:
            logged = log.tell()
            self._proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, user=self._user, cwd=self.root,
            )
        self._wait_ready(logged)

    def start_on_a_free_port(self, tries: int = 5) -> None:
        """:meth:`start` the first time: another process may take the free port found at
        construction before the server binds it (xdist workers start theirs at once); then
        it starts on another one."""
        for _ in range(tries - 1):
            try:
                self.start()
                return
            except _PortTakenError:
                self.port = _free_port()
        self.start()

    def _wait_ready(self, logged: int) -> None:
        # postmaster.pid's 8th line says "ready" once connections are accepted (PG 10+).
        pidfile = self.data / "postmaster.pid"
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                self._proc = None
                log = self._log.read_bytes()[logged:].decode(errors="replace")
                if "could not bind" in log or "could not create any TCP/IP sockets" in log:
                    raise _PortTakenError(f"postgres could not bind port {self.port}: {log}")
                raise RuntimeError(f"postgres exited: {log}")
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready" and self._accepts():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready: {self._log.read_text(errors='replace')}")
            time.sleep(0.02)

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server: ``fast`` (clean shut-down, sessions ended) or ``immediate``
        (as after a crash: recovery at the next start)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        # SIGINT is postgres's fast shut-down, SIGQUIT its immediate one.
        proc.send_signal(2 if mode == "fast" else 3)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._proc = None

    def close(self) -> None:
        """Stop the server at once and delete its folder."""
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    async def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    async def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, ending its sessions."""
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def terminate_backends(self, dbname: str) -> int:
        """End every session on a database (as an administrator would); how many."""
        conn = await asyncpg.connect(self.url())
        try:
            n: Any = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()", dbname,
            )
            return int(n)
        finally:
            await conn.close()


@contextlib.contextmanager
def _server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start_on_a_free_port()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the whole session (started on first use)."""
    with _server() as server:
        yield server


@pytest.fixture
async def pg_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh database on the session's server, dropped after the test."""
    url = await postgres_server.create_database()
    yield url
    await postgres_server.drop_database(url)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A private, running server the test may stop and start (stop/start block: call them
    with ``asyncio.to_thread`` while coroutines run)."""
    with _server() as server:
        yield server
