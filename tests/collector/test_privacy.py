"""Owners' contacts (personal data): never in /metrics; in the catalogue API and the portal only
for admin and agency tokens, or for everyone when `public_contacts: true`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.web.app import make_app
from tests.collector.conftest import Tokens, bearer, collector_config

EMAIL, PHONE, NAME = "budi@kotimkab.go.id", "+62 812 0000 0001", "Budi"  # website's owner


@pytest.fixture
async def published(seeded_db: str) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = make_app(collector_config(public_contacts=True), dsn=seeded_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c


async def test_metrics_carry_no_owner_at_all(client: TestClient) -> None:  # type: ignore[type-arg]
    text = await (await client.get("/metrics")).text()
    info = [line for line in text.splitlines() if line.startswith("pantau_app_info{")]
    assert len(info) == 3, text  # the catalogue is there ...
    assert 'managed_by="self"' in info[-1]  # ... with what routing needs
    assert "owner" not in text  # ... but no owner label of any kind
    for personal in (EMAIL, PHONE, f'"{NAME}"'):
        assert personal not in text


async def test_api_hides_contacts_from_anonymous_callers(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    one = await (await client.get("/api/v1/apps/website")).json()
    assert one["owner"] == {"name": NAME}  # who is responsible stays public
    listed = await (await client.get("/api/v1/apps")).text()
    assert EMAIL not in listed
    assert PHONE not in listed
    for token in (tokens.probe_dc, tokens.app_simpus):  # machine tokens need no contacts
        one = await (await client.get("/api/v1/apps/website", headers=bearer(token))).json()
        assert one["owner"] == {"name": NAME}
    for token in (tokens.admin, tokens.dinkes):  # people managing apps see them
        one = await (await client.get("/api/v1/apps/website", headers=bearer(token))).json()
        assert one["owner"] == {"name": NAME, "email": EMAIL, "phone": PHONE}
        listed = await (await client.get("/api/v1/apps", headers=bearer(token))).text()
        assert EMAIL in listed


async def test_api_shows_contacts_when_published(published: TestClient) -> None:  # type: ignore[type-arg]
    one = await (await published.get("/api/v1/apps/website")).json()
    assert one["owner"] == {"name": NAME, "email": EMAIL, "phone": PHONE}
    assert EMAIL in await (await published.get("/api/v1/apps")).text()


@pytest.mark.parametrize("path", ["/", "/apps/website", "/agencies/diskominfo", "/?q=budi"])
async def test_portal_hides_contacts_unless_published(
    client: TestClient,  # type: ignore[type-arg]
    published: TestClient,  # type: ignore[type-arg]
    path: str,
) -> None:
    hidden = await client.get(path)
    assert hidden.status == 200
    page = await hidden.text()
    assert EMAIL not in page
    assert PHONE not in page
    assert "mailto:" not in page
    assert "tel:" not in page
    if path != "/?q=budi":
        assert NAME in page
    shown = await (await published.get(path)).text()
    if path != "/?q=budi":
        assert EMAIL in shown
    if path == "/apps/website":
        assert PHONE in shown


REVIEW_MAILBOX = "kadis.dinkes@kotimkab.go.id"  # where dinkes's review is mailed: a person's


async def _give_dinkes_a_review_mailbox(client: TestClient, tokens: Tokens) -> None:  # type: ignore[type-arg]
    dinkes = await (
        await client.get("/api/v1/agencies/dinkes", headers=bearer(tokens.admin))
    ).json()
    resp = await client.put(
        "/api/v1/agencies/dinkes", json={**dinkes, "email": REVIEW_MAILBOX},
        headers=bearer(tokens.admin),
    )  # fmt: skip
    assert resp.status == 200, await resp.text()


async def test_agency_review_mailbox_is_a_contact(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    await _give_dinkes_a_review_mailbox(client, tokens)
    for token in (None, tokens.probe_dc, tokens.app_simpus):  # anonymous, and machines
        headers = bearer(token) if token else {}
        one = await (await client.get("/api/v1/agencies/dinkes", headers=headers)).json()
        assert one["email"] is None
        assert one["zones"] == ["dinkes-lan", "dc"]  # the network's map stays public
        assert one["contact"] == "dinkes@kotimkab.go.id"  # the office's public address too
        listed = await (await client.get("/api/v1/agencies", headers=headers)).text()
        assert REVIEW_MAILBOX not in listed
    for token in (tokens.admin, tokens.dinkes):
        one = await (await client.get("/api/v1/agencies/dinkes", headers=bearer(token))).json()
        assert one["email"] == REVIEW_MAILBOX
        listed = await (await client.get("/api/v1/agencies", headers=bearer(token))).text()
        assert REVIEW_MAILBOX in listed


async def test_agency_review_mailbox_is_shown_when_contacts_are_published(
    published: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    await _give_dinkes_a_review_mailbox(published, tokens)
    one = await (await published.get("/api/v1/agencies/dinkes")).json()
    assert one["email"] == REVIEW_MAILBOX
    assert REVIEW_MAILBOX in await (await published.get("/api/v1/agencies")).text()
