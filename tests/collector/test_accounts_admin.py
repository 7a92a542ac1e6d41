"""Admins: the second factor they must have, the account pages, reset links; the CLI."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import asyncpg
import pyotp

from tests.collector.accounts_kit import (
    PASSWORD,
    Browser,
    browser,
    code_for,
    make_account,
    portal,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def _value(url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _admin(b: Browser, name: str = "boss") -> None:
    """Sign in as an admin with a second factor, through both steps."""
    resp = await b.sign_in(name)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/signin/code")
    resp = await b.post("/signin/code", {"code": code_for(SECRET)}, token_from="/signin/code")
    assert resp.status == 303, await resp.text()


async def test_an_admin_without_a_second_factor_must_enrol_first(seeded_db: str) -> None:
    await make_account(seeded_db, "newboss", "admin")
    async with portal(seeded_db) as base, browser(base) as b:
        resp = await b.sign_in("newboss")
        assert resp.headers["Location"] == "/account/second-factor"
        # Nothing else until enrolled: pages send back to enrolment, forms are refused.
        for path in ("/admin/accounts", "/account", "/", "/apps/simpus"):
            resp = await b.get(path)
            assert resp.status == 303, path
            assert resp.headers["Location"] == "/account/second-factor"
        resp = await b.post("/admin/accounts", {"username": "x", "role": "viewer"},
                            token_from="/account/second-factor")  # fmt: skip
        assert resp.status == 403
        assert await _value(seeded_db, "SELECT count(*) FROM accounts WHERE username = 'x'") == 0
        page = await (await b.get("/account/second-factor?lang=en")).text()
        assert "<svg" in page
        assert "otpauth://totp/Pantau:newboss?secret=" in page
        secret = re.search(r"secret=([A-Z2-7]+)", page).group(1)  # type: ignore[union-attr]
        wrong = await b.post("/account/second-factor", {"code": "000000"},
                             token_from="/account/second-factor")  # fmt: skip
        assert wrong.status == 400
        before = b.cookie()
        resp = await b.post("/account/second-factor", {"code": pyotp.TOTP(secret).now()},
                            token_from="/account/second-factor")  # fmt: skip
        assert resp.status == 303
        assert b.cookie() != before  # signed in afresh
        assert (await b.get("/admin/accounts")).status == 200
    stored = await _value(seeded_db, "SELECT totp_secret FROM accounts WHERE username = 'newboss'")
    assert stored == secret


async def test_the_code_step_refuses_wrong_and_reused_codes(seeded_db: str) -> None:
    await make_account(seeded_db, "boss", "admin", totp_secret=SECRET)
    async with portal(seeded_db) as base:
        async with browser(base) as b:
            await b.sign_in("boss")
            assert (await b.get("/admin/accounts")).status == 303  # the code is due first
            wrong = await b.post("/signin/code?lang=en", {"code": "12345x"},
                                 token_from="/signin/code")  # fmt: skip
            assert wrong.status == 401
            assert "Wrong code" in await wrong.text()
            code = code_for(SECRET)
            ok = await b.post("/signin/code", {"code": code}, token_from="/signin/code")
            assert ok.status == 303
            assert (await b.get("/admin/accounts")).status == 200
        async with browser(base) as thief:  # the password and a code seen over a shoulder
            await thief.sign_in("boss")
            reused = await thief.post("/signin/code?lang=en", {"code": code},
                                      token_from="/signin/code")  # fmt: skip
            assert reused.status == 401
            assert "used already" in await reused.text()
            assert (await thief.get("/admin/accounts")).status == 303
            # An older code (the step before) is refused too once a later one was used.
            old = await thief.post("/signin/code", {"code": code_for(SECRET, steps_ago=1)},
                                   token_from="/signin/code")  # fmt: skip
            assert old.status == 401


async def test_code_guesses_count_toward_the_lock_out(seeded_db: str) -> None:
    await make_account(seeded_db, "boss", "admin", totp_secret=SECRET)
    async with portal(seeded_db) as base, browser(base) as b:
        await b.sign_in("boss")
        token = await b.form_token("/signin/code")
        statuses = [
            (await b.post("/signin/code", {"code": f"{i:06d}", "csrf_token": token})).status
            for i in range(6)
        ]
        assert statuses == [401] * 5 + [429]


async def test_admin_manages_accounts(seeded_db: str) -> None:
    await make_account(seeded_db, "boss", "admin", totp_secret=SECRET)
    async with portal(seeded_db) as base, browser(base) as b:
        await _admin(b)
        listing = await (await b.get("/admin/accounts?lang=en")).text()
        assert "boss" in listing
        # A new operator: a reset link shown once, with which its owner sets a password.
        bad = await b.post("/admin/accounts?lang=en", {"username": "op", "role": "agency"},
                           token_from="/admin/accounts")  # fmt: skip
        assert bad.status == 400
        assert "needs an agency" in await bad.text()
        resp = await b.post("/admin/accounts", {"username": "op", "role": "agency",
                                                "agency": "dinkes", "email": "op@x.go.id"},
                            token_from="/admin/accounts")  # fmt: skip
        assert resp.status == 200
        link = re.search(r"/reset/([A-Za-z0-9_-]{40,})", await resp.text())
        assert link
        taken = await b.post("/admin/accounts?lang=en", {"username": "OP", "role": "viewer"},
                             token_from="/admin/accounts")  # fmt: skip
        assert taken.status == 400
        assert "taken" in await taken.text()
        op_id = await _value(seeded_db, "SELECT id FROM accounts WHERE username = 'op'")
        assert (
            await _value(seeded_db, "SELECT password_hash FROM accounts WHERE id = $1", op_id)
            is None
        )

        async with browser(base) as owner:
            resp = await owner.post(f"/reset/{link.group(1)}", {
                "new": "the operator's own passphrase", "confirm": "the operator's own passphrase"},
                token_from=f"/reset/{link.group(1)}")  # fmt: skip
            assert resp.status == 303
            assert (await owner.sign_in("op", "the operator's own passphrase")).status == 303
            assert (await owner.get("/account")).status == 200
            # The admin makes the operator a viewer: its sessions end.
            resp = await b.post(f"/admin/accounts/{op_id}", {"role": "viewer", "email": ""},
                                token_from=f"/admin/accounts/{op_id}")  # fmt: skip
            assert resp.status == 303
            assert (await owner.get("/account")).status == 303
            assert (
                await _value(seeded_db, "SELECT role FROM accounts WHERE id = $1", op_id)
                == "viewer"
            )
            # Disabled: refused at once, and at sign-in.
            await owner.sign_in("op", "the operator's own passphrase")
            resp = await b.post(f"/admin/accounts/{op_id}/disable", {},
                                token_from=f"/admin/accounts/{op_id}")  # fmt: skip
            assert resp.status == 303
            assert (await owner.get("/account")).status == 303
            assert (await owner.sign_in("op", "the operator's own passphrase")).status == 403
            resp = await b.post(f"/admin/accounts/{op_id}/enable", {},
                                token_from=f"/admin/accounts/{op_id}")  # fmt: skip
            assert (await owner.sign_in("op", "the operator's own passphrase")).status == 303
        # The only admin cannot disable or demote itself.
        boss_id = await _value(seeded_db, "SELECT id FROM accounts WHERE username = 'boss'")
        resp = await b.post(f"/admin/accounts/{boss_id}/disable?lang=en", {},
                            token_from=f"/admin/accounts/{boss_id}")  # fmt: skip
        assert resp.status == 400
        assert "only enabled admin" in await resp.text()
        # Removing a second factor.
        resp = await b.post(f"/admin/accounts/{boss_id}/reset-second-factor", {},
                            token_from=f"/admin/accounts/{boss_id}")  # fmt: skip
        assert resp.status == 303
        assert (
            await _value(seeded_db, "SELECT totp_secret FROM accounts WHERE id = $1", boss_id)
            is None
        )
        assert (await b.get("/admin/accounts")).status == 303  # its sessions ended too
        assert (await b.get("/admin/accounts/999999")).status == 303


async def test_every_account_page_answers_no_such_account_404(seeded_db: str) -> None:
    """One look-up serves the account's page and each of its forms: nothing is done."""
    await make_account(seeded_db, "boss", "admin", totp_secret=SECRET)
    async with portal(seeded_db) as base, browser(base) as b:
        await _admin(b)
        accounts = await _value(seeded_db, "SELECT count(*) FROM accounts")
        for path in ("/admin/accounts/999999", "/admin/accounts/x"):
            resp = await b.get(path + "?lang=en")
            assert resp.status == 404, path
            assert "There is no such account." in await resp.text()
            for form in ("", "/disable", "/enable", "/reset-link", "/reset-second-factor"):
                resp = await b.post(path + form, {"role": "viewer"}, token_from="/admin/accounts")
                assert resp.status == 404, path + form
        assert await _value(seeded_db, "SELECT count(*) FROM accounts") == accounts
        assert await _value(seeded_db, "SELECT count(*) FROM password_resets") == 0


