"""The portal's forms that change the catalogue, over HTTP as a browser without JavaScript posts
them: an operator proposes, an admin approves, edits before approving or rejects; admins' own
edits apply at once; each bad input gets a clear answer and changes nothing."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import asyncpg
import openpyxl

from collector.portal import app_form
from tests.collector.accounts_kit import Browser, browser, code_for, make_account, portal

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def _fetch(url: str, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _stored(url: str, app_id: str) -> Any:
    return await _fetch(url, "SELECT row_to_json(a)::text FROM apps a WHERE id = $1", app_id)


async def _operator(url: str, b: Browser, agency: str = "dinkes") -> None:
    await make_account(url, f"op-{agency}", "agency", agency=agency)
    assert (await b.sign_in(f"op-{agency}")).status == 303


async def _admin(url: str, b: Browser) -> None:
    await make_account(url, "boss", "admin", totp_secret=SECRET)
    assert (await b.sign_in("boss")).status == 303
    resp = await b.post("/signin/code", {"code": code_for(SECRET)}, token_from="/signin/code")
    assert resp.status == 303, await resp.text()


async def _app_values(b: Browser, app_id: str) -> dict[str, str]:
    """The edit form's fields as the page fills them (read back from the API's JSON)."""
    resp = await b.get(f"/api/v1/apps/{app_id}")
    return app_form.values_of(await resp.json())


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{re.escape(field)}"[^>]*>([^<]*)</p>', page)
    assert found, f"no error next to {field}"
    return html.unescape(found.group(1))


async def test_an_operator_proposes_an_edit_and_an_admin_approves_it(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as op, browser(base) as admin:
        await _operator(seeded_db, op)
        before = await _stored(seeded_db, "simpus")
        values = await _app_values(op, "simpus")
        values["target_uptime"] = "98.5"
        resp = await op.post("/apps/simpus/edit", values, token_from="/apps/simpus/edit")
        assert resp.status == 303, await resp.text()
        proposal = resp.headers["Location"]
        assert re.fullmatch(r"/proposals/\d+\?done=proposed", proposal)
        assert await _stored(seeded_db, "simpus") == before  # a proposal changes nothing yet
        page = await (await op.get(proposal)).text()
        assert "pending" in page
        assert "98.5" in page

        await _admin(seeded_db, admin)
        queue = await (await admin.get("/proposals?lang=en")).text()
        assert "simpus" in queue
        assert "target_uptime" in queue
        assert "98.5" in queue
        path = proposal.split("?")[0]
        resp = await admin.post(path + "/approve", {"current_hash": ""}, token_from=path)
        assert resp.status == 303, await resp.text()
        assert '"target_uptime":98.5' in await _stored(seeded_db, "simpus")
        # The app's page shows the change, and its trail names the proposal and both people.
        page = await (await admin.get("/apps/simpus?lang=en")).text()
        assert "Recent changes" in page
        assert re.search(r"Proposal \d+ by account:op-dinkes, approved by account:boss", page)
        assert "98.5" in page
        # The operator sees the state of its proposal.
        page = await (await op.get(path + "?lang=en")).text()
        assert "approved" in page
        assert "account:boss" in page


async def test_an_admin_saves_at_once_and_registers_a_new_app(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as admin:
        await _admin(seeded_db, admin)
        values = await _app_values(admin, "website")
        values["name"] = "Website Baru"
        resp = await admin.post("/apps/website/edit", values, token_from="/apps/website/edit")
        assert resp.status == 303
        assert resp.headers["Location"] == "/apps/website?done=saved"
        assert "Website Baru" in await _stored(seeded_db, "website")
        new = app_form.values_of(None) | {"id": "sipd", "name": "SIPD", "agency": "setda",
                                          "managed_by": "central", "zones": "dc",
                                          "checks": "- type: http\n  url: https://sipd.go.id/\n"}  # fmt: skip
        resp = await admin.post("/apps/new", new, token_from="/apps/new")
        assert resp.status == 303, await resp.text()
        assert "https://sipd.go.id/" in await _stored(seeded_db, "sipd")


async def test_an_operator_cannot_touch_another_agencys_app(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as op:
        await _operator(seeded_db, op)
        before = await _stored(seeded_db, "website")
        values = await _app_values(op, "website")
        values["name"] = "Taken over"
        token_page = "/apps/simpus/edit"  # a valid token: the refusal is the agency's
        for path in ("/apps/website/edit", "/apps/website/delete"):
            resp = await op.post(path, values, token_from=token_page)
            assert resp.status == 403, path
        # Registering an app for another agency is refused too.
        values["id"], values["agency"] = "stolen", "diskominfo"
        resp = await op.post("/apps/new", values, token_from=token_page)
        assert resp.status == 403
        assert (await op.get("/apps/website/edit")).status == 403
        assert await _stored(seeded_db, "website") == before
        assert await _stored(seeded_db, "stolen") is None
        assert await _fetch(seeded_db, "SELECT count(*) FROM proposals") == 0


async def test_each_page_of_an_app_refuses_a_missing_app_or_another_agencys(seeded_db: str) -> None:
    """The edit and delete pages, shown or posted, share one look-up: 404, then 403."""
    async with portal(seeded_db) as base, browser(base) as op:
        await _operator(seeded_db, op)
        for page in ("edit", "delete"):
            for app_id, status in (("never-was", 404), ("website", 403)):
                path = f"/apps/{app_id}/{page}"
                assert (await op.get(path)).status == status, path
                resp = await op.post(path, {"name": "x"}, token_from="/apps/simpus/edit")
                assert resp.status == status, path
        assert await _fetch(seeded_db, "SELECT count(*) FROM proposals") == 0


async def test_a_form_without_its_csrf_token_changes_nothing(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as admin:
        await _admin(seeded_db, admin)
        before = await _stored(seeded_db, "website")
        values = await _app_values(admin, "website") | {"name": "No token"}
        resp = await admin.post("/apps/website/edit?lang=en", values)
        assert resp.status == 403
        assert "security token" in await resp.text()
        assert await _stored(seeded_db, "website") == before


async def test_an_invalid_field_is_shown_next_to_it_and_changes_nothing(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as op:
        await _operator(seeded_db, op)
        before = await _stored(seeded_db, "simpus")
        good = await _app_values(op, "simpus")
        cases = {
            "target_uptime": ("150", "<= 100"),
            "owner.email": ("not an address", "not in the form this field takes"),
            "checks": ("- type: http\n  url: [unclosed\n", "Not valid YAML"),
            "zones": ("dinkes-lan, elsewhere", "not opened to the agency"),
        }
        for field, (bad, words) in cases.items():
            resp = await op.post("/apps/simpus/edit?lang=en", good | {field: bad},
                                 token_from="/apps/simpus/edit?lang=en")  # fmt: skip
            assert resp.status in (400, 403), field
            page = await resp.text()
            assert words in _field_error(page, field), (field, page)
            assert html.escape(bad.split()[-1]) in page  # what was typed is kept
        # In Indonesian, a known refusal is translated.
        resp = await op.post("/apps/simpus/edit", good | {"zones": "elsewhere"},
                             token_from="/apps/simpus/edit")  # fmt: skip
        assert "tidak dibuka" in _field_error(await resp.text(), "zones")
        assert await _stored(seeded_db, "simpus") == before
        assert await _fetch(seeded_db, "SELECT count(*) FROM proposals") == 0


async def test_reject_with_a_reason_withdraw_and_edit_before_approving(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as op, browser(base) as admin:
        await _operator(seeded_db, op)
        await _admin(seeded_db, admin)
        values = await _app_values(op, "simpus")

        async def propose(**changed: str) -> str:
            resp = await op.post("/apps/simpus/edit", values | changed,
                                 token_from="/apps/simpus/edit")  # fmt: skip
            assert resp.status == 303, await resp.text()
            return str(resp.headers["Location"]).split("?")[0]

        first = await propose(name="SIMPUS 2")
        resp = await admin.post(first + "/reject", {"reason": " "}, token_from=first)
        assert resp.status == 400  # a reason is required
        resp = await admin.post(first + "/reject", {"reason": "Nama salah"}, token_from=first)
        assert resp.status == 303
        page = await (await op.get(first + "?lang=en")).text()
        assert "rejected" in page
        assert "Nama salah" in page
        mine = await (await op.get("/proposals?lang=en")).text()
        assert "Nama salah" in mine

        second = await propose(name="SIMPUS 3")
        resp = await op.post(second + "/withdraw", {}, token_from=second)
        assert resp.status == 303
        assert "withdrawn" in await (await op.get(second + "?lang=en")).text()

        third = await propose(name="SIMPUS 4")
        edit = third + "/edit"
        form = await (await admin.get(edit)).text()
        assert 'value="SIMPUS 4"' in form
        assert 'name="current_hash"' in form
        current = re.search(r'name="current_hash" value="([0-9a-f]+)"', form)
        assert current
        resp = await admin.post(edit, values | {"name": "SIMPUS Puskesmas",
                                                "current_hash": current.group(1)},
                                token_from=edit)  # fmt: skip
        assert resp.status == 303, await resp.text()
        assert "SIMPUS Puskesmas" in await _stored(seeded_db, "simpus")
        assert "edited before approving" in await (await op.get(third + "?lang=en")).text()


async def test_a_stale_proposal_shows_the_diff_against_now(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as op, browser(base) as admin:
        await _operator(seeded_db, op)
        await _admin(seeded_db, admin)
        values = await _app_values(op, "simpus")
        resp = await op.post("/apps/simpus/edit", values | {"name": "Proposed"},
                             token_from="/apps/simpus/edit")  # fmt: skip
        path = str(resp.headers["Location"]).split("?")[0]
        resp = await admin.post("/apps/simpus/edit", values | {"category": "changed-meanwhile"},
                                token_from="/apps/simpus/edit")  # fmt: skip
        assert resp.status == 303
        page = await (await admin.get(path + "?lang=en")).text()
        assert "What approving does now" in page
        assert "changed-meanwhile" in page
        # An approval quoting an older view is refused; the page's own hash is taken.
        resp = await admin.post(path + "/approve", {"current_hash": "0" * 32}, token_from=path)
        assert resp.status == 409
        resp = await admin.post(path + "/approve", {}, token_from=path)
        assert resp.status == 409
        current = re.search(r'name="current_hash" value="([0-9a-f]+)"', page)
        assert current
        resp = await admin.post(path + "/approve", {"current_hash": current.group(1)},
                                token_from=path)  # fmt: skip
        assert resp.status == 303
        assert '"name":"Proposed"' in await _stored(seeded_db, "simpus")


async def test_deletion_an_operator_proposes_an_admin_deletes(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as op, browser(base) as admin:
        await _operator(seeded_db, op)
        page = await (await op.get("/apps/simpus/delete?lang=en")).text()
        assert "Propose deleting" in page  # a page asks first (no confirm() without JavaScript)
        resp = await op.post("/apps/simpus/delete", {}, token_from="/apps/simpus/delete")
        assert resp.status == 303
        assert "/proposals/" in resp.headers["Location"]
        assert await _stored(seeded_db, "simpus") is not None
        await _admin(seeded_db, admin)
        resp = await admin.post("/apps/website/delete", {}, token_from="/apps/website")
        assert resp.status == 303
        assert (
            "The application is deleted"
            in await (await admin.get(resp.headers["Location"] + "&lang=en")).text()
        )
        assert await _stored(seeded_db, "website") is None


async def test_viewers_read_everything_and_change_nothing(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as viewer, browser(base) as anon:
        await make_account(seeded_db, "pat", "viewer")
        assert (await viewer.sign_in("pat")).status == 303
        page = await (await viewer.get("/apps/simpus?lang=en")).text()
        assert "/apps/simpus/edit" not in page
        assert "Recent changes" in page  # staff read the trail
        assert (await viewer.get("/apps/simpus/history")).status == 200
        proposals = await viewer.get("/proposals?lang=en")
        assert proposals.status == 200
        assert 'id="approve"' not in await proposals.text()
        for path in ("/apps/new", "/apps/simpus/edit", "/apps/simpus/delete"):
            assert (await viewer.get(path)).status == 403, path
        resp = await viewer.post("/apps/simpus/delete", {}, token_from="/apps/simpus")
        assert resp.status == 403
        page = await (await anon.get("/apps/simpus?lang=en")).text()
        assert "Recent changes" not in page
        assert "/apps/simpus/edit" not in page
        assert (await anon.get("/apps/simpus/history")).status == 403
        assert (await anon.get("/apps/new")).status == 303  # to sign in


def _xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


HEADER: list[object] = ["id", "name", "agency", "managed_by", "url"]


async def _upload(b: Browser, data: bytes, name: str, **fields: str) -> Any:
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("csrf_token", await b.form_token("/admin/import"))
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field("file", io.BytesIO(data), filename=name, content_type="application/octet-stream")
    return await b.session.post(b.base + "/admin/import?lang=en", data=form, allow_redirects=False)


async def test_the_spreadsheet_upload_previews_then_applies(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as admin:
        await _admin(seeded_db, admin)
        data = _xlsx([HEADER, ["sipd", "SIPD", "setda", "central", "https://sipd.go.id/"]])
        resp = await _upload(admin, data, "apps.xlsx", action="preview")
        html = await resp.text()
        assert resp.status == 200
        assert "app sipd" in html
        assert await _stored(seeded_db, "sipd") is None  # a preview changes nothing
        expect = re.search(r'name="expect" value="([0-9a-f]{64})"', html)
        assert expect
        other = _xlsx([HEADER, ["sipd", "SIPD 2", "setda", "central", "https://sipd.go.id/"]])
        resp = await _upload(admin, other, "apps.xlsx", action="apply", expect=expect.group(1))
        assert resp.status == 409
        assert await _stored(seeded_db, "sipd") is None
        resp = await _upload(admin, data, "apps.xlsx", action="apply", expect=expect.group(1))
        assert resp.status == 200
        assert "The file is imported" in await resp.text()
        assert await _stored(seeded_db, "sipd") is not None


async def test_the_upload_refuses_formulas_oversized_files_and_non_admins(seeded_db: str) -> None:
    async with portal(seeded_db) as base, browser(base) as admin, browser(base) as op:
        await _admin(seeded_db, admin)
        formula = _xlsx([HEADER, ["sipd", '=HYPERLINK("http://x")', "setda", "central", ""]])
        resp = await _upload(admin, formula, "apps.xlsx", action="preview")
        assert resp.status == 400
        assert 'id="problems"' in await resp.text()
        assert "formula" in await resp.text()
        resp = await _upload(admin, b"id,name\n" + b"x" * (1 << 20), "big.csv", action="preview")
        assert resp.status == 413
        assert await _stored(seeded_db, "sipd") is None
        await _operator(seeded_db, op)
        assert (await op.get("/admin/import")).status == 403


def test_the_form_gives_back_the_app_it_shows() -> None:
    """Every field of an app survives the form (a field missing from it would be lost on the
    next save): the catalogue's apps, and maintenance windows typed in YAML."""
    import msgspec

    from tests.collector.conftest import CATALOG
    from wire.catalog import App

    for raw in CATALOG["apps"]:
        app = msgspec.convert(raw, App)
        assert app_form.read_app(app_form.values_of(app), "en") == app
    values = app_form.values_of(None) | {"id": "x", "name": "X", "agency": "setda",
                                         "managed_by": "self", "failure_threshold": "3",
                                         "maintenance": "- name: up\n  start: 2026-12-01T22:00:00+07:00\n"
                                                        "  end: 2026-12-02T01:00:00+07:00\n"}  # fmt: skip
    app = app_form.read_app(values, "en")
    assert app.failure_threshold == 3
    assert app.maintenance[0].name == "up"
    assert app_form.read_app(app_form.values_of(app), "en") == app


def test_an_errors_path_names_its_field() -> None:
    assert app_form.field_of("$.owner.email") == "owner.email"
    assert app_form.field_of("$.checks[0].url") == "checks"
    assert app_form.field_of("$.target_uptime") == "target_uptime"
    assert app_form.field_of("$.reason") == ""
    assert app_form.field_of(None) == ""
