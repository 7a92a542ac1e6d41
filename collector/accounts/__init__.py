"""Accounts for people in the portal (API tokens stay for machines).

Username or e-mail and a password (Argon2id, `passwords`), a server-side session in PostgreSQL
behind an HttpOnly, SameSite, Secure cookie (`sessions`), lock-out per account and per address
(`lockout`), a TOTP second factor that admins must have (`totp`), reset links issued by admins
(`resets`), CSRF tokens on every form (`csrf`). What each role may do is decided in
`collector.access`, for tokens and people alike.

For other modules: `current_account(request)` (here) is the signed-in `Account` of a portal
request, or None; `{{ csrf_field() }}` goes in every form of a template.

Pages: `/signin`, `/signin/code`, `/signout` (POST), `/account`, `/account/second-factor`,
`/reset/{token}`, and for admins `/admin/accounts`. docs/security.md, "People's accounts".
"""

from __future__ import annotations

from aiohttp import web

from collector.accounts.store import Account
from collector.accounts.web import current_account

__all__ = ["Account", "current_account", "setup"]


def setup(app: web.Application) -> None:
    """Register the middleware (after the error middleware) and the account pages."""
    from collector.accounts import admin, views
    from collector.accounts import web as accounts_web
    from collector.accounts.passwords import Passwords
    from collector.web import keys

    app[accounts_web.PASSWORDS] = Passwords(app[keys.CONFIG].accounts.password_hashing)
    app.middlewares.append(accounts_web.accounts_middleware)
    r = app.router
    r.add_get(accounts_web.SIGNIN_PATH, views.signin_form, name="signin")
    r.add_post(accounts_web.SIGNIN_PATH, views.signin_submit)
    r.add_get(accounts_web.CODE_PATH, views.code_form, name="signin-code")
    r.add_post(accounts_web.CODE_PATH, views.code_submit)
    r.add_post(accounts_web.SIGNOUT_PATH, views.signout, name="signout")
    r.add_get(views.ACCOUNT_PATH, views.account_page, name="account")
    r.add_post(views.ACCOUNT_PATH + "/password", views.password_submit)
    r.add_get(accounts_web.ENROL_PATH, views.enrol_form, name="account-second-factor")
    r.add_post(accounts_web.ENROL_PATH, views.enrol_submit)
    r.add_get("/reset/{token}", views.reset_form, name="reset")
    r.add_post("/reset/{token}", views.reset_submit)
    r.add_get(admin.ADMIN_PATH, admin.list_page, name="admin-accounts")
    r.add_post(admin.ADMIN_PATH, admin.create)
    r.add_get(admin.ADMIN_PATH + "/{id}", admin.account_page, name="admin-account")
    r.add_post(admin.ADMIN_PATH + "/{id}", admin.update)
    r.add_post(admin.ADMIN_PATH + "/{id}/disable", admin.disable)
    r.add_post(admin.ADMIN_PATH + "/{id}/enable", admin.enable)
    r.add_post(admin.ADMIN_PATH + "/{id}/reset-link", admin.reset_link)
    r.add_post(admin.ADMIN_PATH + "/{id}/reset-second-factor", admin.reset_second_factor)