async def test_a_reset_link_works_once_and_expires(seeded_db: str) -> None:
    from collector.accounts import resets

    account = await make_account(seeded_db, "op", "agency", agency="dinkes")
    conn = await asyncpg.connect(seeded_db)
    try:
        first = await resets.issue(conn, account.id, by=None, hours=24)
        token = await resets.issue(conn, account.id, by=None, hours=24)  # replaces the first
        expired = "expired-" + token[8:]
    finally:
        await conn.close()
    async with portal(seeded_db) as base, browser(base) as b, browser(base) as other:
        await other.sign_in("op")
        assert (await b.get(f"/reset/{first}")).status == 404
        page = await b.get(f"/reset/{token}?lang=en")
        assert page.status == 200
        short = await b.post(f"/reset/{token}?lang=en", {"new": "short", "confirm": "short"},
                             token_from=f"/reset/{token}")  # fmt: skip
        assert short.status == 400
        assert "at least 12" in await short.text()
        resp = await b.post(f"/reset/{token}", {"new": "a new passphrase here",
                                                "confirm": "a new passphrase here"},
                            token_from=f"/reset/{token}")  # fmt: skip
        assert resp.status == 303
        assert (await other.get("/account")).status == 303  # its sessions ended
        again = await b.get(f"/reset/{token}?lang=en")
        assert again.status == 404
        assert "not valid" in await again.text()
        resp = await b.post(f"/reset/{token}", {"new": "and another one again",
                                                "confirm": "and another one again"},
                            token_from="/signin")  # fmt: skip
        assert resp.status == 404
        assert (await b.sign_in("op", "a new passphrase here")).status == 303
        assert (await b.get(f"/reset/{expired}")).status == 404
    conn = await asyncpg.connect(seeded_db)
    try:
        late = await resets.issue(conn, account.id, by=None, hours=24)
        await conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    async with portal(seeded_db) as base, browser(base) as b:
        assert (await b.get(f"/reset/{late}")).status == 404
        assert (await b.sign_in("op", "a new passphrase here")).status == 303


