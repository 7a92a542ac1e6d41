"""People's accounts over real sockets: signing in and out, sessions, lock-out, CSRF, roles.

Every refusal is checked twice: the answer says why, and nothing changed in the database.
"""

from __future__ import annotations

import io
import logging

import asyncpg
import pytest

from collector.accounts import sessions
from tests.collector.accounts_kit import (
    PASSWORD,
    Browser,
    accounts_config,
    browser,
    csrf_of,
    make_account,
    portal,
)


@pytest.fixture
async def people(seeded_db: str) -> str:
    """The seeded catalogue with an operator of dinkes, one of diskominfo, and a viewer."""
    await make_account(seeded_db, "dinkes-op", "agency", agency="dinkes", email="op@dinkes.go.id")
    await make_account(seeded_db, "kominfo-op", "agency", agency="diskominfo")
    await make_account(seeded_db, "viewer", "viewer")
    return seeded_db


async def _count(url: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def _execute(url: str, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _signed_in_as(b: Browser) -> str | None:
    """The username the header shows, or None when it offers to sign in."""
    resp = await b.get("/account?lang=en")
    if resp.status != 200:
        return None
    return (await resp.text()).split('title="Your account">', 1)[1].split("<", 1)[0]


# --- signing in and out -------------------------------------------------------------------------


async def test_sign_in_and_out(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        assert (await b.get("/account")).status == 303  # to the sign-in page
        resp = await b.sign_in("dinkes-op")
        assert resp.status == 303
        assert resp.headers["Location"] == "/"
        assert await _signed_in_as(b) == "dinkes-op"
        # By e-mail address too, any case.
        async with browser(base) as other:
            assert (await other.sign_in("OP@Dinkes.go.id")).status == 303
            assert await _signed_in_as(other) == "dinkes-op"
        cookie = b.cookie()
        assert cookie is not None
        resp = await b.post("/signout", {}, token_from="/account")
        assert resp.status == 303
        assert "done=signed_out" in resp.headers["Location"]
        assert b.cookie() is None
        assert (await b.get("/account")).status == 303
        # The database keeps only the SHA-256 of the id, and nothing of this session now.
        assert await _count(people, "SELECT count(*) FROM account_sessions WHERE id_hash = $1",
                            sessions.id_hash(cookie)) == 0  # fmt: skip


async def test_the_header_shows_who_is_signed_in(people: str) -> None:
    from collector.templating import render

    async with portal(people) as base, browser(base) as b:
        await b.sign_in("viewer")
        html = await (await b.get("/account?lang=en")).text()
        assert 'title="Your account">viewer</a>' in html
        assert 'action="/signout?lang=en"' in html
    # Outside a request (mails, the CLI) the frame renders without the account links.
    page = render("portal/layout.html", "en", {"title": "t", "switch_href": "/", "home_href": "/",
                  "review_href": "/r", "tz_label": "WIB", "made_at": "now"})  # fmt: skip
    assert "Sign in" not in page


async def test_wrong_password_and_unknown_name_get_the_same_answer(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        wrong = await b.sign_in("dinkes-op", "not the password")
        unknown = await b.sign_in("nobody-here", "not the password")
        assert wrong.status == unknown.status == 401
        for resp in (wrong, unknown):
            text = await resp.text()
            assert "Wrong username, e-mail address or password." in text or "salah" in text
        assert b.cookie() is None
        assert await _count(people, "SELECT count(*) FROM account_sessions") == 0
        empty = await b.post("/signin", {"name": "", "password": ""}, token_from="/signin")
        assert empty.status == 401


async def test_next_is_followed_only_within_the_site(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        resp = await b.post("/signin", {"name": "viewer", "password": PASSWORD,
                                        "next": "//evil.example/x"}, token_from="/signin")  # fmt: skip
        assert resp.headers["Location"] == "/"
    async with portal(people) as base, browser(base) as b:
        resp = await b.post("/signin", {"name": "viewer", "password": PASSWORD,
                                        "next": "/apps/simpus?lang=en"}, token_from="/signin")  # fmt: skip
        assert resp.headers["Location"] == "/apps/simpus?lang=en"


async def test_a_new_session_id_at_sign_in(people: str) -> None:
    """Fixation: an id planted before signing in is not the one signed in."""
    async with portal(people) as base, browser(base) as b:
        b.set_cookie("planted-by-an-attacker")
        await b.sign_in("viewer")
        assert b.cookie() not in (None, "planted-by-an-attacker")
        # Signing in again as someone else ends the first session.
        first = b.cookie()
        await b.sign_in("dinkes-op")
        assert b.cookie() != first
        assert await _count(people, "SELECT count(*) FROM account_sessions") == 1


# --- sessions: expiry, replay, tampering --------------------------------------------------------


async def test_idle_and_absolute_expiry(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("viewer")
        assert await _signed_in_as(b) == "viewer"
        await _execute(
            people, "UPDATE account_sessions SET last_seen_at = now() - interval '61 minutes'"
        )
        resp = await b.get("/account")
        assert resp.status == 303  # idle for longer than session_idle_minutes (60)
        assert resp.headers["Location"] == "/signin?next=%2Faccount&done=session_ended"
        notice = await (await b.get("/signin?done=session_ended&lang=en")).text()
        assert "Your session has ended" in notice
        assert b.cookie() is None  # the dead cookie is deleted from the browser

        await b.sign_in("viewer")
        await _execute(
            people, "UPDATE account_sessions SET expires_at = now() - interval '1 second'"
        )
        assert (await b.get("/account")).status == 303  # past session_max_hours, however active


async def test_signing_in_while_sending_a_dead_cookie_keeps_the_new_one(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        token = await b.form_token("/signin")  # a sign-in page open in another tab
        b.set_cookie("a-session-that-ended")
        resp = await b.post(
            "/signin", {"name": "viewer", "password": PASSWORD, "csrf_token": token}
        )
        assert resp.status == 303
        assert await _signed_in_as(b) == "viewer"


async def test_a_form_from_an_ended_session_says_so_and_changes_nothing(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("dinkes-op")
        token = await b.form_token("/account")
        await _execute(
            people, "UPDATE account_sessions SET expires_at = now() - interval '1 second'"
        )
        before = await _count(
            people,
            "SELECT count(*) FROM accounts WHERE password_changed_at IS NOT NULL AND username = 'dinkes-op' AND password_changed_at > now() - interval '1 minute'",
        )
        resp = await b.post("/account/password?lang=en", {
            "csrf_token": token, "current": PASSWORD, "new": "a brand new passphrase",
            "confirm": "a brand new passphrase"})  # fmt: skip
        assert resp.status == 403
        assert "Your session has ended" in await resp.text()
        after = await _count(
            people,
            "SELECT count(*) FROM accounts WHERE username = 'dinkes-op' AND password_changed_at > now() - interval '1 minute'",
        )
        assert before == after


async def test_a_cookie_replayed_after_sign_out_is_refused(people: str) -> None:
    async with portal(people) as base:
        async with browser(base) as victim:
            await victim.sign_in("dinkes-op")
            stolen = victim.cookie()
            token = await victim.form_token("/account")
            await victim.post("/signout", {"csrf_token": token})
        async with browser(base) as thief:
            thief.set_cookie(stolen)
            assert (await thief.get("/account")).status == 303
            resp = await thief.post("/account/password", {
                "csrf_token": token, "current": PASSWORD, "new": "stolen and changed",
                "confirm": "stolen and changed"})  # fmt: skip
            assert resp.status == 403
    async with portal(people) as base, browser(base) as again:
        assert (await again.sign_in("dinkes-op")).status == 303  # the password did not change


async def test_a_tampered_cookie_is_nobody(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("viewer")
        real = b.cookie()
        assert real is not None
        for forged in (real[:-1] + ("A" if real[-1] != "A" else "B"), "x" * 5000, "", "\x00"):
            b.set_cookie(forged)
            resp = await b.get("/account")
            assert resp.status in (303, 400), forged[:10]
        b.set_cookie(real)
        assert await _signed_in_as(b) == "viewer"


async def test_disabling_an_account_ends_its_sessions_and_refuses_it(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("viewer")
        await _execute(people, "UPDATE accounts SET disabled_at = now() WHERE username = 'viewer'")
        assert (await b.get("/account")).status == 303
        resp = await b.sign_in("viewer")
        assert resp.status == 403
        assert "disabled" in (await resp.text()) or "dinonaktifkan" in (await resp.text())
        # A wrong password for a disabled account is just wrong: it says nothing more.
        assert (await b.sign_in("viewer", "wrong")).status == 401


async def test_cookies_never_authenticate_the_api(people: str) -> None:
    async with portal(people, accounts_config(public_catalog=False)) as base, browser(base) as b:
        await b.sign_in("dinkes-op")
        assert (await b.get("/api/v1/apps")).status == 401
        body = {"id": "simrs", "name": "SIMRS", "agency": "dinkes", "managed_by": "vendor"}
        resp = await b.session.post(base + "/api/v1/apps", json=body)
        assert resp.status == 401
    assert await _count(people, "SELECT count(*) FROM apps WHERE id = 'simrs'") == 0


async def test_the_session_cookie_is_secure_httponly_samesite(people: str) -> None:
    config = accounts_config(accounts={"cookie_secure": True})
    async with portal(people, config) as base, browser(base) as b:
        page = await b.session.get(base + "/signin")
        seed = page.cookies["__Host-pantau_csrf"]
        assert seed["secure"]
        assert seed["httponly"]
        assert seed["samesite"] == "Strict"
        assert seed["path"] == "/"
        assert not seed["domain"]
        token = csrf_of(await page.text())
        # aiohttp's client keeps Secure cookies off plain http, as browsers do: sent by hand.
        resp = await b.session.post(
            base + "/signin", data={"name": "viewer", "password": PASSWORD, "csrf_token": token},
            headers={"Cookie": f"__Host-pantau_csrf={seed.value}"}, allow_redirects=False,
        )  # fmt: skip
        assert resp.status == 303
        cookie = resp.cookies["__Host-pantau_session"]
        assert cookie["secure"]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Lax"
        assert cookie["path"] == "/"
        assert not cookie["domain"]
        assert not cookie["max-age"]


# --- lock-out -----------------------------------------------------------------------------------


async def test_lock_out_per_account_and_its_end(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        for _ in range(5):
            assert (await b.sign_in("dinkes-op", "guess")).status == 401
        locked = await b.sign_in("dinkes-op", PASSWORD)  # even the right password
        assert locked.status == 429
        assert int(locked.headers["Retry-After"]) > 0
        text = await locked.text()
        assert "Too many failed sign-ins" in text or "Terlalu banyak" in text
        # Another account from the same address is not locked (20 per address).
        assert (await b.sign_in("viewer")).status == 303
        # A name that matches no account answers exactly the same way.
        for _ in range(5):
            assert (await b.sign_in("no-such-person", "guess")).status == 401
        assert (await b.sign_in("no-such-person", "guess")).status == 429
        # Fifteen minutes later (lockout_minutes) the account may try again.
        await _execute(people, "UPDATE signin_failures SET at = at - interval '16 minutes'")
        assert (await b.sign_in("dinkes-op")).status == 303
        # And a success forgets the account's failures.
        assert (
            await _count(
                people,
                "SELECT count(*) FROM signin_failures WHERE at > now() - interval '1 minute'",
            )
            == 0
        )


async def test_lock_out_per_address(people: str) -> None:
    config = accounts_config(accounts={"lockout_address_failures": 3})
    async with portal(people, config) as base, browser(base) as b:
        for name in ("a1", "a2", "a3"):
            assert (await b.sign_in(name, "guess")).status == 401
        assert (await b.sign_in("viewer")).status == 429  # right, but from this address: no
        assert b.cookie() is None


async def test_parallel_guesses_all_count(people: str) -> None:
    import asyncio

    async with portal(people) as base, browser(base) as b:
        token = await b.form_token("/signin")
        results = await asyncio.gather(*[
            b.post("/signin", {"name": "viewer", "password": f"guess {i}", "csrf_token": token})
            for i in range(12)
        ])  # fmt: skip
        statuses = sorted(r.status for r in results)
        assert (statuses.count(401), statuses.count(429)) == (5, 7), statuses


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(people: str) -> None:
    config = accounts_config(accounts={"lockout_address_failures": 2,
                                       "trusted_proxies": ["127.0.0.0/8"]})  # fmt: skip
    async with portal(people, config) as base, browser(base) as b:
        for _ in range(2):
            resp = await b.post("/signin", {"name": "x", "password": "y"}, token_from="/signin",
                                headers={"X-Forwarded-For": "203.0.113.7"})  # fmt: skip
            assert resp.status == 401
        resp = await b.post("/signin", {"name": "viewer", "password": PASSWORD},
                            token_from="/signin", headers={"X-Forwarded-For": "203.0.113.7"})  # fmt: skip
        assert resp.status == 429
        # Another client behind the same proxy is not locked out; a forged first hop is ignored.
        resp = await b.post("/signin", {"name": "viewer", "password": PASSWORD},
                            token_from="/signin",
                            headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.9"})  # fmt: skip
        assert resp.status == 303


# --- CSRF ---------------------------------------------------------------------------------------


async def test_forms_without_or_with_a_wrong_token_change_nothing(people: str) -> None:
    await make_account(people, "boss", "admin", totp_secret=None)
    await _execute(
        people, "UPDATE accounts SET totp_secret = 'JBSWY3DPEHPK3PXP' WHERE username = 'boss'"
    )
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("dinkes-op")
        good = await b.form_token("/account")
        change = {"current": PASSWORD, "new": "a brand new passphrase",
                  "confirm": "a brand new passphrase"}  # fmt: skip
        missing = await b.post("/account/password?lang=en", change)
        assert missing.status == 403
        assert "without its security token" in await missing.text()
        wrong = await b.post("/account/password?lang=en", {**change, "csrf_token": good[::-1]})
        assert wrong.status == 403
        assert "wrong or out of date" in await wrong.text()
        foreign = await b.post("/account/password?lang=en", {**change, "csrf_token": good},
                               headers={"Origin": "https://evil.example"})  # fmt: skip
        assert foreign.status == 403
        assert "another site" in await foreign.text()
        # A token of another person's session is wrong too.
        async with browser(base) as other:
            await other.sign_in("viewer")
            theirs = await other.form_token("/account")
        assert (await b.post("/account/password", {**change, "csrf_token": theirs})).status == 403
        # Sign-out and sign-in are forms as well (logout and login CSRF).
        assert (await b.post("/signout", {})).status == 403
        assert await _signed_in_as(b) == "dinkes-op"
        async with browser(base) as fresh:
            login_csrf = await fresh.post("/signin", {"name": "viewer", "password": PASSWORD})
            assert login_csrf.status == 403
            assert fresh.cookie() is None
    async with portal(people) as base, browser(base) as again:
        assert (await again.sign_in("dinkes-op")).status == 303  # the old password still works


async def test_the_right_token_from_the_same_origin_is_taken(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("dinkes-op")
        token = await b.form_token("/account")
        resp = await b.post("/account/password", {
            "csrf_token": token, "current": PASSWORD, "new": "a brand new passphrase",
            "confirm": "a brand new passphrase"}, headers={"Origin": base})  # fmt: skip
        assert resp.status == 303


async def test_an_oversized_or_non_form_body_is_refused(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("viewer")
        big = await b.session.post(base + "/signout", data=io.BytesIO(b"x" * (2 << 20)),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   allow_redirects=False)  # fmt: skip
        assert big.status == 413
        json = await b.session.post(base + "/signout", json={"csrf_token": "x"},
                                    allow_redirects=False)  # fmt: skip
        assert json.status == 403
        assert await _signed_in_as(b) == "viewer"


# --- roles --------------------------------------------------------------------------------------


async def test_an_operator_cannot_use_the_admin_pages(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("dinkes-op")
        assert (await b.get("/admin/accounts")).status == 403
        resp = await b.post("/admin/accounts", {"username": "sneaky", "role": "admin"},
                            token_from="/account")  # fmt: skip
        assert resp.status == 403
        op_id = await _count(people, "SELECT id FROM accounts WHERE username = 'kominfo-op'")
        resp = await b.post(f"/admin/accounts/{op_id}/disable", {}, token_from="/account")
        assert resp.status == 403
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("viewer")  # reads everything, changes nothing
        assert (await b.get("/admin/accounts")).status == 403
        resp = await b.post("/admin/accounts", {"username": "sneaky", "role": "viewer"},
                            token_from="/account")  # fmt: skip
        assert resp.status == 403
    assert await _count(people, "SELECT count(*) FROM accounts WHERE username = 'sneaky'") == 0
    assert await _count(people, "SELECT count(*) FROM accounts WHERE disabled_at IS NOT NULL") == 0


async def test_password_change_ends_the_other_sessions(people: str) -> None:
    async with portal(people) as base, browser(base) as laptop, browser(base) as phone:
        await laptop.sign_in("dinkes-op")
        await phone.sign_in("dinkes-op")
        resp = await laptop.post("/account/password", {
            "current": PASSWORD, "new": "a brand new passphrase",
            "confirm": "a brand new passphrase"}, token_from="/account")  # fmt: skip
        assert resp.status == 303
        assert await _signed_in_as(laptop) == "dinkes-op"
        assert (await phone.get("/account")).status == 303
        short = await laptop.post("/account/password?lang=en", {
            "current": "a brand new passphrase", "new": "short", "confirm": "short"},
            token_from="/account")  # fmt: skip
        assert short.status == 400
        assert "at least 12 characters" in await short.text()
        same = await laptop.post("/account/password?lang=en", {
            "current": "a brand new passphrase", "new": "Dinkes-Op", "confirm": "Dinkes-Op"},
            token_from="/account")  # fmt: skip
        assert same.status == 400
        wrong = await laptop.post("/account/password?lang=en", {
            "current": "not it", "new": "another good passphrase",
            "confirm": "another good passphrase"}, token_from="/account")  # fmt: skip
        assert wrong.status == 401


async def test_a_hash_made_with_old_parameters_is_redone(people: str) -> None:
    from collector.config import PasswordHashing

    old = PasswordHashing(time_cost=2, memory_kib=19_456, parallelism=1)
    await make_account(people, "legacy", "viewer", hashing=old)
    config = accounts_config(accounts={"password_hashing": {"time_cost": 3, "memory_kib": 19_456,
                                                            "parallelism": 1}})  # fmt: skip
    async with portal(people, config) as base, browser(base) as b:
        assert (await b.sign_in("legacy")).status == 303
    conn = await asyncpg.connect(people)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM accounts WHERE username = 'legacy'")
    finally:
        await conn.close()
    assert "t=3" in stored


async def test_no_secret_reaches_logs_metrics_or_pages(
    people: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with portal(people) as base, browser(base) as b:
        await b.sign_in("dinkes-op")
        await b.sign_in("dinkes-op", "a wrong guess!")
        session_id = b.cookie()
        metrics = await (await b.get("/metrics")).text()
        pages = [await (await b.get(p)).text() for p in ("/account", "/signin")]
    assert "pantau_portal_signins_total" in metrics
    conn = await asyncpg.connect(people)
    try:
        hashes = [r[0] for r in await conn.fetch("SELECT password_hash FROM accounts")]
    finally:
        await conn.close()
    assert session_id
    for text in [caplog.text, metrics, *pages]:
        for secret in [session_id, PASSWORD, "a wrong guess!", *hashes]:
            assert secret not in text


# --- the portal when the catalogue is not public ------------------------------------------------


async def test_signed_in_people_see_a_portal_that_is_not_public(people: str) -> None:
    async with portal(people, accounts_config(public_catalog=False)) as base, browser(base) as b:
        assert (await b.get("/apps/website")).status == 403  # nobody signed in
        await b.sign_in("viewer")
        for path in ("/", "/apps/website", "/agencies/setda"):
            assert (await b.get(path)).status == 200, path


async def test_signed_in_people_see_owners_contacts_in_the_portal(people: str) -> None:
    async with portal(people) as base, browser(base) as b:
        assert "budi@kotimkab.go.id" not in await (await b.get("/apps/website")).text()
        await b.sign_in("viewer")
        assert "budi@kotimkab.go.id" in await (await b.get("/apps/website")).text()
