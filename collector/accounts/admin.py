"""Admins' pages for accounts: the list and a new account, one account's role, agency, e-mail,
disabling, a reset link and removing a second factor. Every form posts to its own URL and
answers with a redirect (or, for a reset link, the page that shows it once)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Awaitable, Callable

from aiohttp import web

from collector import access
from collector.accounts import manage, pages, resets, store
from collector.accounts.store import Account, AccountError
from collector.accounts.views import signed_in
from collector.catalog import store as catalog
from collector.i18n_catalog import N_, translate
from collector.web import keys

ADMIN_PATH = "/admin/accounts"
DONE = {
    "saved": N_("Saved; the account's sessions were ended if what it may do changed."),
    "disabled": N_("The account is disabled and its sessions were ended."),
    "enabled": N_("The account is enabled again."),
    "second_factor": N_("The second factor was removed and the account's sessions were ended."),
}


def account_path(account_id: int) -> str:
    return f"{ADMIN_PATH}/{account_id}"


async def _target(request: web.Request) -> Account | None:
    raw = request.match_info["id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return await store.get_account(request.app[keys.POOL], int(raw))


def _not_found(request: web.Request) -> web.Response:
    return pages.message(
        request, 404, N_("No such account"), N_("There is no such account."),
        link=(N_("All accounts"), pages.href(pages.lang_of(request), ADMIN_PATH)),
    )  # fmt: skip


async def _list_page(
    request: web.Request,
    *,
    status: int = 200,
    error: AccountError | None = None,
    values: dict[str, str] | None = None,
) -> web.Response:
    pool = request.app[keys.POOL]
    lang = pages.lang_of(request)
    return pages.render(
        request, "accounts/admin_list.html", title=translate(lang, N_("Accounts")), status=status,
        context={"accounts": await store.list_accounts(pool),
                 "agencies": await catalog.list_agencies(pool), "roles": store.ROLES,
                 "error": error and translate(lang, error.message, **error.values),
                 "error_field": error and error.field, "values": values or {}},
    )  # fmt: skip


@signed_in(access.may_manage_accounts)
async def list_page(request: web.Request, actor: Account) -> web.StreamResponse:
    return await _list_page(request)


@signed_in(access.may_manage_accounts)
async def create(request: web.Request, actor: Account) -> web.StreamResponse:
    form = await request.post()
    values = {k: pages.form_text(form, k).strip() for k in ("username", "email", "role", "agency")}
    pool = request.app[keys.POOL]
    config = request.app[keys.CONFIG]
    try:
        async with pool.acquire() as conn:
            account = await manage.create(
                conn, actor, username=values["username"], role=values["role"],
                agency=values["agency"] or None, email=values["email"] or None,
            )  # fmt: skip
            token = await manage.reset_link_token(
                conn, actor, account, config.accounts.reset_link_hours
            )
    except AccountError as exc:
        return await _list_page(request, status=400, error=exc, values=values)
    return _link_page(request, account, token, created=True)


def _link_page(
    request: web.Request, account: Account, token: str, *, created: bool
) -> web.Response:
    """The reset link, shown this once (never stored): the admin hands it to the person."""
    config = request.app[keys.CONFIG]
    tz = zoneinfo.ZoneInfo(config.timezone)
    until = dt.datetime.now(tz) + dt.timedelta(hours=config.accounts.reset_link_hours)
    lang = pages.lang_of(request)
    return pages.render(
        request, "accounts/admin_link.html", title=translate(lang, N_("Reset link")),
        context={"account": account, "created": created,
                 "link": resets.link(config.base_url or str(request.url.origin()), token),
                 "until": until.strftime("%Y-%m-%d %H:%M"),
                 "back": pages.href(lang, account_path(account.id))},
    )  # fmt: skip


async def _account_page(
    request: web.Request,
    target: Account,
    *,
    status: int = 200,
    error: AccountError | None = None,
) -> web.Response:
    lang = pages.lang_of(request)
    done = DONE.get(request.query.get("done", ""))
    return pages.render(
        request, "accounts/admin_account.html", title=target.username, status=status,
        context={"target": target, "roles": store.ROLES,
                 "agencies": await catalog.list_agencies(request.app[keys.POOL]),
                 "error": error and translate(lang, error.message, **error.values),
                 "notice": done and translate(lang, done),
                 "path": account_path(target.id)},
    )  # fmt: skip


def _on_target(
    handler: Callable[[web.Request, Account, Account], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An admin's page about the account its address names, the `target` (none such: 404)."""

    @signed_in(access.may_manage_accounts)
    async def page(request: web.Request, actor: Account) -> web.StreamResponse:
        target = await _target(request)
        if target is None:
            return _not_found(request)
        return await handler(request, actor, target)

    return page


@_on_target
async def account_page(request: web.Request, actor: Account, target: Account) -> web.StreamResponse:
    return await _account_page(request, target)


@_on_target
async def update(request: web.Request, actor: Account, target: Account) -> web.StreamResponse:
    form = await request.post()
    try:
        async with request.app[keys.POOL].acquire() as conn:
            changed = await manage.change_role(
                conn, actor, target, role=pages.form_text(form, "role"),
                agency=pages.form_text(form, "agency") or None,
            )  # fmt: skip
            await manage.change_email(conn, actor, changed, pages.form_text(form, "email") or None)
    except AccountError as exc:
        return await _account_page(request, target, status=400, error=exc)
    return _done(request, target, "saved")


def _done(request: web.Request, target: Account, what: str) -> web.Response:
    return pages.redirect(pages.href(pages.lang_of(request), account_path(target.id), done=what))


async def _switch(
    request: web.Request, actor: Account, target: Account, disabled: bool
) -> web.StreamResponse:
    try:
        async with request.app[keys.POOL].acquire() as conn:
            await manage.set_disabled(conn, actor, target, disabled)
    except AccountError as exc:
        return await _account_page(request, target, status=400, error=exc)
    return _done(request, target, "disabled" if disabled else "enabled")


@_on_target
async def disable(request: web.Request, actor: Account, target: Account) -> web.StreamResponse:
    return await _switch(request, actor, target, True)


@_on_target
async def enable(request: web.Request, actor: Account, target: Account) -> web.StreamResponse:
    return await _switch(request, actor, target, False)


@_on_target
async def reset_link(request: web.Request, actor: Account, target: Account) -> web.StreamResponse:
    async with request.app[keys.POOL].acquire() as conn:
        token = await manage.reset_link_token(
            conn, actor, target, request.app[keys.CONFIG].accounts.reset_link_hours
        )
    return _link_page(request, target, token, created=False)


@_on_target
async def reset_second_factor(
    request: web.Request, actor: Account, target: Account
) -> web.StreamResponse:
    async with request.app[keys.POOL].acquire() as conn:
        await manage.reset_second_factor(conn, actor, target)
    return _done(request, target, "second_factor")
