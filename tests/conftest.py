from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import postgres_for_tests


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """URL of the real PostgreSQL of this test session (see tests/pg.py)."""
    with postgres_for_tests() as url:
        yield url
