"""Proposals: an agency's change to its apps waits for Diskominfo, which approves (as proposed,
or edited), or rejects it with a reason; the proposer may withdraw it. The catalogue rules are
the API's own (collector/catalog/changes.py), checked when proposed and again when approved."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import asyncpg
import msgspec
import pytest
from aiohttp.test_utils import TestClient

from collector.auth import Principal
from collector.catalog import changes, store
from collector.proposals import workflow
from collector.proposals.diff import diff_apps
from collector.proposals.store import Proposal
from tests.collector.conftest import CATALOG, Tokens, bearer
from wire.catalog import App

ADMIN = Principal(token_id=0, name="admin", kind="admin")
ADMIN_TWO = Principal(token_id=0, name="admin-two", kind="admin")
DINKES = Principal(token_id=0, name="dinkes", kind="agency", agency="dinkes")

Client = TestClient  # type: ignore[type-arg]


def app_body(app_id: str, **changed: object) -> dict[str, Any]:
    (app,) = [a for a in CATALOG["apps"] if a["id"] == app_id]  # type: ignore[index]
    return {**copy.deepcopy(app), **changed}


NEW_DINKES_APP = {"id": "simrs", "name": "SIMRS", "agency": "dinkes", "managed_by": "vendor",
                  "zones": ["dc"]}  # fmt: skip


async def propose(client: Client, token: str, **body: object) -> Any:
    resp = await client.post("/api/v1/proposals", json=body, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def call(client: Client, method: str, path: str, token: str, body: object = None) -> Any:
    resp = await client.request(method, path, json=body, headers=bearer(token))
    return resp.status, await resp.json() if resp.status != 204 else None


async def stored_app(client: Client, app_id: str) -> Any:
    resp = await client.get(f"/api/v1/apps/{app_id}")
    return await resp.json() if resp.status == 200 else None


async def count_proposals(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM proposals"))
    finally:
        await conn.close()


# --- the one place for catalogue changes ---------------------------------------------------

# (what an agency token of dinkes writes, through POST or PUT) -> status, field of the refusal
REFUSED: list[tuple[str, str, dict[str, Any], int, str | None]] = [
    ("another agency's app", "PUT", app_body("website", name="Mine now"), 403, None),
    ("an app moved away", "PUT", app_body("p-care", agency="setda"), 403, None),
    ("an unknown agency", "POST", {**NEW_DINKES_APP, "agency": "nowhere"}, 403, None),
    ("a zone not opened", "PUT", app_body("simpus", zones=["dinkes-lan", "setda-lan"]), 403,
     "$.zones"),
    ("an id that exists", "POST", app_body("simpus"), 409, None),
    ("a bad field", "PUT", app_body("simpus", target_uptime=150), 400, "$.target_uptime"),
    ("a plain secret", "PUT", app_body("simpus", checks=[{"type": "http", "url": "http://x/",
     "headers": {"Authorization": "Bearer s3cret"}}]), 400, "$.checks[0]"),
    ("two checks of one name", "PUT", app_body("simpus", checks=[
        {"type": "tcp", "host": "a", "port": 1}, {"type": "tcp", "host": "b", "port": 2}]), 400,
     None),
]  # fmt: skip


@pytest.mark.parametrize(("what", "method", "body", "status", "field"), REFUSED,
                         ids=[r[0] for r in REFUSED])  # fmt: skip
async def test_a_proposal_is_refused_exactly_as_the_api_write_would_be(
    client: Client, tokens: Tokens, seeded_db: str,
    what: str, method: str, body: dict[str, Any], status: int, field: str | None,
) -> None:  # fmt: skip
    before = await stored_app(client, body["id"])
    path = "/api/v1/apps" if method == "POST" else f"/api/v1/apps/{body['id']}"
    direct = await client.request(method, path, json=body, headers=bearer(tokens.dinkes))
    answer = await direct.json()
    assert (direct.status, answer["field"]) == (status, field), answer

    action = "create" if method == "POST" else "update"
    resp = await client.post("/api/v1/proposals", json={"action": action, "app": body},
                             headers=bearer(tokens.dinkes))  # fmt: skip
    proposed = await resp.json()
    assert resp.status == status
    # The same answer, naming the field where it sits in this body: under `app`.
    if field is None and status == 400:  # a rule of the whole app: here, the app is `$.app`
        assert proposed["message"] == answer["message"] + " - at `$.app`"
        assert proposed["field"] == "$.app"
    else:
        assert proposed["message"] == answer["message"].replace("`$", "`$.app")
        assert proposed["field"] == (None if field is None else "$.app" + field[1:])
    assert await count_proposals(seeded_db) == 0  # nothing stored
    assert await stored_app(client, body["id"]) == before  # nor applied


async def test_service_functions_give_the_api_answers(seeded_db: str) -> None:
    """The forms call these very functions: same status, message and (app-relative) field."""
    conn = await asyncpg.connect(seeded_db)
    try:
        website = await store.get_app(conn, "website")
        simpus = await store.get_app(conn, "simpus")
        p_care = await store.get_app(conn, "p-care")
        assert website is not None
        assert simpus is not None
        assert p_care is not None
        cases = [
            (msgspec.structs.replace(website, name="x"), False, 403, None),
            (msgspec.structs.replace(simpus, zones=["setda-lan"]), False, 403, "$.zones"),
            (simpus, True, 409, None),
        ]
        for app, new, status, field in cases:
            with pytest.raises(changes.ChangeError) as err:
                await changes.save_app(conn, app, by=DINKES, must_be_new=new)
            assert (err.value.status, err.value.field) == (status, field)
        with pytest.raises(changes.ChangeError) as err:
            await changes.save_app(
                conn, msgspec.structs.replace(p_care, agency="nowhere"), by=ADMIN,
                must_be_new=False,
            )  # fmt: skip
        assert (err.value.status, err.value.message, err.value.field) == (
            400, "unknown agency 'nowhere'", "$.agency")  # fmt: skip
        with pytest.raises(changes.ChangeError) as err:
            await changes.delete_app(conn, "website", by=DINKES)
        assert err.value.status == 403
        with pytest.raises(changes.ChangeError) as err:
            await changes.delete_app(conn, "never-was", by=DINKES)
        assert err.value.status == 404
        # An admin's own edit applies at once, and says what was there before.
        before = await changes.save_app(
            conn, msgspec.structs.replace(website, target_uptime=97.0), by=ADMIN, must_be_new=False
        )
        assert before == website
        assert (await store.get_app(conn, "website")).target_uptime == 97.0  # type: ignore[union-attr]
    finally:
        await conn.close()


def test_forms_parse_an_app_as_the_api_does() -> None:
    form = {**NEW_DINKES_APP, "target_uptime": "99.5", "owner": {"email": "not-an-email"}}
    with pytest.raises(changes.ChangeError) as err:
        changes.parse_app(form)
    assert (err.value.status, err.value.field) == (400, "$.owner.email")
    assert changes.parse_app({**form, "owner": {}}).target_uptime == 99.5  # text, as forms send
    with pytest.raises(changes.ChangeError) as err:
        changes.parse_app(msgspec.json.encode({**NEW_DINKES_APP, "target_uptime": 150}))
    assert (err.value.status, err.value.field) == (400, "$.target_uptime")
    assert "<= 100.0" in err.value.message


# --- the proposal's life ---------------------------------------------------------------------


async def test_propose_review_and_approve(client: Client, tokens: Tokens) -> None:
    changed = app_body("simpus", name="SIMPUS Puskesmas", target_uptime=99.9)
    made = await propose(client, tokens.dinkes, action="update", app=changed)
    assert made["state"] == "pending"
    assert (made["agency"], made["app_id"], made["action"]) == ("dinkes", "simpus", "update")
    assert made["proposed_by"] == "token:dinkes"
    assert made["base"]["name"] == "SIMPUS"  # the app as it was
    assert (await stored_app(client, "simpus"))["name"] == "SIMPUS"  # not applied yet

    status, review = await call(client, "GET", f"/api/v1/proposals/{made['id']}", tokens.admin)
    assert status == 200
    assert not review["stale"]
    assert [(c["field"], c["before"], c["after"]) for c in review["changes"]["fields"]] == [
        ("name", "SIMPUS", "SIMPUS Puskesmas"),
        ("target_uptime", 99.0, 99.9),
    ]
    assert review["applies"] == review["changes"]
    assert review["changes"]["lines"] == [
        '~ name: "SIMPUS" → "SIMPUS Puskesmas"',
        "~ target_uptime: 99.0 → 99.9",
    ]

    # The agency may not decide its own proposal.
    status, err = await call(client, "POST", f"/api/v1/proposals/{made['id']}/approve",
                             tokens.dinkes)  # fmt: skip
    assert status == 403, err
    status, approved = await call(client, "POST", f"/api/v1/proposals/{made['id']}/approve",
                                  tokens.admin)  # fmt: skip
    assert status == 200, approved
    assert approved["state"] == "approved"
    assert approved["decided_by"] == "token:admin"
    assert approved["decided_at"] is not None
    assert not approved["edited"]
    now = await stored_app(client, "simpus")
    assert (now["name"], now["target_uptime"]) == ("SIMPUS Puskesmas", 99.9)
    # The audit trail names the admin who approved it as the change's author.
    status, history = await call(client, "GET", "/api/v1/apps/simpus/history", tokens.admin)
    assert status == 200, history
    latest = history["entries"][0]
    assert (latest["actor"]["kind"], latest["actor"]["name"]) == ("token", "admin")
    assert latest["changed"] == ["name", "target_uptime"]
    # The operator sees the state of its proposal.
    status, mine = await call(client, "GET", "/api/v1/proposals", tokens.dinkes)
    assert [(p["id"], p["state"]) for p in mine] == [(made["id"], "approved")]


async def test_create_and_delete_proposals(client: Client, tokens: Tokens) -> None:
    created = await propose(client, tokens.dinkes, action="create", app=NEW_DINKES_APP)
    assert created["base"] is None
    status, review = await call(client, "GET", f"/api/v1/proposals/{created['id']}", tokens.dinkes)
    assert status == 200
    assert review["changes"]["lines"][0] == "+ application simrs"
    assert await stored_app(client, "simrs") is None
    status, _ = await call(client, "POST", f"/api/v1/proposals/{created['id']}/approve",
                           tokens.admin)  # fmt: skip
    assert status == 200
    assert (await stored_app(client, "simrs"))["managed_by"] == "vendor"

    deleted = await propose(client, tokens.dinkes, action="delete", app_id="p-care")
    assert (deleted["proposed"], deleted["base"]["provider"]) == (None, "BPJS Kesehatan")
    status, _ = await call(client, "POST", f"/api/v1/proposals/{deleted['id']}/approve",
                           tokens.admin)  # fmt: skip
    assert status == 200
    assert await stored_app(client, "p-care") is None

    # Bad requests: an update of no app, a delete of another agency's, nothing to change.
    for body, status in (
        ({"action": "update", "app": {**NEW_DINKES_APP, "id": "nope"}}, 404),
        ({"action": "delete", "app_id": "website"}, 403),
        ({"action": "delete", "app_id": "never-was"}, 404),
        ({"action": "update", "app": app_body("simpus")}, 400),
        ({"action": "delete"}, 400),
        ({"action": "create", "app_id": "x"}, 400),
        ({"action": "create", "app": NEW_DINKES_APP, "app_id": "other"}, 400),
    ):
        resp = await client.post("/api/v1/proposals", json=body, headers=bearer(tokens.dinkes))
        assert resp.status == status, (body, await resp.text())


async def test_reject_with_a_reason_and_withdraw(client: Client, tokens: Tokens) -> None:
    first = await propose(client, tokens.dinkes, action="update",
                          app=app_body("simpus", category="kesehatan"))  # fmt: skip
    path = f"/api/v1/proposals/{first['id']}"
    status, err = await call(client, "POST", f"{path}/reject", tokens.admin, {})
    assert (status, err["field"]) == (400, "$.reason")
    status, err = await call(client, "POST", f"{path}/reject", tokens.admin, {"reason": "  "})
    assert (status, err["field"]) == (400, "$.reason")
    status, rejected = await call(client, "POST", f"{path}/reject", tokens.admin,
                                  {"reason": "category is a slug of the office's list"})  # fmt: skip
    assert status == 200
    assert (rejected["state"], rejected["reason"]) == (
        "rejected", "category is a slug of the office's list")  # fmt: skip
    assert (await stored_app(client, "simpus"))["category"] == "health"
    # Kept, with its reason; decided once.
    status, again = await call(client, "GET", path, tokens.dinkes)
    assert again["proposal"]["reason"] == "category is a slug of the office's list"
    for action, token in (("approve", tokens.admin), ("withdraw", tokens.dinkes)):
        status, err = await call(client, "POST", f"{path}/{action}", token)
        assert status == 409, err
        assert "already rejected" in err["message"]

    second = await propose(client, tokens.dinkes, action="update",
                           app=app_body("simpus", category="medical"))  # fmt: skip
    path = f"/api/v1/proposals/{second['id']}"
    status, _ = await call(client, "POST", f"{path}/withdraw", tokens.admin)
    assert status == 403  # an admin rejects; withdrawing is the proposer's
    status, withdrawn = await call(client, "POST", f"{path}/withdraw", tokens.dinkes)
    assert (status, withdrawn["state"]) == (200, "withdrawn")
    status, err = await call(client, "POST", f"{path}/approve", tokens.admin)
    assert status == 409
    assert (await stored_app(client, "simpus"))["category"] == "health"


async def test_one_pending_proposal_per_app(client: Client, tokens: Tokens) -> None:
    first = await propose(client, tokens.dinkes, action="update",
                          app=app_body("simpus", name="A"))  # fmt: skip
    resp = await client.post("/api/v1/proposals", headers=bearer(tokens.dinkes),
                             json={"action": "update", "app": app_body("simpus", name="B")})  # fmt: skip
    assert resp.status == 409
    assert f"proposal {first['id']}" in (await resp.json())["message"]
    await call(client, "POST", f"/api/v1/proposals/{first['id']}/withdraw", tokens.dinkes)
    await propose(client, tokens.dinkes, action="update", app=app_body("simpus", name="B"))


async def test_edit_before_approving(client: Client, tokens: Tokens) -> None:
    made = await propose(client, tokens.dinkes, action="create", app=NEW_DINKES_APP)
    path = f"/api/v1/proposals/{made['id']}/approve"
    # The edit is checked like any write: a bad field, another id.
    status, err = await call(client, "POST", path, tokens.admin,
                             {"app": {**NEW_DINKES_APP, "target_uptime": 101}})  # fmt: skip
    assert (status, err["field"]) == (400, "$.app.target_uptime")
    status, err = await call(client, "POST", path, tokens.admin,
                             {"app": {**NEW_DINKES_APP, "id": "simrs-2"}})  # fmt: skip
    assert (status, err["field"]) == (400, "$.app.id")
    status, err = await call(client, "POST", path, tokens.admin,
                             {"app": {**NEW_DINKES_APP, "agency": "nowhere"}})  # fmt: skip
    assert (status, err["field"]) == (400, "$.app.agency")
    assert await stored_app(client, "simrs") is None

    edited = {**NEW_DINKES_APP, "name": "SIMRS RSUD", "zones": ["dc", "setda-lan"]}
    status, approved = await call(client, "POST", path, tokens.admin, {"app": edited})
    assert status == 200, approved
    assert approved["edited"]
    assert approved["proposed"]["name"] == "SIMRS"  # the original is kept
    assert approved["approved"]["name"] == "SIMRS RSUD"
    now = await stored_app(client, "simrs")
    assert (now["name"], now["zones"]) == ("SIMRS RSUD", ["dc", "setda-lan"])  # an admin's zones
    status, review = await call(client, "GET", f"/api/v1/proposals/{made['id']}", tokens.dinkes)
    assert '+ name: "SIMRS RSUD"' in review["changes"]["lines"]  # what was applied


async def test_approving_after_the_app_changed_shows_and_needs_the_diff_against_now(
    client: Client, tokens: Tokens
) -> None:
    made = await propose(client, tokens.dinkes, action="update",
                         app=app_body("simpus", name="SIMPUS 2"))  # fmt: skip
    path = f"/api/v1/proposals/{made['id']}"
    # Meanwhile an admin changes the app directly.
    resp = await client.put("/api/v1/apps/simpus", headers=bearer(tokens.admin),
                            json=app_body("simpus", target_uptime=98.0))  # fmt: skip
    assert resp.status == 200

    status, review = await call(client, "GET", path, tokens.admin)
    assert review["stale"]
    # What the agency changed, and what approving now does: it also undoes the admin's edit.
    assert [c["field"] for c in review["changes"]["fields"]] == ["name"]
    assert [(c["field"], c["before"], c["after"]) for c in review["applies"]["fields"]] == [
        ("name", "SIMPUS", "SIMPUS 2"),
        ("target_uptime", 98.0, 99.0),
    ]
    # Approving blind is refused; so is approving a version of the app that is not the current.
    status, err = await call(client, "POST", f"{path}/approve", tokens.admin)
    assert status == 409
    assert "changed since the proposal" in err["message"]
    old_hash = review["current_hash"]
    resp = await client.put("/api/v1/apps/simpus", headers=bearer(tokens.admin),
                            json=app_body("simpus", target_uptime=97.0))  # fmt: skip
    status, err = await call(client, "POST", f"{path}/approve", tokens.admin,
                             {"current_hash": old_hash})  # fmt: skip
    assert status == 409
    assert (await stored_app(client, "simpus"))["target_uptime"] == 97.0
    status, review = await call(client, "GET", path, tokens.admin)
    status, approved = await call(client, "POST", f"{path}/approve", tokens.admin,
                                  {"current_hash": review["current_hash"]})  # fmt: skip
    assert status == 200, approved
    now = await stored_app(client, "simpus")
    assert (now["name"], now["target_uptime"]) == ("SIMPUS 2", 99.0)


async def test_approving_what_can_no_longer_apply_fails_clearly(
    client: Client, tokens: Tokens
) -> None:
    # A create whose id was taken meanwhile.
    made = await propose(client, tokens.dinkes, action="create", app=NEW_DINKES_APP)
    resp = await client.post("/api/v1/apps", json=NEW_DINKES_APP, headers=bearer(tokens.admin))
    assert resp.status == 201
    status, err = await call(client, "POST", f"/api/v1/proposals/{made['id']}/approve",
                             tokens.admin)  # fmt: skip
    assert status == 409
    assert err["message"].startswith("application 'simrs' exists")

    # An app whose agency was deleted meanwhile (an admin's proposal for a new agency).
    resp = await client.post("/api/v1/agencies", json={"id": "bappeda", "name": "Bappeda"},
                             headers=bearer(tokens.admin))  # fmt: skip
    assert resp.status == 201
    new = {"id": "sipp", "name": "SIPP", "agency": "bappeda", "managed_by": "self"}
    made = await propose(client, tokens.admin, action="create", app=new)
    assert (
        await client.delete("/api/v1/agencies/bappeda", headers=bearer(tokens.admin))
    ).status == 204
    status, err = await call(client, "POST", f"/api/v1/proposals/{made['id']}/approve",
                             tokens.admin)  # fmt: skip
    assert status == 409
    assert "agency 'bappeda' no longer exists" in err["message"]
    assert await stored_app(client, "sipp") is None

    # An update of an app deleted meanwhile is not a way to bring it back.
    made = await propose(client, tokens.dinkes, action="update",
                         app=app_body("p-care", name="P-Care"))  # fmt: skip
    assert (await client.delete("/api/v1/apps/p-care", headers=bearer(tokens.admin))).status == 204
    status, err = await call(client, "POST", f"/api/v1/proposals/{made['id']}/approve",
                             tokens.admin)  # fmt: skip
    assert status == 409
    assert "application 'p-care' no longer exists" in err["message"]
    assert await stored_app(client, "p-care") is None


async def test_listing_the_queue(client: Client, tokens: Tokens) -> None:
    a = await propose(client, tokens.dinkes, action="update", app=app_body("simpus", name="A"))
    b = await propose(client, tokens.dinkes, action="create", app=NEW_DINKES_APP)
    c = await propose(client, tokens.admin, action="update", app=app_body("website", name="W"))
    await call(client, "POST", f"/api/v1/proposals/{a['id']}/reject", tokens.admin,
               {"reason": "no"})  # fmt: skip

    status, queue = await call(client, "GET", "/api/v1/proposals", tokens.admin)
    assert [p["id"] for p in queue] == [b["id"], c["id"], a["id"]]  # pending first, oldest first
    status, pending = await call(client, "GET", "/api/v1/proposals?state=pending", tokens.admin)
    assert [p["id"] for p in pending] == [b["id"], c["id"]]
    status, mine = await call(client, "GET", "/api/v1/proposals", tokens.dinkes)
    assert [p["id"] for p in mine] == [b["id"], a["id"]]  # its own agency's only
    status, err = await call(client, "GET", f"/api/v1/proposals/{c['id']}", tokens.dinkes)
    assert status == 403
    status, err = await call(client, "GET", "/api/v1/proposals?state=lost", tokens.admin)
    assert (status, err["field"]) == (400, "query.state")
    assert (await client.get("/api/v1/proposals")).status == 401
    status, err = await call(client, "GET", "/api/v1/proposals", tokens.probe_dc)
    assert status == 403
    assert (await client.get("/api/v1/proposals/99999", headers=bearer(tokens.admin))).status == 404
    assert (await client.get("/api/v1/proposals/abc", headers=bearer(tokens.admin))).status == 404


async def propose_rename(conn: asyncpg.Connection, app_id: str, name: str) -> tuple[App, Proposal]:
    """The app as it is, and dinkes's proposal to rename it."""
    app = await store.get_app(conn, app_id)
    assert app is not None
    made = await workflow.propose(
        conn, msgspec.structs.replace(app, name=name), new=False, by=DINKES
    )
    return app, made


