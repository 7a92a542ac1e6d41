"""Accounts in the database: the `Account` the rest of the collector sees, and its changes.

The password hash and the TOTP secret are read only by the functions that need them
(`signin_candidate`, `totp_secret`); an `Account` carries neither, so it can be logged, shown
and put on a request without care.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

import asyncpg
import msgspec

from collector import access
from collector.audit import Actor
from collector.db import Executor
from collector.i18n_catalog import N_
from wire.catalog import Email

Role = Literal["admin", "agency", "viewer"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
USERNAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")  # as the table's CHECK
_COLUMNS: Final = (
    "id, username, email, role, agency_id, totp_secret IS NOT NULL AS totp, disabled_at,"
    " created_at, last_signin_at"
)


@dataclass(frozen=True, kw_only=True)
class Account:
    """A person's account, as the access rules (`collector.access`) and the pages read it."""

    id: int
    username: str
    role: Role
    agency: str | None = None
    email: str | None = None
    totp: bool = False  # has a second factor
    disabled: bool = False

    # What the catalogue's writes read of their author (collector/catalog/changes.py `Editor`),
    # so a portal form passes `current_account(request)` where the API passes a token.
    @property
    def identity(self) -> str:
        return f"account:{self.username}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> Actor:
        """The person as the audit trail records their changes (collector/audit.py)."""
        return Actor(kind="account", name=self.username, id=str(self.id), via="portal")

    def may_manage_app(self, agency: str) -> bool:
        return access.may_manage_app(self, agency)


@dataclass(frozen=True, kw_only=True)
class Listed:
    account: Account
    created_at: object
    last_signin_at: object


class AccountError(ValueError):
    """A value an account cannot take; the message is an English msgid (translated on pages)."""

    def __init__(self, message: str, *, field: str, **values: object) -> None:
        super().__init__(message % values if values else message)
        self.message = message
        self.field = field
        self.values = values


def _account(row: asyncpg.Record) -> Account:
    return Account(
        id=row["id"], username=row["username"], role=row["role"], agency=row["agency_id"],
        email=row["email"], totp=row["totp"], disabled=row["disabled_at"] is not None,
    )  # fmt: skip


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise AccountError(
            N_(
                "A username is 2 to 64 letters, digits, dots, dashes or underscores, starting with a"
                " letter or digit."
            ),
            field="username",
        )
    return username


def check_email(email: str | None) -> str | None:
    if not email:
        return None
    try:
        return msgspec.convert(email, Email)
    except msgspec.ValidationError:
        raise AccountError(N_("Not an e-mail address."), field="email") from None


async def check_role(conn: Executor, role: str, agency: str | None) -> str | None:
    """The agency the role needs (an agency operator's), or None; refuses what does not fit."""
    if role not in ROLES:
        raise AccountError(N_("Choose a role."), field="role")
    if role != "agency":
        return None
    if not agency:
        raise AccountError(N_("An agency operator needs an agency."), field="agency")
    if await conn.fetchval("SELECT 1 FROM agencies WHERE id = $1", agency) is None:
        raise AccountError(N_("No agency %(agency)s."), field="agency", agency=agency)
    return agency


async def create_account(
    conn: Executor,
    *,
    username: str,
    role: Role,
    agency: str | None = None,
    email: str | None = None,
    password_hash: str | None = None,
) -> Account:
    """A new account; the caller has checked the values (`check_*`). Taken names are refused."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO accounts (username, email, role, agency_id, password_hash,"
            " password_changed_at) VALUES ($1, $2, $3, $4, $5,"
            f" CASE WHEN $5::text IS NULL THEN NULL ELSE now() END) RETURNING {_COLUMNS}",
            username, email, role, agency, password_hash,
        )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:
        if "email" in (exc.constraint_name or ""):
            raise AccountError(
                N_("Another account has this e-mail address."), field="email"
            ) from exc
        raise AccountError(N_("This username is taken."), field="username") from exc
    assert row is not None
    return _account(row)


async def get_account(conn: Executor, account_id: int) -> Account | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM accounts WHERE id = $1", account_id)
    return _account(row) if row else None


async def find_account(conn: Executor, name: str) -> Account | None:
    """By username or e-mail, case-insensitively."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM accounts WHERE lower(username) = lower($1)"
        " OR (email IS NOT NULL AND lower(email) = lower($1))",
        name,
    )
    return _account(row) if row else None


