"""The command lines as ops staff run them: real processes, the real database, local targets."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web

EXAMPLES = Path(__file__).parent.parent / "deploy" / "examples"


async def run(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, env={**os.environ, "PANTAU_LOG_LEVEL": "WARNING", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_collector_commands(fresh_db: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": fresh_db}
    code, out, err = await run(
        "-m", "collector", "catalog", "apply", str(EXAMPLES / "catalog.yaml"), "--dry-run", env=env
    )
    assert code == 0, err
    assert "+ app simpus" in out
    assert "would change" in out
    code, out, err = await run(
        "-m", "collector", "catalog", "apply", str(EXAMPLES / "catalog.yaml"), env=env
    )
    assert code == 0, err
    code, out, _ = await run(
        "-m", "collector", "catalog", "apply", str(EXAMPLES / "catalog.yaml"), env=env
    )
    assert "already up to date" in out
    code, out, err = await run(
        "-m", "collector", "catalog", "import", str(EXAMPLES / "apps.csv"), env=env
    )
    assert code == 0, err
    assert "+ app simpeg" in out
    exported = tmp_path / "export.yaml"
    code, _, err = await run("-m", "collector", "catalog", "export", "-o", str(exported), env=env)
    assert code == 0, err
    assert {a["id"] for a in yaml.safe_load(exported.read_text())["apps"]} >= {
        "website",
        "simpus",
        "simpeg",
    }

    code, out, err = await run(
        "-m", "collector", "token", "create", "--kind", "probe", "--zone", "dinkes-lan", env=env
    )
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("pantau_")
    assert "shown only now" in err
    code, out, _ = await run("-m", "collector", "token", "list", env=env)
    assert "probe\tdinkes-lan" in out
    assert secret not in out
    code, _, err = await run("-m", "collector", "token", "create", "--kind", "agency", env=env)
    assert code == 2
    assert "--kind agency needs --agency" in err

    bad = tmp_path / "bad.yaml"
    bad.write_text("apps:\n  - {id: x, name: X, agency: nowhere, managed_by: self}\n")
    code, _, err = await run("-m", "collector", "catalog", "apply", str(bad), env=env)
    assert code == 2
    assert "bad.yaml: $.apps[0].agency: unknown agency 'nowhere'" in err

    code, out, err = await run("-m", "collector", "retention", env=env)
    assert code == 0, err
    assert "raw results kept 90 days" in out


async def test_collector_commands_need_the_database() -> None:
    code, _, err = await run("-m", "collector", "migrate", env={"DATABASE_URL": ""})
    assert code == 2
    assert "DATABASE_URL is not set" in err


@pytest.fixture
async def local_app() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "logins": 42})

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_probe_once_in_standalone_mode(local_app: str, tmp_path: Path) -> None:
    catalog = {
        "agencies": [{"id": "setda", "name": "Setda"}],
        "apps": [{"id": "jdih", "name": "JDIH", "agency": "setda", "managed_by": "self", "zones": ["lan"],
                  "checks": [{"type": "http", "url": f"{local_app}/", "json": {"path": "status", "value": "ok"}},
                             {"type": "tcp", "host": "127.0.0.1", "port": int(local_app.rsplit(":", 1)[1])}],
                  "usage": [{"metric": "logins", "kind": "counter",
                             "source": {"type": "json", "url": f"{local_app}/", "path": "logins"}}]}],
    }  # fmt: skip
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    config = {
        "collector": {"url": "http://127.0.0.1:9"},
        "zone": "lan",
        "targets": {"catalog_file": str(tmp_path / "catalog.yaml")},
        "spool": {"path": str(tmp_path / "spool.db")},
    }
    (tmp_path / "probe.yaml").write_text(yaml.safe_dump(config))
    env = {"PANTAU_PROBE_TOKEN": "pantau_unused"}
    code, out, err = await run(
        "-m", "probe", "check", "--config", str(tmp_path / "probe.yaml"), env=env
    )
    assert code == 0, err
    assert "zone lan" in out
    code, out, err = await run(
        "-m", "probe", "once", "--config", str(tmp_path / "probe.yaml"), "--app", "jdih", env=env
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(x.get("check"), x.get("ok")) for x in lines[:2]] == [("http", True), ("tcp", True)]
    assert lines[2]["metric"] == "logins"
    assert lines[2]["value"] == 42
    code, _, err = await run(
        "-m", "probe", "once", "--config", str(tmp_path / "probe.yaml"), "--app", "nope", env=env
    )
    assert code == 2
    assert "does not watch" in err


async def test_busy_port_names_the_listen_address_not_the_database(
    fresh_db: str, tmp_path: Path
) -> None:
    """Regression (issue 9): a port in use was reported as `error: database: [Errno 98] ...`."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "collector.yaml"
        config.write_text(f"listen: {{host: 127.0.0.1, port: {port}}}\n")
        code, _, err = await run(
            "-m", "collector", "serve", "--config", str(config), env={"DATABASE_URL": fresh_db}
        )
    assert code != 0
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in err, err
    assert "database" not in err, err
