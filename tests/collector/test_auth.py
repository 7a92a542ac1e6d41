"""The auth matrix: every write route with no token, a wrong token, and each token kind."""

from __future__ import annotations

import time
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.web import keys
from collector.web.app import ALL_ROUTES, make_app
from tests.collector.conftest import Tokens, bearer, collector_config

AGENCY = {"id": "bappeda", "name": "Bappelitbangda"}
DINKES_APP = {
    "id": "simrs",
    "name": "SIMRS",
    "agency": "dinkes",
    "managed_by": "vendor",
    "zones": ["dc"],
}
WINDOW = {"name": "nightly", "cron": "0 23 * * *", "duration_minutes": 60}
OTHER_APP = {"id": "jdih", "name": "JDIH", "agency": "diskominfo", "managed_by": "self"}


def results_body() -> dict[str, object]:
    return {
        "probe": "p1", "batch_id": uuid.uuid4().hex,
        "results": [{"app": "website", "check": "http", "kind": "http", "ts": time.time(),
                     "ok": True, "duration_seconds": 0.1}],
    }  # fmt: skip


# (method, path, body) → the token kinds that may do it; the rest must get 403.
WRITES: list[tuple[str, str, object, set[str]]] = [
    ("POST", "/api/v1/agencies", AGENCY, {"admin"}),
    ("PUT", "/api/v1/agencies/bappeda", AGENCY, {"admin"}),
    ("DELETE", "/api/v1/agencies/setda", None, {"admin"}),
    ("POST", "/api/v1/apps", DINKES_APP, {"admin", "agency"}),
    ("PUT", "/api/v1/apps/simrs", DINKES_APP, {"admin", "agency"}),
    ("POST", "/api/v1/apps", OTHER_APP, {"admin"}),  # agency token of dinkes: not its agency
    ("PUT", "/api/v1/apps/website", None, {"admin"}),
    ("DELETE", "/api/v1/apps/p-care", None, {"admin", "agency"}),
    ("DELETE", "/api/v1/apps/website", None, {"admin"}),
    ("POST", "/api/v1/apps/simpus/maintenance", WINDOW, {"admin", "agency"}),
    ("POST", "/api/v1/apps/website/maintenance", WINDOW, {"admin"}),
    ("DELETE", "/api/v1/apps/simpus/maintenance/nightly", None, {"admin", "agency"}),
    ("POST", "/api/v1/proposals", {"action": "update", "app": DINKES_APP}, {"admin", "agency"}),
    ("GET", "/api/v1/proposals", None, {"admin", "agency"}),  # and viewers: test_access_policy
    ("GET", "/api/v1/proposals/1", None, {"admin", "agency"}),
    ("POST", "/api/v1/proposals/1/approve", None, {"admin"}),
    ("POST", "/api/v1/proposals/1/reject", {"reason": "no"}, {"admin"}),
    ("POST", "/api/v1/proposals/1/withdraw", None, {"admin", "agency"}),
    ("POST", "/api/v1/results", None, {"probe"}),
    ("POST", "/api/v1/usage", {"metric": "logins", "kind": "counter", "value": 1}, {"app"}),
    ("GET", "/api/v1/probe/targets", None, {"probe"}),
    # The audit trail is read by people managing apps, an agency its own agency's only.
    ("GET", "/api/v1/audit", None, {"admin", "agency"}),
    ("GET", "/api/v1/apps/simpus/history", None, {"admin", "agency"}),
    ("GET", "/api/v1/apps/website/history", None, {"admin"}),
    ("POST", "/api/v1/catalog/import", None, {"admin"}),  # no body: 400 for the admin
]


def test_matrix_covers_every_write_route() -> None:
    writes = {(r.method, r.path) for r in ALL_ROUTES if r.auth not in ("none", "read")}
    tested = {
        (m, r.path)
        for m, p, _, _ in WRITES
        for r in ALL_ROUTES
        if r.method == m and _matches(r.path, p)
    }
    assert writes == tested


def _matches(template: str, path: str) -> bool:
    t, p = template.split("/"), path.split("/")
    return len(t) == len(p) and all(a == b or a.startswith("{") for a, b in zip(t, p, strict=True))


