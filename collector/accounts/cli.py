"""`pantau-collector user ...`: the first accounts, and a way back in for the office.

`user create` makes an account with a password read from a prompt (or one line of standard
input with `--password-stdin`), or with `--reset-link` a link its owner sets it with.
`user list`, `user disable NAME`, `user enable NAME`, `user reset-link NAME` and
`user reset-second-factor NAME` (a lost phone) do what admins do in the portal.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable

import asyncpg

from collector.accounts import manage, passwords, resets, store
from collector.accounts.store import Account, AccountError
from collector.config import CollectorConfig


class UserError(Exception):
    """A refusal to print (`error: ...`, exit 2)."""


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    user = sub.add_parser("user", help="people's accounts for the portal").add_subparsers(
        dest="action", required=True
    )
    p = user.add_parser("create", parents=[common], help="create an account")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=list(store.ROLES))
    p.add_argument("--agency", help="the agency of an agency operator (--role agency)")
    p.add_argument("--email")
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    how.add_argument(
        "--reset-link", action="store_true", help="no password: print a link that sets it"
    )
    user.add_parser("list", parents=[common], help="list accounts (never passwords or secrets)")
    for action, text in (
        ("disable", "disable an account and end its sessions"),
        ("enable", "enable a disabled account"),
        ("reset-link", "print a one-time link that sets a new password"),
        ("reset-second-factor", "remove an account's TOTP second factor (a lost phone)"),
    ):
        p = user.add_parser(action, parents=[common], help=text)
        p.add_argument("name", help="username or e-mail address")


def read_password(args: argparse.Namespace, min_length: int, names: tuple[str | None, ...]) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        confirm = password
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        confirm = getpass.getpass("Password again: ")
    else:
        raise UserError("no terminal to ask for the password: use --password-stdin or --reset-link")
    try:
        passwords.check_new_password(password, confirm, min_length=min_length, names=names)
    except passwords.PasswordRuleError as exc:
        raise UserError(str(exc)) from exc
    return password


def run(
    args: argparse.Namespace,
    config: CollectorConfig,
    with_conn: Callable[[Callable[[asyncpg.Connection], Awaitable[int]]], int],
) -> int:
    """Run the `user` action `args.action` on a migrated connection (`with_conn`)."""
    settings = config.accounts

    def link(token: str) -> str:
        text = resets.link(config.base_url, token)
        return text if config.base_url else text + "   (after the portal's address: set base_url)"

    async def create(conn: asyncpg.Connection) -> int:
        hashed = None
        if not args.reset_link:
            password = read_password(
                args, settings.password_min_length, (args.username, args.email)
            )
            hashed = await passwords.Passwords(settings.password_hashing).hash(password)
        account = await manage.create(
            conn, None, username=args.username, role=args.role, agency=args.agency,
            email=args.email, password_hash=hashed,
        )  # fmt: skip
        print(f"account {account.username} ({_role(account)}) created", file=sys.stderr)
        if account.role == "admin":
            print("an admin sets up a second factor (TOTP) at the first sign-in", file=sys.stderr)
        if args.reset_link:
            token = await manage.reset_link_token(conn, None, account, settings.reset_link_hours)
            print(link(token))
            print(f"the link sets the password once, within {settings.reset_link_hours} h",
                  file=sys.stderr)  # fmt: skip
        return 0

    async def show(conn: asyncpg.Connection) -> int:
        for row in await store.list_accounts(conn):
            a = row.account
            print("\t".join([
                str(a.id), a.username, _role(a), a.email or "-",
                "totp" if a.totp else "no-totp", "disabled" if a.disabled else "enabled",
                f"last sign-in {row.last_signin_at or 'never'}",
            ]))  # fmt: skip
        return 0

    async def target(conn: asyncpg.Connection) -> Account:
        account = await store.find_account(conn, args.name)
        if account is None:
            raise UserError(f"no account {args.name!r}")
        return account

    async def disable(conn: asyncpg.Connection) -> int:
        await manage.set_disabled(conn, None, await target(conn), True)
        print(f"account {args.name} disabled; its sessions ended")
        return 0

    async def enable(conn: asyncpg.Connection) -> int:
        await manage.set_disabled(conn, None, await target(conn), False)
        print(f"account {args.name} enabled")
        return 0

    async def reset_link(conn: asyncpg.Connection) -> int:
        account = await target(conn)
        print(link(await manage.reset_link_token(conn, None, account, settings.reset_link_hours)))
        print(f"the link sets a new password once, within {settings.reset_link_hours} h;"
              " it replaces any earlier link", file=sys.stderr)  # fmt: skip
        return 0

    async def reset_second_factor(conn: asyncpg.Connection) -> int:
        await manage.reset_second_factor(conn, None, await target(conn))
        print(f"account {args.name}: second factor removed; its sessions ended")
        return 0

    actions = {
        "create": create, "list": show, "disable": disable, "enable": enable,
        "reset-link": reset_link, "reset-second-factor": reset_second_factor,
    }  # fmt: skip

    async def guarded(conn: asyncpg.Connection) -> int:
        try:
            return await actions[args.action](conn)
        except AccountError as exc:
            raise UserError(str(exc)) from exc

    return with_conn(guarded)


def _role(account: Account) -> str:
    return f"agency:{account.agency}" if account.role == "agency" else account.role
