"""What admins do to accounts (portal pages and the `user` commands share these).

Every change of what an account may do (role, agency, disabled, second factor removed) ends
all its sessions: it signs in again under the new rules. The last enabled admin can be neither
disabled nor made something else, so the office never locks itself out of its own portal.
"""

from __future__ import annotations

import logging

from collector.accounts import resets, sessions, store
from collector.accounts.store import Account, AccountError
from collector.db import Conn
from collector.i18n_catalog import N_

log = logging.getLogger(__name__)


def _by(actor: Account | None) -> str:
    return f"account {actor.username}" if actor else "the command line"


async def create(
    conn: Conn,
    actor: Account | None,
    *,
    username: str,
    role: str,
    agency: str | None,
    email: str | None,
    password_hash: str | None = None,
) -> Account:
    """A new account; without a password its owner sets one through a reset link."""
    username = store.check_username(username.strip())
    email = store.check_email(email.strip() if email else None)
    async with conn.transaction():
        agency = await store.check_role(conn, role, agency)
        account = await store.create_account(
            conn, username=username, role=role, agency=agency, email=email,  # type: ignore[arg-type]
            password_hash=password_hash,
        )  # fmt: skip
    log.info("%s created account %s (%s%s)", _by(actor), account.username, account.role,
             f" of {account.agency}" if account.agency else "")  # fmt: skip
    return account


async def _keep_an_admin(conn: Conn, target: Account) -> None:
    if target.role == "admin" and not target.disabled and await store.active_admins(conn) <= 1:
        raise AccountError(
            N_("This is the only enabled admin account; make another admin first."),
            field="role",
        )


async def change_role(
    conn: Conn, actor: Account | None, target: Account, *, role: str, agency: str | None
) -> Account:
    async with conn.transaction():
        agency = await store.check_role(conn, role, agency)
        if (role, agency) == (target.role, target.agency):
            return target
        if role != "admin":
            await _keep_an_admin(conn, target)
        await store.set_role(conn, target.id, role, agency)  # type: ignore[arg-type]
        ended = await sessions.end_all(conn, target.id)
    log.info("%s made account %s %s%s (%d sessions ended)", _by(actor), target.username, role,
             f" of {agency}" if agency else "", ended)  # fmt: skip
    changed = await store.get_account(conn, target.id)
    assert changed is not None
    return changed


async def change_email(
    conn: Conn, actor: Account | None, target: Account, email: str | None
) -> None:
    email = store.check_email(email.strip() if email else None)
    if email != target.email:
        await store.set_email(conn, target.id, email)
        log.info("%s changed the e-mail address of account %s", _by(actor), target.username)


async def set_disabled(conn: Conn, actor: Account | None, target: Account, disabled: bool) -> None:
    async with conn.transaction():
        if disabled:
            await _keep_an_admin(conn, target)
        if not await store.set_disabled(conn, target.id, disabled):
            return
        ended = await sessions.end_all(conn, target.id) if disabled else 0
    verb = "disabled" if disabled else "enabled"
    log.info("%s %s account %s (%d sessions ended)", _by(actor), verb, target.username, ended)


async def reset_second_factor(conn: Conn, actor: Account | None, target: Account) -> None:
    """Remove the account's TOTP secret (a lost phone): an admin enrols a new one at the next
    sign-in; others may enrol one again from their account page."""
    async with conn.transaction():
        await store.set_totp(conn, target.id, None, None)
        ended = await sessions.end_all(conn, target.id)
    log.info("%s removed the second factor of account %s (%d sessions ended)",
             _by(actor), target.username, ended)  # fmt: skip


async def reset_link_token(conn: Conn, actor: Account | None, target: Account, hours: int) -> str:
    token = await resets.issue(conn, target.id, by=actor.id if actor else None, hours=hours)
    log.info("%s issued a password reset link for account %s (valid %d h)",
             _by(actor), target.username, hours)  # fmt: skip
    return token