async def _cli(*argv: str, url: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector", *argv,
        env={**os.environ, "DATABASE_URL": url, "PANTAU_LOG_LEVEL": "WARNING"},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_user_commands(seeded_db: str) -> None:
    code, out, err = await _cli("user", "create", "--role", "admin", "--username", "kadis",
                                "--email", "kadis@kotimkab.go.id", "--password-stdin",
                                url=seeded_db, stdin=PASSWORD + "\n")  # fmt: skip
    assert code == 0, err
    assert "second factor" in err
    code, _, err = await _cli("user", "create", "--role", "agency", "--username", "op",
                              "--password-stdin", url=seeded_db, stdin=PASSWORD + "\n")  # fmt: skip
    assert code == 2
    assert "needs an agency" in err
    code, _, err = await _cli("user", "create", "--role", "viewer", "--username", "v",
                              "--password-stdin", url=seeded_db, stdin="short\n")  # fmt: skip
    assert code == 2
    assert "at least 12" in err
    code, out, err = await _cli("user", "create", "--role", "agency", "--agency", "dinkes",
                                "--username", "op", "--reset-link", url=seeded_db)  # fmt: skip
    assert code == 0, err
    assert re.fullmatch(r"/reset/[A-Za-z0-9_-]{40,}.*\n", out)
    code, out, err = await _cli("user", "list", url=seeded_db)
    assert code == 0, err
    assert "kadis\tadmin\tkadis@kotimkab.go.id\tno-totp\tenabled" in out
    assert "op\tagency:dinkes" in out
    hashed = await _value(seeded_db, "SELECT password_hash FROM accounts WHERE username = 'kadis'")
    assert isinstance(hashed, str)
    assert hashed.startswith("$argon2id$")
    assert hashed not in out
    assert PASSWORD not in out + err
    code, out, err = await _cli("user", "disable", "KADIS", url=seeded_db)
    assert code == 2  # the only admin
    assert "only enabled admin" in err
    code, out, err = await _cli("user", "disable", "op", url=seeded_db)
    assert code == 0, err
    code, out, err = await _cli("user", "reset-link", "nobody", url=seeded_db)
    assert code == 2
    assert "no account 'nobody'" in err
    code, out, err = await _cli("user", "reset-second-factor", "kadis", url=seeded_db)
    assert code == 0, err
    async with portal(seeded_db) as base, browser(base) as b:
        resp = await b.sign_in("kadis@KOTIMKAB.go.id")
        assert resp.headers["Location"] == "/account/second-factor"
