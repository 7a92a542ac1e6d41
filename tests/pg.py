"""A real PostgreSQL for the test session: `DATABASE_URL` if set, else a throwaway embedded server."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from collector.embedded import embedded_postgres_server


@contextlib.contextmanager
def postgres_for_tests() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    base = tempfile.mkdtemp(prefix="pantau-test-pg-")
    try:
        with embedded_postgres_server(base) as uri:
            yield uri
    finally:
        shutil.rmtree(base, ignore_errors=True)
