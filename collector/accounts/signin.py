"""Signing in, step by step: password, then the second factor (or its enrolment), and setting a
new password (own change, or through a reset link). Pages and the CLI call these; each step
answers an `Outcome` and never says whether a name it did not accept exists.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Literal

import asyncpg

from collector.accounts import lockout, resets, sessions, store, totp
from collector.accounts.passwords import HashingBusy, Passwords, check_new_password
from collector.accounts.sessions import Stage
from collector.accounts.store import Account
from collector.config import AccountsConfig
from collector.db import Conn

log = logging.getLogger(__name__)
Result = Literal["ok", "failed", "reused", "locked_out", "disabled", "busy"]
MAX_NAME = 300  # characters of a sign-in name looked at


@dataclass(frozen=True, kw_only=True)
class Outcome:
    result: Result
    account: Account | None = None
    stage: Stage | None = None
    session_id: str | None = None  # for the cookie, when a session was started
    locked_until: dt.datetime | None = None


def first_stage(account: Account) -> Stage:
    """After the password: the code when there is a second factor; an admin without one enrols."""
    if account.totp:
        return "code"
    return "enrol" if account.role == "admin" else "full"


async def with_password(
    pool: asyncpg.Pool,
    passwords: Passwords,
    config: AccountsConfig,
    *,
    name: str,
    password: str,
    address: str,
) -> Outcome:
    name = name.strip()[:MAX_NAME]
    found = await store.signin_candidate(pool, name) if name else None
    account, stored = found if found else (None, None)
    key = lockout.account_key(account.id if account else None, name)
    attempt = await lockout.begin(pool, key, address, config)
    if attempt.locked_until is not None:
        return Outcome(result="locked_out", locked_until=attempt.locked_until)
    try:
        right, rehashed = await passwords.verify(stored, password)
    except HashingBusy:
        await pool.execute("DELETE FROM signin_failures WHERE id = $1", attempt.failure_id)
        return Outcome(result="busy")
    if not right or account is None:
        return Outcome(result="failed")
    async with pool.acquire() as conn, conn.transaction():
        await lockout.succeeded(conn, key)
        if account.disabled:
            return Outcome(result="disabled")
        if rehashed is not None and stored is not None:
            await store.rehash_password(conn, account.id, stored, rehashed)
        await sessions.purge(conn, config)
        await lockout.purge(conn, config)
        stage = first_stage(account)
        session_id, _ = await sessions.start(conn, account.id, stage, config)
        if stage == "full":
            await store.note_signin(conn, account.id)
    return Outcome(result="ok", account=account, stage=stage, session_id=session_id)


async def with_code(
    pool: asyncpg.Pool,
    config: AccountsConfig,
    session: sessions.Session,
    *,
    code: str,
    address: str,
) -> Outcome:
    """The second step: a code of the account's authenticator, each code once."""
    account = session.account
    key = lockout.account_key(account.id, "")
    attempt = await lockout.begin(pool, key, address, config)
    if attempt.locked_until is not None:
        return Outcome(result="locked_out", locked_until=attempt.locked_until)
    secret = await store.totp_secret(pool, account.id)
    step = totp.matching_step(secret, code) if secret else None
    if step is None:
        return Outcome(result="failed")
    async with pool.acquire() as conn, conn.transaction():
        if not await store.use_totp_step(conn, account.id, step):
            return Outcome(result="reused")
        await lockout.succeeded(conn, key)
        return await _promote(conn, config, session)


async def enrol(
    pool: asyncpg.Pool, config: AccountsConfig, session: sessions.Session, *, code: str
) -> Outcome:
    """Confirm the secret being enrolled with its first code; every other session of the
    account ends (they were signed in without it), this one is signed in afresh."""
    async with pool.acquire() as conn, conn.transaction():
        secret = await sessions.pending_totp(conn, session.id_hash)
        step = totp.matching_step(secret, code) if secret else None
        if secret is None or step is None:
            return Outcome(result="failed")
        await store.set_totp(conn, session.account.id, secret, step)
        ended = await sessions.end_all(conn, session.account.id, keep=session.id_hash)
        log.info("account %s enrolled a second factor (%d other sessions ended)",
                 session.account.username, ended)  # fmt: skip
        return await _promote(conn, config, session)


async def _promote(conn: Conn, config: AccountsConfig, session: sessions.Session) -> Outcome:
    """Every step done: a new session id, fully signed in (the old id is worth nothing)."""
    await sessions.end(conn, session.id_hash)
    session_id, _ = await sessions.start(conn, session.account.id, "full", config)
    await store.note_signin(conn, session.account.id)
    return Outcome(result="ok", account=session.account, stage="full", session_id=session_id)


async def change_password(
    pool: asyncpg.Pool,
    passwords: Passwords,
    config: AccountsConfig,
    session: sessions.Session,
    *,
    current: str,
    new: str,
    confirm: str,
    address: str,
) -> Outcome:
    """A signed-in person's own change: the current password first (guesses count toward the
    lock-out, as at sign-in); then every other session of the account ends."""
    account = session.account
    check_new_password(new, confirm, min_length=config.password_min_length,
                       names=(account.username, account.email))  # fmt: skip
    key = lockout.account_key(account.id, "")
    attempt = await lockout.begin(pool, key, address, config)
    if attempt.locked_until is not None:
        return Outcome(result="locked_out", locked_until=attempt.locked_until)
    stored = await store.password_hash(pool, account.id)
    right, _ = await passwords.verify(stored, current)
    if not right:
        return Outcome(result="failed")
    new_hash = await passwords.hash(new)
    async with pool.acquire() as conn, conn.transaction():
        await store.set_password(conn, account.id, new_hash)
        await lockout.succeeded(conn, key)
        ended = await sessions.end_all(conn, account.id, keep=session.id_hash)
    log.info("account %s changed its password (%d other sessions ended)", account.username, ended)
    return Outcome(result="ok", account=account)


async def reset_password(
    pool: asyncpg.Pool,
    passwords: Passwords,
    config: AccountsConfig,
    *,
    token: str,
    new: str,
    confirm: str,
) -> Account | None:
    """Set the password through a reset link; None if the link is not (or no longer) valid.
    The link is spent, and every session of the account ends."""
    account_id = await resets.valid_account(pool, token)
    account = await store.get_account(pool, account_id) if account_id is not None else None
    if account is None:
        return None
    check_new_password(new, confirm, min_length=config.password_min_length,
                       names=(account.username, account.email))  # fmt: skip
    new_hash = await passwords.hash(new)
    async with pool.acquire() as conn, conn.transaction():
        if await resets.spend(conn, token) != account.id:
            return None  # used meanwhile (another tab), or disabled
        await store.set_password(conn, account.id, new_hash)
        ended = await sessions.end_all(conn, account.id)
        await lockout.forget(conn, account.id)
    log.info("account %s set its password with a reset link (%d sessions ended)",
             account.username, ended)  # fmt: skip
    return account
