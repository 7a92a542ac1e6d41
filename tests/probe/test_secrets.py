"""The probe reads only the environment variables its operator released to the catalogue.

The attack of issue 8: an agency's spec names the probe's own token variable (or DATABASE_URL)
and points the check at a listener of its own. The collector refuses such names at write time
(tests/collector/test_spec_secrets.py); these tests build the specs past that validation, as a
tampered collector or catalogue file would, and show the probe refuses before reading anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from aiohttp import web

from probe.agent import check_context, check_session
from probe.checks import run_check
from probe.checks.base import CheckContext
from probe.config import ConfigError, ProbeConfig, load_config
from probe.schedule import jobs_for
from probe.secrets import SecretRelease
from probe.usage import read_usage
from tests.probe.servers import probe_context, serve_app
from wire.messages import CheckResult, Target
from wire.specs import BasicAuth, HttpCheck, JsonSource, SqlSource, UsageSpec

PROBE_TOKEN = "pantau_probe-token-6d1e"
DATABASE_URL = "postgresql://pantau:db-pw-77aa@127.0.0.1:1/pantau"
RELEASED = "released-secret-42"


@pytest.fixture
async def listener() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An agency's own listener: records the headers of every request it gets."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"count": 1})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serve_app(app) as base:
        yield base, seen


@pytest.fixture
def probe_env(env: dict[str, str]) -> dict[str, str]:
    env.update(
        PANTAU_PROBE_TOKEN=PROBE_TOKEN,
        DATABASE_URL=DATABASE_URL,
        PANTAU_SECRET_PORTAL_KEY=RELEASED,
    )
    return env


def tampered(spec: Any, **fields: Any) -> Any:
    """The spec with fields the collector would refuse, as if it had been let through."""
    for name, value in fields.items():
        msgspec.structs.force_setattr(spec, name, value)
    return spec


async def http(ctx: CheckContext, spec: HttpCheck) -> CheckResult:
    result = await run_check(spec, app="portal", ctx=ctx)
    return msgspec.json.decode(msgspec.json.encode(result), type=CheckResult)


@pytest.mark.usefixtures("probe_env")
async def test_bearer_token_env_cannot_read_the_probe_token(
    ctx: CheckContext, listener: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = listener
    spec = HttpCheck(url=f"{base}/steal", bearer_token_env="PANTAU_SECRET_PORTAL_KEY")
    result = await http(ctx, tampered(spec, bearer_token_env="PANTAU_PROBE_TOKEN"))
    assert (result.ok, result.reason) == (False, "secret")
    assert "PANTAU_PROBE_TOKEN" in (result.message or "")
    assert result.attempts == 1  # not retried: it will not be released on a second try
    assert seen == []  # refused before any traffic
    assert PROBE_TOKEN not in msgspec.json.encode(result).decode()


@pytest.mark.usefixtures("probe_env")
@pytest.mark.parametrize("name", ["DATABASE_URL", "PANTAU_PROBE_TOKEN", "HOME", "PATH"])
async def test_password_env_cannot_read_the_probes_variables(
    ctx: CheckContext, listener: tuple[str, list[dict[str, str]]], name: str
) -> None:
    base, seen = listener
    auth = tampered(
        BasicAuth(username="x", password_env="PANTAU_SECRET_PORTAL_KEY"), password_env=name
    )
    result = await http(ctx, HttpCheck(url=f"{base}/steal", basic_auth=auth))
    assert (result.ok, result.reason) == (False, "secret")
    assert seen == []


@pytest.mark.usefixtures("probe_env")
async def test_headers_env_cannot_read_the_probe_token(
    ctx: CheckContext, listener: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = listener
    spec = HttpCheck(url=f"{base}/steal", headers_env={"X-Api-Key": "PANTAU_SECRET_PORTAL_KEY"})
    result = await http(ctx, tampered(spec, headers_env={"X-Api-Key": "PANTAU_PROBE_TOKEN"}))
    assert (result.ok, result.reason) == (False, "secret")
    assert seen == []


@pytest.mark.usefixtures("probe_env")
async def test_a_released_secret_is_sent(
    ctx: CheckContext, listener: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = listener
    spec = HttpCheck(
        url=f"{base}/ok",
        bearer_token_env="PANTAU_SECRET_PORTAL_KEY",
        headers_env={"X-Api-Key": "PANTAU_SECRET_PORTAL_KEY"},
    )
    result = await http(ctx, spec)
    assert result.ok
    assert seen[0]["Authorization"] == f"Bearer {RELEASED}"
    assert seen[0]["X-Api-Key"] == RELEASED


@pytest.mark.usefixtures("probe_env")
async def test_sql_dsn_env_cannot_read_database_url(ctx: CheckContext) -> None:
    source = SqlSource(driver="postgresql", dsn_env="PANTAU_SECRET_PORTAL_KEY", query="SELECT 1")
    spec = UsageSpec(metric="visits", kind="gauge", source=tampered(source, dsn_env="DATABASE_URL"))
    reading = await read_usage(spec, app="portal", ctx=ctx)
    assert (reading.value, reading.reason) == (None, "secret")
    assert "db-pw-77aa" not in (reading.message or "")


async def test_sql_dsn_env_cannot_read_the_real_database_url(
    env: dict[str, str], database_url: str
) -> None:
    # With a working DATABASE_URL the stolen DSN would have answered `SELECT 1`.
    env["DATABASE_URL"] = database_url
    source = SqlSource(driver="postgresql", dsn_env="PANTAU_SECRET_PORTAL_KEY", query="SELECT 1")
    spec = UsageSpec(metric="visits", kind="gauge", source=tampered(source, dsn_env="DATABASE_URL"))
    async with probe_context(env) as ctx:
        reading = await read_usage(spec, app="portal", ctx=ctx)
    assert (reading.value, reading.reason) == (None, "secret")


@pytest.mark.usefixtures("probe_env")
async def test_json_source_cannot_read_the_probe_token(
    ctx: CheckContext, listener: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = listener
    source = JsonSource(url=f"{base}/n", path="count", bearer_token_env="PANTAU_SECRET_PORTAL_KEY")
    spec = UsageSpec(
        metric="visits",
        kind="gauge",
        source=tampered(source, bearer_token_env="PANTAU_PROBE_TOKEN"),
    )
    reading = await read_usage(spec, app="portal", ctx=ctx)
    assert (reading.value, reading.reason) == (None, "secret")
    assert seen == []


async def test_the_secrets_list_limits_the_release(
    probe_env: dict[str, str], listener: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = listener
    probe_env["PANTAU_SECRET_PORTAL_OTHER"] = "other-9"
    release = SecretRelease(names=frozenset({"PANTAU_SECRET_PORTAL_KEY"}))
    async with probe_context(probe_env, secrets=release) as ctx:
        listed = await http(
            ctx, HttpCheck(url=f"{base}/a", bearer_token_env="PANTAU_SECRET_PORTAL_KEY")
        )
        other = await http(
            ctx, HttpCheck(url=f"{base}/b", bearer_token_env="PANTAU_SECRET_PORTAL_OTHER")
        )
    assert listed.ok
    assert (other.ok, other.reason) == (False, "secret")
    assert "`secrets` list" in (other.message or "")
    assert len(seen) == 1


# --- one agency's secrets are not another's (PANTAU_SECRET_<AGENCY>_...) ---------------------

OTHER_AGENCYS = "dinkes-pw-5150"


@pytest.mark.usefixtures("probe_env")
@pytest.mark.parametrize(
    "name",
    [
        "PANTAU_SECRET_DINKES_SIMPUS_DSN",  # agency dinkes's, named by an app of agency portal
        "PANTAU_SECRET_SIMPUS_DSN",  # a released name outside every agency's namespace
        "PANTAU_SECRET_PORTAL_",  # the bare prefix
    ],
)
async def test_an_agency_cannot_have_the_probe_send_another_agencys_secret(
    env: dict[str, str], listener: tuple[str, list[dict[str, str]]], name: str
) -> None:
    base, seen = listener
    env[name] = OTHER_AGENCYS
    spec = HttpCheck(url=f"{base}/steal", bearer_token_env="PANTAU_SECRET_PORTAL_KEY")
    async with probe_context(env, agency="portal") as ctx:
        result = await http(ctx, tampered(spec, bearer_token_env=name))
        auth = tampered(BasicAuth(username="x", password_env="PANTAU_SECRET_PORTAL_KEY"),
                        password_env=name)  # fmt: skip
        basic = await http(ctx, HttpCheck(url=f"{base}/steal", basic_auth=auth))
        source = SqlSource(
            driver="postgresql", dsn_env="PANTAU_SECRET_PORTAL_KEY", query="SELECT 1"
        )
        usage = UsageSpec(metric="v", kind="gauge", source=tampered(source, dsn_env=name))
        reading = await read_usage(usage, app="portal", ctx=ctx)
    for refused in (result, basic):
        assert (refused.ok, refused.reason) == (False, "secret")
        assert "PANTAU_SECRET_PORTAL_" in (refused.message or "")  # says which prefix it may use
    assert (reading.value, reading.reason) == (None, "secret")
    assert seen == []  # nothing was sent
    assert OTHER_AGENCYS not in msgspec.json.encode(result).decode()


async def test_the_same_check_reads_the_secret_for_its_own_agency(
    env: dict[str, str], listener: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = listener
    env["PANTAU_SECRET_DINKES_SIMPUS_DSN"] = OTHER_AGENCYS
    spec = HttpCheck(url=f"{base}/ok", bearer_token_env="PANTAU_SECRET_DINKES_SIMPUS_DSN")
    async with probe_context(env, agency="dinkes") as ctx:
        assert (await http(ctx, spec)).ok
    async with probe_context(env, agency=None) as ctx:  # agency unknown: nothing released
        assert (await http(ctx, spec)).reason == "secret"
    assert seen[0]["Authorization"] == f"Bearer {OTHER_AGENCYS}"
    assert len(seen) == 1


def test_every_job_carries_its_apps_agency() -> None:
    # The probe runs each job with the context of its app's agency (probe/agent.py `JobRunner`).
    targets = [
        Target(app="web", agency="dinas-pu", checks=[HttpCheck(url="http://a/")],
               usage=[UsageSpec(metric="m", kind="gauge",
                                source=JsonSource(url="http://a/n", path="n"))]),
    ]  # fmt: skip
    jobs = jobs_for(targets, check_interval=60, usage_interval=60)
    assert {job.agency for job in jobs.values()} == {"dinas-pu"}
    moved = jobs_for([msgspec.structs.replace(targets[0], agency="dinkes")],
                     check_interval=60, usage_interval=60)  # fmt: skip
    # An app moved to another agency is a changed job (it now reads the other's secrets).
    assert all(moved[k].fingerprint != jobs[k].fingerprint for k in jobs)


# --- the probe's configuration ----------------------------------------------------------------


def write_config(tmp_path: Path, **fields: Any) -> Path:
    data = {"collector": {"url": "http://127.0.0.1:1"}, "zone": "lan", **fields}
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"secrets": ["DATABASE_URL"]}, "secrets: DATABASE_URL belongs to the probe"),
        ({"secrets": ["PANTAU_PROBE_TOKEN"]}, "secrets: PANTAU_PROBE_TOKEN belongs to the probe"),
        (
            {"collector": {"url": "http://x", "token_env": "PANTAU_SECRET_T"}, "secrets": []},
            "collector.token_env: PANTAU_SECRET_T matches PANTAU_SECRET_*",
        ),
        ({"secrets": ["SIMPUS_DSN"]}, "secrets: SIMPUS_DSN does not match PANTAU_SECRET_"),
        ({"deny_networks": ["10.0.0.1/8"]}, "deny_networks: '10.0.0.1/8' is not a network"),
        ({"allow_networks": ["nowhere"]}, "allow_networks: 'nowhere' is not a network"),
    ],
)
def test_config_refuses_releasing_the_probes_own_variables(
    tmp_path: Path, fields: dict[str, Any], words: str
) -> None:
    path = write_config(tmp_path, **fields)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert words in str(err.value)


async def test_the_agent_context_carries_the_configured_release(tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path,
            collector={"url": "http://x", "token_env": "MY_PROBE_TOKEN"},
            secrets=["PANTAU_SECRET_A_X"],
        )
    )
    assert isinstance(config, ProbeConfig)
    async with check_session(limit=1, guard=config.network_guard()) as session:
        ctx = check_context(config, session=session, env={})
    assert ctx.secrets.refusal("PANTAU_SECRET_A_X", agency="a") is None
    assert ctx.secrets.refusal("PANTAU_SECRET_A_Y", agency="a") is not None
    assert ctx.secrets.refusal("PANTAU_SECRET_A_X", agency="b") is not None
    assert ctx.secrets.refusal("MY_PROBE_TOKEN", agency="a") is not None
    assert ctx.secrets.refusal("DATABASE_URL", agency="a") is not None
