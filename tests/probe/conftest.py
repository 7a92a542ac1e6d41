"""Fixtures of the probe's tests (helpers live in tests/probe/servers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from probe.checks.base import CheckContext
from tests.probe.servers import Certs, make_certs, probe_context


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def env() -> dict[str, str]:
    """The probe's environment as the checks see it: tests put variables in here."""
    return {}


@pytest.fixture
async def ctx(env: dict[str, str]) -> AsyncIterator[CheckContext]:
    async with probe_context(env) as context:
        yield context