def _body(path: str, body: object) -> object:
    if path == "/api/v1/results":
        return results_body()
    if path == "/api/v1/apps/website":
        return {
            "id": "website",
            "name": "Website",
            "agency": "diskominfo",
            "managed_by": "self",
            "zones": ["dc"],
        }
    return body


@pytest.mark.parametrize(("method", "path", "body", "allowed"), WRITES)
async def test_write_routes_check_their_token(
    client: TestClient, tokens: Tokens, method: str, path: str, body: object, allowed: set[str]
) -> None:
    async def call(headers: dict[str, str]) -> int:
        resp = await client.request(method, path, json=_body(path, body), headers=headers)
        return resp.status

    assert await call({}) == 401
    assert await call(bearer("pantau_not-a-real-token")) == 401
    assert await call({"Authorization": "Basic YWRtaW46YWRtaW4="}) == 401
    by_kind = {"agency": tokens.dinkes, "probe": tokens.probe_dc, "app": tokens.app_simpus}
    for kind, token in by_kind.items():
        status = await call(bearer(token))
        if kind in allowed:
            assert status < 400 or status in (400, 404, 409), (kind, status)
            assert status not in (401, 403)
        else:
            assert status == 403, (kind, status)
    status = await call(bearer(tokens.admin))
    if "admin" in allowed:
        assert status not in (401, 403)
    else:
        assert status == 403


async def test_revoked_token_is_refused(seeded_db: str, tokens: Tokens) -> None:
    import asyncpg

    from collector.auth import hash_secret

    conn = await asyncpg.connect(seeded_db)
    try:
        await conn.execute(
            "UPDATE tokens SET revoked_at = now() WHERE secret_hash = $1", hash_secret(tokens.admin)
        )
    finally:
        await conn.close()
    async with TestClient(
        TestServer(make_app(collector_config(), dsn=seeded_db), host="127.0.0.1", port=0)
    ) as c:
        resp = await c.post("/api/v1/agencies", json=AGENCY, headers=bearer(tokens.admin))
        assert resp.status == 401


async def test_catalogue_reads_need_a_token_when_not_public(seeded_db: str, tokens: Tokens) -> None:
    app = make_app(collector_config(public_catalog=False), dsn=seeded_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        assert (await c.get("/api/v1/apps")).status == 401
        assert (await c.get("/api/v1/apps", headers=bearer(tokens.dinkes))).status == 200
        await c.app[keys.APP_METRICS].refresh()
        metrics = await c.get("/metrics")
        assert metrics.status == 200  # Prometheus scrapes without a token
        assert "budi@kotimkab.go.id" not in await metrics.text()  # owners stay private too


async def test_secrets_never_appear_in_api_output(client: TestClient, tokens: Tokens) -> None:
    listing = await (await client.get("/api/v1/apps")).text()
    for secret in (tokens.admin, tokens.dinkes, tokens.probe_dc):
        assert secret not in listing
    # A plain secret in a header is refused: specs name environment variables instead.
    app = {
        **DINKES_APP,
        "checks": [
            {"type": "http", "url": "http://x/", "headers": {"Authorization": "Bearer s3cret"}}
        ],
    }
    resp = await client.post("/api/v1/apps", json=app, headers=bearer(tokens.admin))
    assert resp.status == 400
    assert "s3cret" not in await resp.text()
    for bad in (
        {**DINKES_APP, "checks": [{"type": "http", "url": "https://admin:hunter2@simrs.local/"}]},
        {**DINKES_APP, "checks": [{"type": "http", "url": "http://x/", "headers": {"X-Auth-Token": "t"}}]},
        {**DINKES_APP, "usage": [{"metric": "logins", "kind": "counter", "source": {
            "type": "json", "url": "http://x/stats", "path": "n", "headers": {"Authorization": "Bearer t"}}}]},
    ):  # fmt: skip
        resp = await client.post("/api/v1/apps", json=bad, headers=bearer(tokens.admin))
        assert resp.status == 400, bad
