"""Helpers for the account tests: accounts made in the database, a browser-like client."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import pyotp
from aiohttp import ClientResponse
from aiohttp.test_utils import TestServer
from yarl import URL

from collector.accounts import passwords, store
from collector.config import CollectorConfig, PasswordHashing
from collector.web.app import make_app
from tests.collector.conftest import collector_config

# OWASP's minimum: the tests' hashes take a few milliseconds, the checks are the same.
FAST_HASHING = PasswordHashing(time_cost=2, memory_kib=19_456, parallelism=1)
PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def accounts_config(**overrides: Any) -> CollectorConfig:
    accounts = {
        "cookie_secure": False,
        "password_hashing": {"time_cost": 2, "memory_kib": 19_456, "parallelism": 1},
        **overrides.pop("accounts", {}),
    }
    return collector_config(accounts=accounts, **overrides)


async def make_account(
    url: str,
    username: str,
    role: str,
    *,
    agency: str | None = None,
    email: str | None = None,
    password: str | None = PASSWORD,
    totp_secret: str | None = None,
    hashing: PasswordHashing = FAST_HASHING,
) -> store.Account:
    hashed = await passwords.Passwords(hashing).hash(password) if password else None
    conn = await asyncpg.connect(url)
    try:
        account = await store.create_account(
            conn, username=username, role=role, agency=agency, email=email,  # type: ignore[arg-type]
            password_hash=hashed,
        )  # fmt: skip
        if totp_secret:
            await store.set_totp(conn, account.id, totp_secret, None)
            account = await store.get_account(conn, account.id)  # type: ignore[assignment]
    finally:
        await conn.close()
    assert account is not None
    return account


def csrf_of(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "no csrf_token in the page"
    return found.group(1)


def code_for(secret: str, *, steps_ago: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() - 30 * steps_ago)


class Browser:
    """One person's browser: its own cookie jar; reads each form's token from its page."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def get(self, path: str, **kw: Any) -> ClientResponse:
        return await self.session.get(self.base + path, allow_redirects=False, **kw)

    async def form_token(self, path: str) -> str:
        resp = await self.session.get(self.base + path)
        return csrf_of(await resp.text())

    async def post(
        self, path: str, data: Mapping[str, str], *, token_from: str | None = None, **kw: Any
    ) -> ClientResponse:
        """Post a form the way a browser does: with the token of the page it came from."""
        body = dict(data)
        if token_from is not None:
            body["csrf_token"] = await self.form_token(token_from)
        return await self.session.post(self.base + path, data=body, allow_redirects=False, **kw)

    async def sign_in(self, name: str, password: str = PASSWORD) -> ClientResponse:
        return await self.post(
            "/signin", {"name": name, "password": password}, token_from="/signin"
        )

    def set_cookie(self, value: str, name: str = "pantau_session") -> None:
        """A cookie of this site, as if the server had set it (a planted or stolen one)."""
        self.session.cookie_jar.update_cookies({name: value}, URL(self.base))

    def cookie(self, name: str = "pantau_session") -> str | None:
        for cookie in self.session.cookie_jar:
            if cookie.key == name:
                return cookie.value
        return None


@asynccontextmanager
async def portal(url: str, config: CollectorConfig | None = None) -> AsyncIterator[str]:
    """The collector on a loopback port; yields its base URL."""
    app = make_app(config or accounts_config(), dsn=url)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield str(server.make_url("")).rstrip("/")


@asynccontextmanager
async def browser(base: str) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield Browser(session, base)
