"""A PostgreSQL 15 primary and its streaming replica of the tests' own, on
free ports, in a temporary directory: initdb, pg_basebackup -R (which
writes standby.signal and primary_conninfo), run as the ``postgres`` user
with Debian's tools. The shared cluster on 5432 is never touched."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import IN_CI
from tests.ports import free_port
from tests.waiting import eventually

BIN = Path(os.environ.get("TRACKING_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Per server, on the command line (pg_basebackup copies postgresql.conf, not these).
COMMON = ("-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
          "-c shared_buffers=32MB -c max_connections=100 -c wal_keep_size=256MB")


def missing() -> str | None:
    """Why a pair cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting PostgreSQL servers needs root (they run as the postgres user)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    for tool in ("initdb", "pg_ctl", "pg_basebackup"):
        if not (BIN / tool).is_file():
            return f"no {BIN / tool}"
    return None


def _as_postgres(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], check=check,
                          capture_output=True, text=True, timeout=120)


class Server:
    def __init__(self, data: Path, port: int, options: str = "") -> None:
        self.data, self.port, self.options = data, port, options

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-p {self.port} -c unix_socket_directories={self.data} {COMMON} {self.options}"
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log"),
                     "-w", "-t", "60", "-o", opts, "start")

    def stop(self, mode: str = "fast") -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop",
                     check=False)

    def promote(self) -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "promote")

    def in_recovery(self) -> bool:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])  # type: ignore[index]


class Pair:
    """A primary and a replica streaming from it. ``synchronous``: a commit
    returns once the replica has it on disk (what a failover without loss
    needs: Patroni's synchronous_mode)."""

    def __init__(self, *, synchronous: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tracking-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        sync = "-c synchronous_standby_names=* -c synchronous_commit=on" if synchronous else ""
        self.primary = Server(self.root / "primary", free_port(), sync)
        self.replica = Server(self.root / "replica", free_port(), "-c hot_standby_feedback=on")

    def start(self) -> Pair:
        _as_postgres(str(BIN / "initdb"), "-D", str(self.primary.data), "-U", "postgres",
                     "--auth=trust", "-E", "UTF8", "--no-sync")
        self.primary.start()
        _as_postgres(str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port),
                     "-U", "postgres", "-D", str(self.replica.data), "-R", "-X", "stream",
                     "-c", "fast", "--no-sync")
        self.replica.start()
        eventually(self.streaming, timeout=60, what="the replica streams from the primary")
        return self

    def streaming(self) -> bool:
        with psycopg.connect(self.primary.url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_replication "
                               "WHERE state = 'streaming'").fetchone()
        return bool(row and row[0])

    @property
    def failover_url(self) -> str:
        """Both hosts: libpq connects to whichever takes writes."""
        return (f"postgresql://postgres@127.0.0.1:{self.primary.port},"
                f"127.0.0.1:{self.replica.port}/postgres")

    def schema_urls(self, schema: str) -> tuple[str, str]:
        """(primary, replica) URLs of a fresh schema, created on the primary."""
        with psycopg.connect(self.primary.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return f"{self.primary.url}?schema={schema}", f"{self.replica.url}?schema={schema}"

    def close(self) -> None:
        self.replica.stop("immediate")
        self.primary.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def need_pair() -> None:
    reason = missing()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"a streaming replica cannot be started: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[Pair]:
    """One asynchronous primary and replica for the session's read tests."""
    need_pair()
    pair = Pair()
    try:
        yield pair.start()
    finally:
        pair.close()
