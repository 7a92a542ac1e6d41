"""The pages of signing in and out, the second factor, one's own account and reset links."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Awaitable, Callable

from aiohttp import web

from collector import access
from collector.accounts import pages, resets, sessions, signin, store, totp
from collector.accounts.lockout import client_address
from collector.accounts.pages import href, lang_of, redirect, render
from collector.accounts.passwords import HashingBusy, PasswordRuleError
from collector.accounts.store import Account
from collector.accounts.web import (
    CODE_PATH,
    ENROL_PATH,
    PASSWORDS,
    SIGNIN_PATH,
    current_account,
    current_session,
    had_dead_cookie,
)
from collector.i18n_catalog import N_, translate
from collector.web import keys

AccountHandler = Callable[[web.Request, Account], Awaitable[web.StreamResponse]]
ACCOUNT_PATH = "/account"

# Notices after a redirect (`?done=...`): what just happened, in one line.
NOTICES = {
    "signed_out": N_("You are signed out."),
    "session_ended": N_(
        "Your session has ended (signed out elsewhere, expired, or ended by a change to the"
        " account). Sign in again."
    ),
    "password_set": N_("Your password is set. Sign in with it."),
    "password": N_("Your password is changed; your other sessions were ended."),
    "second_factor": N_("Your second factor is set up; your other sessions were ended."),
}


def signed_in(
    rule: Callable[[Account], bool] | None = None,
) -> Callable[[AccountHandler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """A page for signed-in people (and, with `rule`, only those the access rule lets in)."""

    def wrap(handler: AccountHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def page(request: web.Request) -> web.StreamResponse:
            account = current_account(request)
            lang = lang_of(request)
            if account is None:
                if request.method == "GET":
                    done = "session_ended" if had_dead_cookie(request) else None
                    return redirect(href(lang, SIGNIN_PATH, next=request.path_qs, done=done))
                return pages.message(
                    request, 401, N_("Sign in first"),
                    N_("This needs you to be signed in; nothing was changed."),
                    link=(N_("Sign in"), href(lang, SIGNIN_PATH)),
                )  # fmt: skip
            if rule is not None and not rule(account):
                return pages.message(
                    request, 403, N_("Not allowed"),
                    N_("Your account may not do this; nothing was changed."),
                    link=(N_("Back to the portal"), href(lang, "/")),
                )  # fmt: skip
            return await handler(request, account)

        return page

    return wrap


def notice(request: web.Request) -> str | None:
    done = NOTICES.get(request.query.get("done", ""))
    return translate(lang_of(request), done) if done else None


def _start(request: web.Request, resp: web.StreamResponse, session_id: str) -> None:
    config = request.app[keys.CONFIG].accounts
    sessions.set_cookie(resp, config, sessions.session_cookie(config), session_id)


def locked_out(request: web.Request, until: dt.datetime) -> web.Response:
    """429, the same for every name and address: when to try again, in the office's time."""
    tz = zoneinfo.ZoneInfo(request.app[keys.CONFIG].timezone)
    seconds = max(1, math.ceil((until - dt.datetime.now(dt.UTC)).total_seconds()))
    request.app[keys.METRICS].signins.labels("locked_out").inc()
    resp = pages.message(
        request, 429, N_("Too many failed sign-ins"),
        N_("Too many failed sign-ins for this account or from this address. Try again after"
           " %(time)s (in about %(minutes)s minutes), or ask an administrator for a reset link."),
        time=until.astimezone(tz).strftime("%H:%M"), minutes=math.ceil(seconds / 60),
    )  # fmt: skip
    resp.headers["Retry-After"] = str(seconds)
    return resp


def busy(request: web.Request) -> web.Response:
    request.app[keys.METRICS].signins.labels("busy").inc()
    resp = pages.message(
        request, 503, N_("Busy"), N_("Many people are signing in right now. Try again in a moment.")
    )
    resp.headers["Retry-After"] = "5"
    return resp


# --- signing in and out -------------------------------------------------------------------------


def _signin_page(
    request: web.Request, *, status: int = 200, error: str | None = None, name: str = ""
) -> web.Response:
    lang = lang_of(request)
    return render(
        request, "accounts/signin.html", title=translate(lang, N_("Sign in")), status=status,
        context={"next": pages.local_target(request.query.get("next")), "error": error,
                 "name": name, "notice": notice(request)},
    )  # fmt: skip


async def signin_form(request: web.Request) -> web.StreamResponse:
    return _signin_page(request)  # also when signed in: signing in again ends that session


