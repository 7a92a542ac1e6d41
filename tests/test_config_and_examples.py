"""The deploy examples stay true to the code, and bad config names file, field and reason."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from collector.catalog.spreadsheet import load_file
from collector.catalog.sync import load_yaml
from collector.config import ConfigError, load_config
from probe.config import ConfigError as ProbeConfigError
from probe.config import load_config as load_probe_config
from wire.specs import secret_env_names

EXAMPLES = Path(__file__).parent.parent / "deploy" / "examples"


def test_examples_are_valid() -> None:
    assert load_config(EXAMPLES / "collector.yaml").listen.port == 8080
    assert load_probe_config(EXAMPLES / "probe.yaml").zone == "dinkes-lan"
    catalog = load_yaml(EXAMPLES / "catalog.yaml")
    assert {a.id for a in catalog.apps} == {"website", "simpus", "p-care"}
    assert {a.id for a in load_file(EXAMPLES / "apps.csv").apps} == {"simpeg", "srikandi"}


def test_the_example_probe_releases_what_the_example_catalogue_names() -> None:
    probe = load_probe_config(EXAMPLES / "probe.yaml")
    release = probe.secret_release()
    apps = load_yaml(EXAMPLES / "catalog.yaml").apps
    specs = [(a.agency, s) for a in apps for s in a.checks]
    specs += [(a.agency, u.source) for a in apps for u in a.usage]
    names = {(agency, n) for agency, s in specs for _, n in secret_env_names(s)}
    assert names
    assert all(release.refusal(n, agency=agency) is None for agency, n in names)
    assert release.refusal("PANTAU_PROBE_TOKEN", agency="dinkes") is not None
    assert probe.network_guard().denied("127.0.0.1") is not None  # a production probe
    assert probe.network_guard().denied("169.254.169.254") is not None


# Each config file: its loader and the error that names the file, the field and the reason.
LOADERS: dict[str, tuple[Callable[[Path], object], type[Exception]]] = {
    "collector.yaml": (load_config, ConfigError),
    "probe.yaml": (load_probe_config, ProbeConfigError),
}


@pytest.mark.parametrize(
    ("file", "text", "says"),
    [
        ("collector.yaml", "listen:\n  port: 99999\n",
         r"collector\.yaml: .*<= 65535.*\$\.listen\.port"),
        ("collector.yaml", "metrics_refresh: 5\n", r"unknown field `metrics_refresh`"),
        ("collector.yaml", "timezone: Mars/Olympus\n",
         r"unknown time zone 'Mars/Olympus' - at `\$\.timezone`"),
        # The session cookie's setting must fit the portal's URL.
        ("collector.yaml", "base_url: http://pantau.local\n",
         r"http://.*Secure.*\$\.accounts\.cookie_secure"),
        ("collector.yaml",
         "base_url: https://pantau.kotimkab.go.id\naccounts: {cookie_secure: false}\n",
         r"must be Secure.*\$\.accounts\.cookie_secure"),
        ("collector.yaml", "accounts: {password_hashing: {memory_kib: 1024}}\n",
         r">= 19456.*\$\.accounts\.password_hashing\.memory_kib"),
        ("collector.yaml", "accounts: {trusted_proxies: [not-an-address]}\n",
         r"trusted_proxies: 'not-an-address' is not an address"),
        ("probe.yaml", "collector: {url: 'http://c:8080'}\nzone: lan\nconcurrency: 0\n",
         r"probe\.yaml: .*>= 1.*\$\.concurrency"),
        ("probe.yaml", "zone: lan\n", r"missing required field `collector`"),
    ],
)  # fmt: skip
def test_a_bad_config_names_file_field_and_reason(
    tmp_path: Path, file: str, text: str, says: str
) -> None:
    load, error = LOADERS[file]
    path = tmp_path / file
    path.write_text(text)
    with pytest.raises(error, match=says):
        load(path)


def test_an_insecure_cookie_is_allowed_on_a_loopback_http_url(tmp_path: Path) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text("base_url: http://127.0.0.1:8080\naccounts: {cookie_secure: false}\n")
    assert not load_config(path).accounts.cookie_secure


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (
            [
                "-m",
                "collector",
                "serve",
                "--check-config",
                "--config",
                str(EXAMPLES / "collector.yaml"),
            ],
            0,
            "configuration OK",
        ),
        (
            ["-m", "probe", "check", "--config", str(EXAMPLES / "probe.yaml")],
            2,
            "PANTAU_PROBE_TOKEN",
        ),
    ],
)
def test_check_config_commands(argv: list[str], code: int, text: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "PANTAU_LOG_LEVEL": "WARNING"}
    proc = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == code, proc.stderr
    assert text in proc.stdout + proc.stderr


def test_check_config_rejects_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "collector.yaml"
    bad.write_text("limits: {max_body_bytes: 10}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "serve", "--check-config", "--config", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "collector.yaml" in proc.stderr
    assert "$.limits.max_body_bytes" in proc.stderr
