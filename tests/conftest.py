from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.pg import create_test_database, drop_test_database, make_template, postgres_for_tests

# The browser fixtures (browser, page, page_log) for any test: tests/browser.py.
pytest_plugins = ["tests.browser"]


@pytest.fixture(autouse=True)
def _unfreeze_heap() -> Iterator[None]:
    """A probe agent freezes the heap after a target refresh (`probe.agent.apply_jobs`): thaw it
    after each test, so later tests of this one process get their garbage collected as usual."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """URL of the real PostgreSQL server of this test session (see tests/pg.py)."""
    with postgres_for_tests() as url:
        yield url


@pytest.fixture(scope="session")
async def migrated_template(database_url: str) -> str:
    await make_template(database_url)
    return database_url


@pytest.fixture
async def fresh_db(migrated_template: str) -> AsyncIterator[str]:
    """A new, migrated database for one test; dropped afterwards."""
    url = await create_test_database(migrated_template)
    yield url
    await drop_test_database(migrated_template, url)