async def signin_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    app = request.app
    config = app[keys.CONFIG].accounts
    name = pages.form_text(form, "name", 300)
    lang = lang_of(request)
    try:
        outcome = await signin.with_password(
            app[keys.POOL], app[PASSWORDS], config, name=name,
            password=pages.form_text(form, "password", 4096), address=_address(request),
        )  # fmt: skip
    except HashingBusy:
        return busy(request)
    target = pages.local_target(pages.form_text(form, "next", 2000))
    if outcome.result == "locked_out" and outcome.locked_until is not None:
        return locked_out(request, outcome.locked_until)
    if outcome.result == "busy":
        return busy(request)
    if outcome.result == "disabled":
        app[keys.METRICS].signins.labels("disabled").inc()
        return pages.message(
            request, 403, N_("Account disabled"),
            N_("This account is disabled. Ask an administrator if you need it again."),
        )  # fmt: skip
    if outcome.result != "ok" or outcome.session_id is None or outcome.stage is None:
        app[keys.METRICS].signins.labels("failed").inc()
        return _signin_page(
            request, status=401, name=name,
            error=translate(lang, N_("Wrong username, e-mail address or password.")),
        )  # fmt: skip
    old = current_session(request)
    if old is not None:  # signing in again in this browser: the previous session ends
        await sessions.end(app[keys.POOL], old.id_hash)
    if outcome.stage == "full":
        app[keys.METRICS].signins.labels("ok").inc()
        resp = redirect(target)
    else:
        step = CODE_PATH if outcome.stage == "code" else ENROL_PATH
        resp = redirect(href(lang, step, next=target if target != "/" else None))
    _start(request, resp, outcome.session_id)
    return resp


async def signout(request: web.Request) -> web.StreamResponse:
    session = current_session(request)
    if session is not None:
        await sessions.end(request.app[keys.POOL], session.id_hash)
    config = request.app[keys.CONFIG].accounts
    resp = redirect(href(lang_of(request), SIGNIN_PATH, done="signed_out"))
    sessions.delete_cookie(resp, config, sessions.session_cookie(config))
    return resp


def _code_page(
    request: web.Request, *, status: int = 200, error: str | None = None
) -> web.Response:
    lang = lang_of(request)
    return render(
        request, "accounts/code.html", title=translate(lang, N_("Second factor")), status=status,
        context={"next": pages.local_target(request.query.get("next")), "error": error},
    )  # fmt: skip


async def code_form(request: web.Request) -> web.StreamResponse:
    session = current_session(request)
    if session is None or session.stage != "code":
        return redirect(href(lang_of(request), SIGNIN_PATH))
    return _code_page(request)


async def code_submit(request: web.Request) -> web.StreamResponse:
    session = current_session(request)
    lang = lang_of(request)
    if session is None or session.stage != "code":
        return redirect(href(lang, SIGNIN_PATH))
    form = await request.post()
    app = request.app
    outcome = await signin.with_code(
        app[keys.POOL], app[keys.CONFIG].accounts, session,
        code=pages.form_text(form, "code", 20), address=_address(request),
    )  # fmt: skip
    if outcome.result == "locked_out" and outcome.locked_until is not None:
        return locked_out(request, outcome.locked_until)
    if outcome.result != "ok" or outcome.session_id is None:
        app[keys.METRICS].signins.labels("failed").inc()
        error = (
            N_("This code was used already. Wait for the next one.")
            if outcome.result == "reused"
            else N_("Wrong code. Use the six digits your authenticator app shows now.")
        )
        return _code_page(request, status=401, error=translate(lang, error))
    app[keys.METRICS].signins.labels("ok").inc()
    resp = redirect(pages.local_target(pages.form_text(form, "next", 2000)))
    _start(request, resp, outcome.session_id)
    return resp


# --- the second factor's enrolment --------------------------------------------------------------


async def _enrol_page(
    request: web.Request, session: sessions.Session, *, status: int = 200, error: str | None = None
) -> web.Response:
    pool = request.app[keys.POOL]
    secret = await sessions.pending_totp(pool, session.id_hash)
    if secret is None:
        secret = totp.new_secret()
        await sessions.set_pending_totp(pool, session.id_hash, secret)
    uri = totp.provisioning_uri(secret, session.account.username)
    lang = lang_of(request)
    return render(
        request, "accounts/enrol.html", title=translate(lang, N_("Set up a second factor")),
        status=status,
        context={"secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                 "uri": uri, "qr": totp.qr_svg(uri), "error": error,
                 "required": session.stage == "enrol",
                 "next": pages.local_target(request.query.get("next"))},
    )  # fmt: skip


def _enrol_session(request: web.Request) -> sessions.Session | None:
    """Who may enrol here: an admin sent to enrol, or anyone signed in without a second factor."""
    session = current_session(request)
    if session is None or session.stage == "code":
        return None
    if session.stage == "full" and session.account.totp:
        return None
    return session


async def enrol_form(request: web.Request) -> web.StreamResponse:
    session = _enrol_session(request)
    if session is None:
        return redirect(
            href(lang_of(request), ACCOUNT_PATH if current_account(request) else SIGNIN_PATH)
        )
    return await _enrol_page(request, session)