async def test_a_proposal_the_rules_now_refuse_is_not_applied(seeded_db: str) -> None:
    """Rules tighten (issue 8 refused secret-looking headers): a proposal stored before is
    still shown, but approving it fails with the reason until an admin edits it."""
    conn = await asyncpg.connect(seeded_db)
    try:
        simpus, made = await propose_rename(conn, "simpus", "SIMPUS 4")
        await conn.execute(  # as if stored under older rules
            "UPDATE proposals SET proposed = json_build_object('id', 'simpus', 'name', 'S',"
            " 'agency', 'dinkes', 'managed_by', 'self', 'target_uptime', 150) WHERE id = $1",
            made.id,
        )
        review = await workflow.review(conn, made.id, by=ADMIN)
        assert "~ target_uptime: 99.0 → 150" in review.changes.lines
        with pytest.raises(changes.ChangeError) as err:
            await workflow.approve(conn, made.id, by=ADMIN)
        assert err.value.status == 409
        assert "no longer passes today's rules" in err.value.message
        assert "target_uptime" in err.value.message
        assert await store.get_app(conn, "simpus") == simpus
        # Edited, it applies.
        await workflow.approve(conn, made.id, by=ADMIN,
                               app=msgspec.structs.replace(simpus, name="S"))  # fmt: skip
        assert (await store.get_app(conn, "simpus")).name == "S"  # type: ignore[union-attr]
    finally:
        await conn.close()


