"""Passwords: Argon2id hashes (argon2-cffi), verified off the event loop, with no tell-tale timing.

Hashing is deliberately slow (about 0.1 s of CPU and 64 MiB at the defaults), so it runs in a
thread, at most `MAX_AT_ONCE` at a time; more waiting than `MAX_WAITING` answers "busy" instead
of piling up memory and connections (a flood of sign-ins). A name that matches no account, or an
account without a password, costs the same verification against a dummy hash, so neither the
answer nor its time says whether an account exists.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from typing import Final, TypeVar

import argon2

from collector.config import PasswordHashing
from collector.i18n_catalog import N_

T = TypeVar("T")
MAX_AT_ONCE: Final = 2  # the machine's cores; more at once only makes each slower
MAX_WAITING: Final = 32
MAX_LENGTH: Final = 1024  # characters; a longer "password" is refused before any work


class HashingBusy(Exception):
    """Too many passwords are being checked at once: retry in a moment."""


class PasswordRuleError(ValueError):
    """A new password the rules refuse; the message is an English msgid with `%(n)s`."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message % values if values else message)
        self.message = message
        self.values = values


@functools.cache
def hasher(params: PasswordHashing) -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        type=argon2.Type.ID,
    )


@functools.cache
def _dummy_hash(params: PasswordHashing) -> str:
    return hasher(params).hash(secrets.token_urlsafe(16))


class Passwords:
    """Hashes and checks passwords with the configured parameters, a few at a time."""

    def __init__(self, params: PasswordHashing) -> None:
        self.params = params
        self._slots = asyncio.Semaphore(MAX_AT_ONCE)
        self._waiting = 0

    async def _run(self, fn: functools.partial[T]) -> T:
        if self._waiting >= MAX_WAITING:
            raise HashingBusy
        self._waiting += 1
        try:
            async with self._slots:
                return await asyncio.to_thread(fn)
        finally:
            self._waiting -= 1

    async def hash(self, password: str) -> str:
        return await self._run(functools.partial(hasher(self.params).hash, password))

    async def verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        """(matches, a new hash to store when the stored one used other parameters).

        `stored` None (no account, or no password yet) is checked against a dummy hash: the
        same work, and always False.
        """
        if len(password) > MAX_LENGTH:
            # No password that long was ever accepted: the dummy's work, and False.
            password, stored = password[:MAX_LENGTH], None
        return await self._run(functools.partial(self._verify, stored, password))

    def _verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        ph = hasher(self.params)
        try:
            ph.verify(stored or _dummy_hash(self.params), password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False, None
        if stored is None:
            return False, None
        return True, ph.hash(password) if ph.check_needs_rehash(stored) else None


def check_new_password(
    password: str, confirm: str, *, min_length: int, names: tuple[str | None, ...]
) -> None:
    """Refuse a new password that is too short or too long, does not match its confirmation,
    or is the account's username or e-mail address."""
    if password != confirm:
        raise PasswordRuleError(N_("The two passwords differ."))
    if len(password) < min_length:
        raise PasswordRuleError(
            N_("A password has at least %(n)s characters; a few words make a good one."),
            n=min_length,
        )
    if len(password) > MAX_LENGTH:
        raise PasswordRuleError(N_("A password has at most %(n)s characters."), n=MAX_LENGTH)
    if any(n and password.strip().casefold() == n.casefold() for n in names):
        raise PasswordRuleError(N_("The password may not be the username or e-mail address."))
