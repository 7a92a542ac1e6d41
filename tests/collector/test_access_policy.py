"""The access rules (collector/access.py): one table for tokens and people, and the API holding
to it for the viewer kind."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector import access
from collector.accounts.store import Account
from collector.auth import Principal, create_token
from collector.web.app import make_app
from tests.collector.conftest import bearer, collector_config

PUBLIC = collector_config()
PRIVATE = collector_config(public_catalog=False)


def token(kind: str, agency: str | None = None) -> Principal:
    return Principal(token_id=1, name=kind, kind=kind, agency=agency)  # type: ignore[arg-type]


def person(role: str, agency: str | None = None) -> Account:
    return Account(id=1, username=role, role=role, agency=agency)  # type: ignore[arg-type]


CALLERS = {
    "admin token": token("admin"),
    "admin": person("admin"),
    "dinkes token": token("agency", "dinkes"),
    "dinkes operator": person("agency", "dinkes"),
    "viewer token": token("viewer"),
    "viewer": person("viewer"),
    "probe token": token("probe"),
    "app token": token("app"),
    "nobody": None,
}

# caller -> (reads when not public, reads non-public data, manages dinkes' apps, manages
# diskominfo's apps, any zone, agencies, approves, manages accounts, changes apps at all,
# reads dinkes' trail, reads diskominfo's trail)
EXPECTED = {
    "admin token": (True, True, True, True, True, True, True, True, True, True, True),
    "admin": (True, True, True, True, True, True, True, True, True, True, True),
    "dinkes token": (True, True, True, False, False, False, False, False, True, True, False),
    "dinkes operator": (True, True, True, False, False, False, False, False, True, True, False),
    "viewer token": (True, True, False, False, False, False, False, False, False, True, True),
    "viewer": (True, True, False, False, False, False, False, False, False, True, True),
    "probe token": (True, False, False, False, False, False, False, False, False, False, False),
    "app token": (True, False, False, False, False, False, False, False, False, False, False),
    "nobody": (False, False, False, False, False, False, False, False, False, False, False),
}


@pytest.mark.parametrize("name", sorted(CALLERS))
def test_one_table_for_tokens_and_people(name: str) -> None:
    who = CALLERS[name]
    got = (
        access.may_read_catalog(PRIVATE, who),
        access.may_read_non_public(who),
        access.may_manage_app(who, "dinkes"),
        access.may_manage_app(who, "diskominfo"),
        access.may_place_in_any_zone(who),
        access.may_manage_agencies(who),
        access.may_approve(who),
        access.may_manage_accounts(who),
        access.may_change_apps(who),
        access.may_read_trail(who, "dinkes"),
        access.may_read_trail(who, "diskominfo"),
    )
    assert got == EXPECTED[name]
    assert access.may_read_catalog(PUBLIC, who)  # a public catalogue is everyone's


def test_contacts_follow_the_non_public_rule_unless_published() -> None:
    published = collector_config(public_contacts=True)
    assert access.shows_contacts(PUBLIC, person("viewer"))
    assert not access.shows_contacts(PUBLIC, token("probe"))
    assert not access.shows_contacts(PUBLIC, None)
    assert access.shows_contacts(published, None)


def test_an_operator_without_an_agency_manages_nothing() -> None:
    assert not access.may_manage_app(person("agency", None), "dinkes")
    assert not access.may_manage_app(token("agency", None), "dinkes")


async def test_a_viewer_token_reads_everything_and_writes_nothing(seeded_db: str) -> None:
    conn = await asyncpg.connect(seeded_db)
    try:
        _, secret = await create_token(conn, name="dashboard", kind="viewer")
    finally:
        await conn.close()
    app = make_app(collector_config(public_catalog=False), dsn=seeded_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        apps = await c.get("/api/v1/apps", headers=bearer(secret))
        assert apps.status == 200
        assert "budi@kotimkab.go.id" in await apps.text()  # contacts: not public, but a viewer's
        body = {"id": "simrs", "name": "SIMRS", "agency": "dinkes", "managed_by": "vendor"}
        assert (await c.post("/api/v1/apps", json=body, headers=bearer(secret))).status == 403
        window = {"name": "w", "cron": "0 23 * * *", "duration_minutes": 60}
        resp = await c.post("/api/v1/apps/simpus/maintenance", json=window, headers=bearer(secret))
        assert resp.status == 403
        assert (await c.delete("/api/v1/apps/simpus", headers=bearer(secret))).status == 403
        assert (await c.get("/api/v1/probe/targets", headers=bearer(secret))).status == 403
        # Staff records too: every agency's trail and proposals, read only.
        for path in ("/api/v1/audit", "/api/v1/apps/simpus/history", "/api/v1/apps/website/history",
                     "/api/v1/proposals"):  # fmt: skip
            assert (await c.get(path, headers=bearer(secret))).status == 200, path
        proposal = {"action": "update", "app": {**body, "id": "simpus"}}
        assert (
            await c.post("/api/v1/proposals", json=proposal, headers=bearer(secret))
        ).status == 403


async def test_an_operator_account_writes_only_its_own_agencys_apps(seeded_db: str) -> None:
    """The catalogue's writes (what the portal's forms call) take an account as they take a
    token: an operator of dinkes cannot touch diskominfo's app, and nothing changes."""
    import msgspec

    from collector.catalog import changes, store
    from wire.catalog import App

    operator = person("agency", "dinkes")
    website = msgspec.convert(
        {"id": "website", "name": "Taken over", "agency": "dinkes", "managed_by": "self"}, App
    )
    conn = await asyncpg.connect(seeded_db)
    try:
        with pytest.raises(changes.ChangeError, match="this account may not manage") as refused:
            await changes.save_app(conn, website, by=operator, must_be_new=False)
        assert refused.value.status == 403
        with pytest.raises(changes.ChangeError) as refused:
            await changes.delete_app(conn, "website", by=operator)
        assert refused.value.status == 403
        kept = await store.get_app(conn, "website")
        assert kept is not None
        assert (kept.name, kept.agency) == ("Website Kabupaten", "diskominfo")
        own = msgspec.convert(
            {"id": "simrs", "name": "SIMRS", "agency": "dinkes", "managed_by": "vendor",
             "zones": ["dc"]}, App,
        )  # fmt: skip
        assert await changes.save_app(conn, own, by=operator, must_be_new=True) is None
        far = msgspec.structs.replace(own, zones=["setda-lan"])
        with pytest.raises(changes.ChangeError, match="not opened to agency"):
            await changes.save_app(conn, far, by=operator, must_be_new=False)
        assert await changes.save_app(conn, far, by=person("admin"), must_be_new=False)
    finally:
        await conn.close()