# --- concurrency and transactions -----------------------------------------------------------


async def _waits_for_a_lock(conn: asyncpg.Connection, pid: int) -> None:
    while not await conn.fetchval(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
    ):
        await asyncio.sleep(0.01)


async def test_two_admins_approving_at_once_apply_it_once(seeded_db: str) -> None:
    one, two, watch = [await asyncpg.connect(seeded_db) for _ in range(3)]
    try:
        made = await workflow.propose(
            one, msgspec.convert(NEW_DINKES_APP, App), new=True, by=DINKES
        )
        version = await store.catalog_version(one)
        first = one.transaction()
        await first.start()
        await workflow.approve(one, made.id, by=ADMIN)  # not committed yet
        second = asyncio.create_task(workflow.approve(two, made.id, by=ADMIN_TWO))
        await _waits_for_a_lock(watch, two.get_server_pid())
        await first.commit()
        with pytest.raises(changes.ChangeError) as err:
            await second
        assert err.value.status == 409
        assert "already approved by token:admin" in err.value.message
        assert await store.catalog_version(watch) == version + 1  # written once
        decided = await workflow.get(watch, made.id, by=ADMIN)
        assert decided.decided_by == "token:admin"
    finally:
        for conn in (one, two, watch):
            await conn.close()


async def test_an_approval_is_one_transaction(seeded_db: str) -> None:
    """A failure after the app was written (here: recording the decision) leaves nothing."""
    conn = await asyncpg.connect(seeded_db)
    try:
        simpus, made = await propose_rename(conn, "simpus", "SIMPUS 3")
        await conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$;"
            " CREATE TRIGGER refuse BEFORE UPDATE ON proposals FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
        with pytest.raises(asyncpg.RaiseError):
            await workflow.approve(conn, made.id, by=ADMIN)
        assert (await store.get_app(conn, "simpus")) == simpus
        assert (await workflow.get(conn, made.id, by=ADMIN)).state == "pending"
    finally:
        await conn.close()


