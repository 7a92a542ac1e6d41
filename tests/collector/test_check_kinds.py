"""The collector takes the probe's newer check kinds: icmp, and dns against a named server."""

from __future__ import annotations

import time
import uuid

from aiohttp.test_utils import TestClient

from tests.collector.conftest import Tokens, bearer

APP = {
    "id": "simpeg",
    "name": "SIMPEG",
    "agency": "dinkes",
    "managed_by": "self",
    "zones": ["dc"],
    "checks": [
        {"type": "icmp", "host": "10.20.0.5", "count": 2, "max_rtt_seconds": 0.5},
        {"type": "dns", "hostname": "simpeg.pemda.test", "server": "10.20.0.53", "port": 5353},
    ],
}


async def test_an_app_with_icmp_and_named_dns_checks_is_accepted(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    resp = await client.post("/api/v1/apps", json=APP, headers=bearer(tokens.admin))
    assert resp.status in (200, 201), await resp.text()
    stored = await (await client.get("/api/v1/apps/simpeg", headers=bearer(tokens.admin))).json()
    kinds = {check["type"]: check for check in stored["checks"]}
    assert kinds["icmp"]["host"] == "10.20.0.5"
    assert (kinds["dns"]["server"], kinds["dns"]["port"]) == ("10.20.0.53", 5353)
    bad = {**APP, "checks": [{"type": "icmp", "host": "10.20.0.5", "count": 500}]}
    resp = await client.post("/api/v1/apps", json=bad, headers=bearer(tokens.admin))
    assert resp.status == 400


async def test_an_icmp_result_is_ingested(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    resp = await client.post("/api/v1/apps", json=APP, headers=bearer(tokens.admin))
    assert resp.status in (200, 201), await resp.text()
    body = {
        "probe": "p1", "batch_id": uuid.uuid4().hex,
        "results": [{"app": "simpeg", "check": "icmp", "kind": "icmp", "ts": time.time(),
                     "ok": True, "duration_seconds": 0.0004,
                     "message": "2/2 replies, 0% loss, rtt min/avg/max 0.3/0.4/0.5 ms"}],
    }  # fmt: skip
    resp = await client.post("/api/v1/results", json=body, headers=bearer(tokens.probe_dc))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["results"] == 1
