"""`pantau-probe`: run the agent, validate its config, or check one app now."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import msgspec

from probe.agent import Agent, check_context, check_session, read_one_usage
from probe.checks import run_check
from probe.checks.base import tls_context
from probe.config import ConfigError, ProbeConfig, load_config
from probe.targets import CollectorTargets, FileTargets, TargetsError, TargetSource
from wire.files import run_main, setup_logging


async def _run(config: ProbeConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await Agent(config).run(stop)
    return 0


async def _once(config: ProbeConfig, app_id: str) -> int:
    """Run one app's checks and usage reads now and print them; nothing is pushed."""
    ssl = tls_context(verify=config.collector.tls_verify, ca_file=config.collector.ca_file)
    # The collector is the operator's, not the catalogue's: its session has no deny list.
    async with (
        check_session(limit=config.concurrency, guard=config.network_guard()) as session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl, limit=4)) as upstream,
    ):
        source: TargetSource = (
            FileTargets(path=Path(config.targets.catalog_file), zone=config.zone)
            if config.targets.catalog_file
            else CollectorTargets(
                session=upstream, collector_url=config.collector.url, token=config.token()
            )
        )
        listing = await source.fetch()
        assert listing is not None  # the first fetch always returns the list
        target = next((t for t in listing.targets if t.app == app_id), None)
        if target is None:
            print(f"error: zone {config.zone} does not watch an app {app_id!r}", file=sys.stderr)
            return 2
        ctx = check_context(config, session=session)
        from prometheus_client import CollectorRegistry

        from probe.metrics import ProbeMetrics

        metrics = ProbeMetrics(registry=CollectorRegistry())
        failed = False
        for check in target.checks:
            result = await run_check(check, app=app_id, ctx=ctx)
            failed |= not result.ok
            print(msgspec.json.encode(result).decode())
        for usage in target.usage:
            sample = await read_one_usage(usage, app=app_id, ctx=ctx, metrics=metrics)
            print(msgspec.json.encode(sample).decode() if sample else
                  f'{{"app": "{app_id}", "metric": "{usage.metric}", "error": "not read (see log)"}}')  # fmt: skip
        return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pantau-probe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run the probe"), ("check", "validate the config and exit"),
                       ("once", "run one app's checks now and print the results")):  # fmt: skip
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, required=True, help="probe YAML config")
        if name == "once":
            p.add_argument("--app", required=True, help="application id")
        if name == "run":
            p.add_argument(
                "--check-config", action="store_true", help="validate the config and exit"
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        if args.command == "check" or getattr(args, "check_config", False):
            config.token()
            print(f"configuration OK: {args.config} (zone {config.zone}, probe {config.name})")
            return 0
        if args.command == "once":
            return run_main(_once(config, args.app))
        return run_main(_run(config))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TargetsError as exc:
        print(f"error: targets: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
