"""Schemathesis against the collector's own OpenAPI document: no 5xx, answers as documented.

The real collector (real PostgreSQL, real socket on loopback) runs on the test's event loop;
Schemathesis sends its requests from a worker thread. Every operation gets a fixed number of
examples, valid ones (positive) and invalid ones (negative), generated deterministically, so a
run takes the same requests every time and stays well under a minute.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import msgspec
from aiohttp import ClientSession, web

from collector.web.app import make_app
from tests.collector.conftest import Tokens, collector_config

# Per operation and mode. By hand, PANTAU_FUZZ_EXAMPLES=400 makes a deeper run and
# PANTAU_FUZZ_SEED=N other (still reproducible) examples than the suite's fixed ones.
EXAMPLES = int(os.environ.get("PANTAU_FUZZ_EXAMPLES", "30"))
SEED = os.environ.get("PANTAU_FUZZ_SEED")


def _run(
    operation: Any, mode: Any, *, base_url: str, headers: dict[str, str], statuses: Counter[int]
) -> str | None:
    """EXAMPLES cases of one operation in one mode: the first failure, or None."""
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    @settings(
        max_examples=EXAMPLES,
        derandomize=SEED is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure says enough
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks, headers=headers)

    if SEED is not None:
        run = seed(int(SEED))(run)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:
        return str(exc).strip().replace("\n", " | ")[:1500]
    return None


def fuzz(doc: dict[str, Any], base_url: str, tokens: Tokens) -> tuple[list[str], Counter[int]]:
    """Run every operation: the failures, one line each (empty when all is well), and how
    many answers of each status came back."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path
        # The token the operation is meant for, so it is exercised beyond 401/403.
        token = (
            tokens.probe_dc
            if path in ("/api/v1/probe/targets", "/api/v1/results")
            else tokens.app_simpus
            if path == "/api/v1/usage"
            else tokens.admin
        )
        headers = {"Authorization": f"Bearer {token}"}
        modes = [schemathesis.GenerationMode.POSITIVE]
        spec = doc["paths"][path][operation.method.lower()]
        if "parameters" in spec or "requestBody" in spec:  # else nothing can be made invalid
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            failure = _run(operation, mode, base_url=base_url, headers=headers, statuses=statuses)
            if failure:
                failures.append(f"{operation.method.upper()} {path} ({mode}): {failure}")
    return failures, statuses


async def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    seeded_db: str, tokens: Tokens, pdf_tools: dict[str, str]
) -> None:
    # pdf_tools: the fuzzer asks for format=pdf too; its libraries are in place as for every
    # PDF test (on a machine without them, WeasyPrint's import warning failed this test).
    app = make_app(collector_config(), dsn=seeded_db)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base_url = f"http://127.0.0.1:{port}"
        async with ClientSession() as http, http.get(f"{base_url}/api/v1/openapi.json") as resp:
            doc = msgspec.json.decode(await resp.read())
        failures, statuses = await asyncio.to_thread(fuzz, doc, base_url, tokens)
    finally:
        await runner.cleanup()
    print(f"schemathesis: {sum(statuses.values())} requests, by status {sorted(statuses.items())}")
    assert not failures, "\n".join(failures)
    assert statuses.total() > 500  # it really ran
    assert any(200 <= s < 300 for s in statuses)  # and got past validation too