async def enrol_submit(request: web.Request) -> web.StreamResponse:
    session = _enrol_session(request)
    lang = lang_of(request)
    if session is None:
        return redirect(href(lang, ACCOUNT_PATH if current_account(request) else SIGNIN_PATH))
    form = await request.post()
    app = request.app
    outcome = await signin.enrol(
        app[keys.POOL], app[keys.CONFIG].accounts, session, code=pages.form_text(form, "code", 20)
    )
    if outcome.result != "ok" or outcome.session_id is None:
        return await _enrol_page(
            request, session, status=400,
            error=translate(lang, N_("Wrong code. Use the six digits your authenticator app shows now.")),
        )  # fmt: skip
    if session.stage == "enrol":
        app[keys.METRICS].signins.labels("ok").inc()
        target = pages.local_target(pages.form_text(form, "next", 2000))
    else:
        target = href(lang, ACCOUNT_PATH, done="second_factor")
    resp = redirect(target)
    _start(request, resp, outcome.session_id)
    return resp


# --- one's own account --------------------------------------------------------------------------


def _account_page(
    request: web.Request, account: Account, *, status: int = 200, error: str | None = None
) -> web.Response:
    lang = lang_of(request)
    config = request.app[keys.CONFIG].accounts
    return render(
        request, "accounts/account.html", title=translate(lang, N_("Your account")), status=status,
        context={"account": account, "error": error, "notice": notice(request),
                 "min_length": config.password_min_length,
                 "may_manage_accounts": access.may_manage_accounts(account)},
    )  # fmt: skip


@signed_in()
async def account_page(request: web.Request, account: Account) -> web.StreamResponse:
    return _account_page(request, account)


@signed_in()
async def password_submit(request: web.Request, account: Account) -> web.StreamResponse:
    session = current_session(request)
    assert session is not None
    form = await request.post()
    app = request.app
    lang = lang_of(request)
    try:
        outcome = await signin.change_password(
            app[keys.POOL], app[PASSWORDS], app[keys.CONFIG].accounts, session,
            current=pages.form_text(form, "current", 4096), new=pages.form_text(form, "new", 4096),
            confirm=pages.form_text(form, "confirm", 4096), address=_address(request),
        )  # fmt: skip
    except PasswordRuleError as exc:
        return _account_page(request, account, status=400,
                             error=translate(lang, exc.message, **exc.values))  # fmt: skip
    except HashingBusy:
        return busy(request)
    if outcome.result == "locked_out" and outcome.locked_until is not None:
        return locked_out(request, outcome.locked_until)
    if outcome.result != "ok":
        return _account_page(request, account, status=401,
                             error=translate(lang, N_("The current password is wrong.")))  # fmt: skip
    return redirect(href(lang, ACCOUNT_PATH, done="password"))


# --- reset links --------------------------------------------------------------------------------


def _invalid_link(request: web.Request) -> web.Response:
    return pages.message(
        request, 404, N_("Link not valid"),
        N_("This link is not valid: it was used already, it has expired, or a newer one was"
           " issued. Ask an administrator for a new link."),
    )  # fmt: skip


def _reset_page(request: web.Request, account: Account, *, status: int = 200,
                error: str | None = None) -> web.Response:  # fmt: skip
    lang = lang_of(request)
    return render(
        request, "accounts/reset.html", title=translate(lang, N_("Set your password")), status=status,
        context={"account": account, "error": error,
                 "min_length": request.app[keys.CONFIG].accounts.password_min_length},
    )  # fmt: skip


async def reset_form(request: web.Request) -> web.StreamResponse:
    pool = request.app[keys.POOL]
    account_id = await resets.valid_account(pool, request.match_info["token"])
    account = await store.get_account(pool, account_id) if account_id is not None else None
    if account is None:
        return _invalid_link(request)
    return _reset_page(request, account)


async def reset_submit(request: web.Request) -> web.StreamResponse:
    app = request.app
    token = request.match_info["token"]
    form = await request.post()
    lang = lang_of(request)
    try:
        account = await signin.reset_password(
            app[keys.POOL], app[PASSWORDS], app[keys.CONFIG].accounts, token=token,
            new=pages.form_text(form, "new", 4096), confirm=pages.form_text(form, "confirm", 4096),
        )  # fmt: skip
    except PasswordRuleError as exc:
        account_id = await resets.valid_account(app[keys.POOL], token)
        owner = await store.get_account(app[keys.POOL], account_id) if account_id else None
        if owner is None:
            return _invalid_link(request)
        return _reset_page(request, owner, status=400,
                           error=translate(lang, exc.message, **exc.values))  # fmt: skip
    except HashingBusy:
        return busy(request)
    if account is None:
        return _invalid_link(request)
    return redirect(href(lang, SIGNIN_PATH, done="password_set"))


def _address(request: web.Request) -> str:
    return client_address(request, request.app[keys.CONFIG].accounts)
