"""`pantau-collector`: serve, migrate, manage the catalogue and tokens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
from aiohttp import web

from collector import db
from collector.accounts.cli import UserError
from collector.audit import Actor
from collector.auth import create_token, list_tokens, revoke_token
from collector.catalog import spreadsheet, sync
from collector.config import CollectorConfig, ConfigError, load_config
from wire.files import run_main, setup_logging

log = logging.getLogger("pantau.collector")


class CliError(Exception):
    pass


def _config(args: argparse.Namespace) -> CollectorConfig:
    path = args.config or (Path(p) if (p := os.environ.get("PANTAU_CONFIG")) else None)
    return load_config(path)


def _dsn(config: CollectorConfig) -> str:
    url = config.database_url()
    if not url:
        raise CliError(
            f"{config.database_url_env} is not set: this command needs the real database"
            " (postgresql://user:password@host/dbname)"
        )
    return url


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn)
    except OSError as exc:  # refused, unreachable, unknown host: say it is the database
        raise CliError(f"database: {exc}") from exc


async def _with_conn(dsn: str, fn: Callable[[asyncpg.Connection], Awaitable[int]]) -> int:
    conn = await _connect(dsn)
    try:
        await db.migrate(conn)
        return await fn(conn)
    finally:
        await conn.close()


@contextlib.contextmanager
def _database(config: CollectorConfig) -> Iterator[str]:
    """The configured database, or (development only) a throwaway embedded PostgreSQL."""
    url = config.database_url()
    if url:
        yield url
        return
    from collector.embedded import embedded_postgres_server

    log.warning(
        "%s is not set: starting an embedded PostgreSQL; its data is deleted at exit",
        config.database_url_env,
    )
    with (
        tempfile.TemporaryDirectory(prefix="pantau-pg-") as base,
        embedded_postgres_server(base) as uri,
    ):
        yield uri


async def serve(
    config: CollectorConfig, dsn: str, *, ready: Callable[[str], None] | None = None
) -> None:
    from collector.web.app import make_app
    from collector.web.server import freeze_startup_heap, make_runner

    runner = make_runner(make_app(config, dsn=dsn))
    try:
        await runner.setup()  # connects to the database and migrates it
    except OSError as exc:
        raise CliError(f"database: {exc}") from exc
    freeze_startup_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        url = await listen(runner, config.listen.host, config.listen.port)
        log.info("collector listening on %s", url)
        if ready:
            ready(url)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        log.info("collector stopping")
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()


async def listen(runner: web.AppRunner, host: str, port: int) -> str:
    """Start listening and return the base URL; an operating-system refusal (port in use, no
    such address) names the address and the cause, not the database."""
    from collector.web.server import start_site

    try:
        return await start_site(runner, host, port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CliError(f"cannot listen on {host}:{port}: {reason.lower()}") from exc


def cmd_serve(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.check_config:
        print(f"configuration OK: {args.config or 'built-in defaults'}")
        return 0

    async def main(dsn: str) -> int:
        await serve(config, dsn)
        return 0

    with _database(config) as dsn:
        return run_main(main(dsn))


def cmd_migrate(args: argparse.Namespace) -> int:
    async def main() -> int:
        conn = await _connect(_dsn(_config(args)))
        try:
            applied = await db.migrate(conn)
        finally:
            await conn.close()
        print("\n".join(f"applied {n}" for n in applied) or "schema is current")
        return 0

    return run_main(main())


def cmd_catalog(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.action == "export":
        exported: list[str] = []

        async def export(conn: asyncpg.Connection) -> int:
            exported.append(await sync.export(conn))
            return 0

        run_main(_with_conn(_dsn(config), export))
        if args.output:
            Path(args.output).write_text(exported[0], encoding="utf-8")
        else:
            sys.stdout.write(exported[0])
        return 0

    path = Path(args.file)
    if args.action == "import":
        data = spreadsheet.read_file(path)  # checked row by row by import_catalog
    else:
        catalog = sync.load_yaml(path)
        data = path.read_bytes()
    # The file is the changes' author in the audit trail, told apart by its content's hash.
    actor = Actor.of_file(path, data, via=args.action)

    async def apply(conn: asyncpg.Connection) -> int:
        if args.action == "import":
            diff = await spreadsheet.import_catalog(
                conn, data, name=str(path), actor=actor, dry_run=args.dry_run
            )
        else:
            diff = await sync.apply(
                conn, catalog, source=str(path), actor=actor, prune=args.prune,
                dry_run=args.dry_run,
            )  # fmt: skip
        for line in diff.lines() + diff.notes():
            print(line)
        verb = "would change" if args.dry_run else "changed"
        print(f"{len(diff.lines())} {verb}" if not diff.empty else "catalogue already up to date")
        return 0

    return run_main(_with_conn(_dsn(config), apply))


def cmd_token(args: argparse.Namespace) -> int:
    config = _config(args)

    async def create(conn: asyncpg.Connection) -> int:
        needs = {"agency": "agency", "probe": "zone", "app": "app"}.get(args.kind)
        if needs and not getattr(args, needs):
            raise CliError(f"--kind {args.kind} needs --{needs}")
        token_id, secret = await create_token(
            conn,
            name=args.name or f"{args.kind}-{getattr(args, needs) if needs else 'token'}",
            kind=args.kind,
            agency=args.agency if args.kind == "agency" else None,
            zone=args.zone if args.kind == "probe" else None,
            app=args.app if args.kind == "app" else None,
        )
        print(secret)
        print(f"token {token_id} created; the secret above is shown only now", file=sys.stderr)
        return 0

    async def show(conn: asyncpg.Connection) -> int:
        for r in await list_tokens(conn):
            scope = r["agency_id"] or r["zone"] or r["app_id"] or "-"
            state = "revoked" if r["revoked_at"] else "active"
            print(
                f"{r['id']}\t{r['kind']}\t{scope}\t{r['name']}\t{state}\tlast used {r['last_used_at'] or 'never'}"
            )
        return 0

    async def revoke(conn: asyncpg.Connection) -> int:
        if not await revoke_token(conn, args.id):
            raise CliError(f"no active token {args.id}")
        print(f"token {args.id} revoked")
        return 0

    actions = {"create": create, "list": show, "revoke": revoke}
    return run_main(_with_conn(_dsn(config), actions[args.action]))


def cmd_user(args: argparse.Namespace) -> int:
    from collector.accounts import cli as user_cli

    config = _config(args)
    return user_cli.run(args, config, lambda fn: run_main(_with_conn(_dsn(config), fn)))


def cmd_report(args: argparse.Namespace) -> int:
    from collector.review.monthly import MONTH_PATTERN
    from collector.review.render import RENDERERS
    from collector.review.render.pdf import PdfUnavailable
    from collector.review.report import build_report

    config = _config(args)
    month = args.month
    if not MONTH_PATTERN.fullmatch(month):
        raise CliError(f"--month must look like 2026-11 (years 2000 to 2099), not {month!r}")
    if args.format not in RENDERERS:
        raise CliError(f"--format must be one of {', '.join(sorted(RENDERERS))}")
    out: list[bytes] = []

    async def report(conn: asyncpg.Connection) -> int:
        if (
            args.agency
            and await conn.fetchval("SELECT 1 FROM agencies WHERE id = $1", args.agency) is None
        ):
            raise CliError(f"no agency {args.agency!r}")
        built = await build_report(
            conn, month=month, settings=config.state_settings(), agency=args.agency
        )
        try:
            out.append(RENDERERS[args.format][0](built, args.lang))
        except PdfUnavailable as exc:
            raise CliError(str(exc)) from exc
        return 0

    run_main(_with_conn(_dsn(config), report))
    if args.output:
        Path(args.output).write_bytes(out[0])
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(out[0])
    return 0


def cmd_rollup(args: argparse.Namespace) -> int:
    from collector.review.rollup import rollup

    config = _config(args)

    async def run(conn: asyncpg.Connection) -> int:
        stats = await rollup(conn, settings=config.state_settings())
        print(f"rolled up {stats.apps} apps, {stats.hours} app-hours")
        return 0

    return run_main(_with_conn(_dsn(config), run))


def cmd_retention(args: argparse.Namespace) -> int:
    from collector.review.retention import apply_retention, partitions

    config = _config(args)
    days = config.retention.raw_days

    async def run(conn: asyncpg.Connection) -> int:
        print(
            f"policy: raw results kept {days} days (whole months); hourly and daily aggregates kept"
        )
        for p in await partitions(conn, raw_days=days):
            verb = "drop" if p.drop else "keep"
            print(f"{verb}\t{p.name}\t{p.month:%Y-%m}\t~{p.rows_estimate} rows")
        if args.apply:
            dropped = await apply_retention(conn, raw_days=days, settings=config.state_settings())
            print(f"dropped {len(dropped)} partitions (after rolling up)")
        return 0

    return run_main(_with_conn(_dsn(config), run))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pantau-collector", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, help="YAML config (default: $PANTAU_CONFIG or built-in)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", parents=[common], help="run the collector")
    p.add_argument("--check-config", action="store_true", help="validate the config and exit")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", parents=[common], help="apply database migrations")
    p.set_defaults(func=cmd_migrate)

    cat = sub.add_parser("catalog", help="catalogue as code").add_subparsers(
        dest="action", required=True
    )
    p = cat.add_parser("apply", parents=[common], help="reconcile the database with a YAML file")
    p.add_argument("file")
    p.add_argument("--prune", action="store_true", help="retire apps missing from the file")
    p.add_argument("--dry-run", action="store_true", help="print the changes, change nothing")
    p.set_defaults(func=cmd_catalog)
    p = cat.add_parser(
        "import", parents=[common], help="create/update apps from a spreadsheet (.xlsx or CSV)"
    )
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="print the changes, change nothing")
    p.set_defaults(func=cmd_catalog)
    p = cat.add_parser("export", parents=[common], help="write the catalogue as YAML")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("report", parents=[common], help="the monthly uptime and usage review")
    p.add_argument("--month", required=True, help="e.g. 2026-11 (in the configured time zone)")
    p.add_argument("--agency", help="one agency only")
    p.add_argument("--format", default="html", help="html, pdf (A4), csv, json or md")
    p.add_argument(
        "--lang", default="id", choices=["id", "en"], help="Bahasa Indonesia (default) or English"
    )
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("rollup", parents=[common], help="bring the review's aggregates up to date")
    p.set_defaults(func=cmd_rollup)

    p = sub.add_parser(
        "retention", parents=[common], help="show (and with --apply, apply) retention"
    )
    p.add_argument("--apply", action="store_true", help="drop raw partitions past the policy")
    p.set_defaults(func=cmd_retention)

    tok = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    p = tok.add_parser("create", parents=[common], help="create a token; prints the secret once")
    p.add_argument("--kind", required=True, choices=["admin", "agency", "viewer", "probe", "app"])
    p.add_argument("--name")
    p.add_argument("--agency", help="for --kind agency")
    p.add_argument("--zone", help="for --kind probe")
    p.add_argument("--app", help="for --kind app (usage push)")
    p.set_defaults(func=cmd_token)
    p = tok.add_parser("list", parents=[common], help="list tokens (never their secrets)")
    p.set_defaults(func=cmd_token)
    p = tok.add_parser("revoke", parents=[common], help="revoke a token")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_token)

    from collector.accounts import cli as user_cli

    user_cli.add_parser(sub, common)
    sub.choices["user"].set_defaults(func=cmd_user)
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, sync.CatalogError, CliError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except asyncpg.PostgresError as exc:
        print(f"error: database: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file that cannot be written, say: its own words name it
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
