"""The accounts middleware: who is signed in, the CSRF check, and the steps of signing in.

For every request outside `/api/`:

1. the session cookie, when there is one, is looked up (`current_account(request)` then gives
   the signed-in `Account`, or None);
2. a request that is not a GET must carry the form's CSRF token and come from this site, else
   it is refused with a 403 page that says why, before any handler runs;
3. someone between the password and the second factor (or an admin who must first enrol one)
   is sent to that step, and can do nothing else;
4. templates get `current_account` and `csrf_token` (for `csrf_field()`), and a dead cookie is
   deleted from the browser.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from aiohttp import web

from collector import access, templating
from collector.accounts import csrf, pages, sessions
from collector.accounts.passwords import Passwords
from collector.accounts.sessions import Session
from collector.accounts.store import Account
from collector.i18n_catalog import N_
from collector.web import keys
from collector.web.errors import DB_UNAVAILABLE, Handler

log = logging.getLogger(__name__)

PASSWORDS = web.AppKey("passwords", Passwords)
SESSION = web.RequestKey("pantau_session", Session)
_DEAD_COOKIE = web.RequestKey("pantau_dead_session_cookie", bool)

SIGNIN_PATH: Final = "/signin"
CODE_PATH: Final = "/signin/code"
ENROL_PATH: Final = "/account/second-factor"
SIGNOUT_PATH: Final = "/signout"
MAX_FORM_BYTES: Final = 1 << 20  # the portal's forms are small; uploads set their own limit
# What someone part-way through signing in may still reach: the step, leaving, the page's assets.
_STEP_PATHS: Final = {"code": CODE_PATH, "enrol": ENROL_PATH}
_ALWAYS: Final = frozenset({SIGNIN_PATH, SIGNOUT_PATH, "/favicon.ico", "/portal.js"})


def current_account(request: web.Request) -> Account | None:
    """The signed-in account of a portal request (None: nobody, or not all steps done).

    Never set for the JSON API (`/api/`), which knows only bearer tokens.
    """
    session = request.get(SESSION)
    return session.account if session is not None and session.stage == "full" else None


def current_session(request: web.Request) -> Session | None:
    """The session of this request at whatever step of signing in."""
    return request.get(SESSION)


def had_dead_cookie(request: web.Request) -> bool:
    """The request carried a session cookie that no longer works (signed out, expired...)."""
    return bool(request.get(_DEAD_COOKIE, False))


@web.middleware
async def accounts_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        return await handler(request)
    config = request.app[keys.CONFIG].accounts
    cookie = request.cookies.get(sessions.session_cookie(config))
    session = None
    if cookie:
        try:
            session = await sessions.lookup(request.app[keys.POOL], cookie, config)
        except DB_UNAVAILABLE as exc:
            log.warning("database unavailable for %s: %s", request.path, exc)
            resp = pages.message(
                request, 503, N_("Temporarily unavailable"),
                N_("The portal cannot reach its database right now. Try again in a minute."),
            )  # fmt: skip
            resp.headers["Retry-After"] = "5"
            return resp
        if session is None:
            request[_DEAD_COOKIE] = True
        else:
            request[SESSION] = session
            csrf.use_session(request, session.csrf_token)

    if request.method not in csrf.SAFE_METHODS:
        refusal = await _check_form(request)
        if refusal is not None:
            return _finish(request, refusal)

    if session is not None and session.stage != "full":
        step = _STEP_PATHS[session.stage]
        if request.path != step and request.path not in _ALWAYS:
            if request.method in csrf.SAFE_METHODS:
                return pages.redirect(pages.href(pages.lang_of(request), step))
            return pages.message(
                request, 403, N_("Finish signing in"),
                N_("Finish signing in first; nothing was changed."), link=(N_("Continue"), step),
            )  # fmt: skip

    request[templating.REQUEST_CONTEXT] = {
        "current_account": current_account(request),
        "may_manage_accounts": access.may_manage_accounts(current_account(request)),
        "may_change_apps": access.may_change_apps(current_account(request)),
        csrf.FIELD: csrf.LazyToken(request, config),
        "signin_href": None
        if session is not None and session.stage != "full"
        else pages.href(pages.lang_of(request), SIGNIN_PATH, next=_back_to(request)),
    }
    try:
        answer = await handler(request)
    except web.HTTPException as exc:  # a redirect raised by a handler carries cookies too
        _finish(request, exc)
        raise
    return _finish(request, answer)


def _back_to(request: web.Request) -> str | None:
    """Where signing in from this page returns to: the page itself, unless it is the start
    page or one of signing in (or a reset link, which must not linger in a URL)."""
    if request.path == "/" or request.path.startswith(("/signin", "/signout", "/reset/")):
        return None
    return request.path_qs


def _finish(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    config = request.app[keys.CONFIG].accounts
    name = sessions.session_cookie(config)
    # A dead cookie is deleted, unless this very answer sets a new one (signing in again).
    if had_dead_cookie(request) and not resp.prepared and name not in resp.cookies:
        sessions.delete_cookie(resp, config, name)
    csrf.finish(request, resp, config)
    return resp


async def _check_form(request: web.Request) -> web.Response | None:
    """A refusal page when this form may not be taken (no change is made), else None."""
    app = request.app
    config = app[keys.CONFIG]
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        return pages.message(
            request, 413, N_("Form too large"),
            N_("The form is larger than %(n)s bytes; nothing was changed."), n=MAX_FORM_BYTES,
        )  # fmt: skip
    try:
        async with asyncio.timeout(config.limits.body_timeout_seconds):
            form = await request.post()
    except TimeoutError:
        resp = pages.message(
            request, 408, N_("Form incomplete"), N_("The form did not arrive in time.")
        )
        resp.force_close()
        return resp
    except web.HTTPRequestEntityTooLarge:
        return pages.message(
            request, 413, N_("Form too large"),
            N_("The form is larger than %(n)s bytes; nothing was changed."), n=MAX_FORM_BYTES,
        )  # fmt: skip
    except ValueError:  # a malformed multipart body
        return pages.message(request, 400, N_("Bad form"), N_("The form could not be read."))
    sent = form.get(csrf.FIELD)
    reason = None
    if csrf.foreign_origin(request, config.base_url):
        reason = N_("The form was sent from another site, so it was refused; nothing was changed.")
    elif not csrf.token_matches(sent if isinstance(sent, str) else None,
                                csrf.expected_token(request, config.accounts)):  # fmt: skip
        if had_dead_cookie(request):
            reason = N_(
                "Your session has ended (signed out, expired, or ended by a change to the"
                " account), so the form was refused; nothing was changed. Sign in again."
            )
        elif not sent:
            reason = N_(
                "The form came without its security token, so it was refused; nothing was"
                " changed. Reload the page and send the form again."
            )
        else:
            reason = N_(
                "The form's security token is wrong or out of date, so it was refused; nothing"
                " was changed. Reload the page and send the form again."
            )
    if reason is None:
        return None
    app[keys.METRICS].csrf_refused.inc()
    log.info("refused %s %s: %s", request.method, request.path, reason.split(",")[0])
    return pages.message(
        request, 403, N_("Form refused"), reason,
        link=(N_("Sign in"), pages.href(pages.lang_of(request), SIGNIN_PATH)),
    )  # fmt: skip