async def signin_candidate(conn: Executor, name: str) -> tuple[Account, str | None] | None:
    """The account a sign-in name means, with its password hash (None: no password set)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, password_hash FROM accounts WHERE lower(username) = lower($1)"
        " OR (email IS NOT NULL AND lower(email) = lower($1))",
        name,
    )
    return (_account(row), row["password_hash"]) if row else None


async def password_hash(conn: Executor, account_id: int) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT password_hash FROM accounts WHERE id = $1", account_id
    )


async def list_accounts(conn: Executor) -> list[Listed]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM accounts ORDER BY lower(username)")
    return [
        Listed(account=_account(r), created_at=r["created_at"], last_signin_at=r["last_signin_at"])
        for r in rows
    ]


async def set_password(conn: Executor, account_id: int, new_hash: str) -> None:
    await conn.execute(
        "UPDATE accounts SET password_hash = $2, password_changed_at = now() WHERE id = $1",
        account_id, new_hash,
    )  # fmt: skip


async def rehash_password(conn: Executor, account_id: int, old_hash: str, new_hash: str) -> None:
    """Store a hash made with today's parameters, unless the password changed meanwhile."""
    await conn.execute(
        "UPDATE accounts SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
        account_id, old_hash, new_hash,
    )  # fmt: skip


async def note_signin(conn: Executor, account_id: int) -> None:
    await conn.execute("UPDATE accounts SET last_signin_at = now() WHERE id = $1", account_id)


async def set_role(conn: Executor, account_id: int, role: Role, agency: str | None) -> bool:
    status = await conn.execute(
        "UPDATE accounts SET role = $2, agency_id = $3 WHERE id = $1", account_id, role, agency
    )
    return status.endswith(" 1")


async def set_email(conn: Executor, account_id: int, email: str | None) -> None:
    try:
        await conn.execute("UPDATE accounts SET email = $2 WHERE id = $1", account_id, email)
    except asyncpg.UniqueViolationError as exc:
        raise AccountError(N_("Another account has this e-mail address."), field="email") from exc


async def set_disabled(conn: Executor, account_id: int, disabled: bool) -> bool:
    status = await conn.execute(
        "UPDATE accounts SET disabled_at = CASE WHEN $2 THEN now() END WHERE id = $1"
        " AND (disabled_at IS NOT NULL) <> $2",
        account_id, disabled,
    )  # fmt: skip
    return status.endswith(" 1")


async def active_admins(conn: Executor) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM accounts WHERE role = 'admin' AND disabled_at IS NULL"
        )
    )


async def totp_secret(conn: Executor, account_id: int) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT totp_secret FROM accounts WHERE id = $1", account_id
    )


async def set_totp(conn: Executor, account_id: int, secret: str | None, step: int | None) -> None:
    """Enrol `secret` (its first code's `step` is used up), or remove the second factor."""
    await conn.execute(
        "UPDATE accounts SET totp_secret = $2, totp_last_step = $3 WHERE id = $1",
        account_id, secret, step,
    )  # fmt: skip


async def use_totp_step(conn: Executor, account_id: int, step: int) -> bool:
    """Mark `step` used; False if it (or a later one) already was: each code works once."""
    status = await conn.execute(
        "UPDATE accounts SET totp_last_step = $2 WHERE id = $1"
        " AND (totp_last_step IS NULL OR totp_last_step < $2)",
        account_id, step,
    )  # fmt: skip
    return status.endswith(" 1")