# --- the diff --------------------------------------------------------------------------------


def test_diff_of_checks_usage_and_windows() -> None:
    weekly = {"name": "weekly", "cron": "0 23 * * 0", "duration_minutes": 60}
    before = app_body("simpus", maintenance=[weekly], owner={"name": "Ani"})
    before["checks"] = [{"type": "tcp", "host": "10.0.0.5", "port": 443},
                        {"type": "http", "url": "https://simpus.local/"}]  # fmt: skip
    after = copy.deepcopy(before)
    after["checks"] = [{"type": "http", "url": "https://simpus.local/login"},
                       {"type": "dns", "name": "dns", "hostname": "simpus.local"}]  # fmt: skip
    after["usage"] = after["usage"][:2]  # active_users removed
    after["usage"][0]["kind"] = "gauge"
    after["maintenance"] = [{**weekly, "duration_minutes": 90},
                            {"name": "upgrade", "start": "2030-01-05T22:00:00+07:00",
                             "end": "2030-01-06T01:00:00+07:00"}]  # fmt: skip
    after["owner"] = {"name": "Ani", "email": "ani@kotimkab.go.id"}
    after["tags"] = ["health"]
    old = msgspec.convert(before, App)
    new = msgspec.convert(after, App)

    diff = diff_apps(old, new)
    assert [(c.field, c.before, c.after) for c in diff.fields] == [
        ("owner.email", None, "ani@kotimkab.go.id"),
        ("tags", [], ["health"]),
    ]
    items = {(i.section, i.name): i for i in diff.items}
    assert {k: i.change for k, i in items.items()} == {
        ("checks", "http"): "changed",
        ("checks", "dns"): "added",
        ("checks", "tcp"): "removed",
        ("usage", "visits"): "changed",
        ("usage", "active_users"): "removed",
        ("maintenance", "weekly"): "changed",
        ("maintenance", "upgrade"): "added",
    }
    http = items[("checks", "http")]
    assert [(c.field, c.before, c.after) for c in http.fields] == [
        ("url", "https://simpus.local/", "https://simpus.local/login")
    ]
    assert items[("checks", "tcp")].before == {"type": "tcp", "host": "10.0.0.5", "port": 443}
    assert items[("checks", "tcp")].after is None
    assert [(c.field, c.before, c.after) for c in items[("usage", "visits")].fields] == [
        ("kind", "counter", "gauge")
    ]
    assert [(c.field, c.before, c.after) for c in items[("maintenance", "weekly")].fields] == [
        ("duration_minutes", 60, 90)
    ]
    assert diff.lines == [
        '~ owner.email: null → "ani@kotimkab.go.id"',
        '~ tags: [] → ["health"]',
        '~ check http: url: "https://simpus.local/" → "https://simpus.local/login"',
        '+ check dns: {"type":"dns","name":"dns","hostname":"simpus.local"}',
        "- check tcp",
        '~ usage visits: kind: "counter" → "gauge"',
        "- usage active_users",
        "~ maintenance window weekly: duration_minutes: 60 → 90",
        '+ maintenance window upgrade: {"name":"upgrade","start":"2030-01-05T22:00:00+07:00",'
        '"end":"2030-01-06T01:00:00+07:00"}',
    ]
    assert diff.text() == "\n".join(diff.lines)
    assert diff_apps(old, old).lines == []
    reordered = diff_apps(old, msgspec.structs.replace(old, checks=old.checks[::-1]))
    assert reordered.lines == ["~ checks reordered"]
    assert diff_apps(old, None).lines == ["- application simpus"]
