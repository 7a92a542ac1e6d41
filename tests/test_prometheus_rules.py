"""Prometheus and Alertmanager configuration in deploy/: valid, rules unit-tested, routes right.

Runs Debian's promtool and amtool (packages prometheus and prometheus-alertmanager; installed by
tests/tools.py when missing and possible). The rule behaviour itself is specified in
deploy/prometheus/tests/*.yml; these tests run it and keep the files consistent with each other.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools import ToolUnavailable, require_tools

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTMANAGER = ROOT / "deploy" / "alertmanager"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))

TOOLS = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


@pytest.fixture(scope="session")
def tools() -> dict[str, str]:
    try:
        return require_tools(TOOLS)
    except ToolUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for path in RULE_FILES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


# --- Prometheus ---------------------------------------------------------------------------------


def test_prometheus_config_is_valid(tools: dict[str, str]) -> None:
    done = run(tools["promtool"], "check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert "2 rule files found" in done.stdout


def test_rule_files_are_valid(tools: dict[str, str]) -> None:
    assert [p.name for p in RULE_FILES] == ["pantau-alerts.yml", "pantau-recording.yml"]
    run(tools["promtool"], "check", "rules", *map(str, RULE_FILES))


def test_rule_unit_tests_pass(tools: dict[str, str]) -> None:
    assert RULE_TESTS
    done = run(tools["promtool"], "test", "rules", *map(str, RULE_TESTS), cwd=PROMETHEUS)
    assert done.stdout.count("SUCCESS") == len(RULE_TESTS), done.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for group in load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = set(alert_rules())
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested not firing"
    assert (firing | silent) - names == set(), "tests name alerts that do not exist"


def test_alerts_carry_what_the_messages_need() -> None:
    for name, rule in alert_rules().items():
        annotations = rule.get("annotations", {})
        assert {"summary", "description"} <= annotations.keys(), name
        uses_info = "pantau_app_info" in rule["expr"]
        if uses_info:
            # app alerts: routable by managed_by, with the portal link; no people (personal data)
            assert "managed_by" in rule["expr"], name
            assert "app_url" in annotations, name
            assert "owner" not in rule["expr"], name
            assert "contact" not in annotations, name
            assert "$externalLabels.pantau_url" in annotations["app_url"], name
        assert "severity" in rule.get("labels", {}) or "severity" in rule["expr"], name


def test_recording_rules_follow_the_naming_convention() -> None:
    records = [
        rule["record"]
        for group in load(PROMETHEUS / "rules" / "pantau-recording.yml")["groups"]
        for rule in group["rules"]
    ]
    assert records, "no recording rules"
    for name in records:
        assert re.fullmatch(r"(app|agency):pantau_app_up:ratio_(1d|7d|30d)", name), name
    assert {f"app:pantau_app_up:ratio_{w}" for w in ("1d", "7d", "30d")} <= set(records)


def test_external_label_for_links_is_set() -> None:
    config = load(PROMETHEUS / "prometheus.yml")
    assert config["global"]["external_labels"]["pantau_url"].startswith("https://")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"pantau-collector", "pantau-probe"}
    for entry in load(PROMETHEUS / "probes" / "probes.yml"):
        assert {"probe", "zone"} <= entry["labels"].keys()


# --- Alertmanager -------------------------------------------------------------------------------


def test_alertmanager_config_is_valid(tools: dict[str, str]) -> None:
    done = run(tools["amtool"], "check-config", "alertmanager.yml", cwd=ALERTMANAGER)
    assert "1 templates" in done.stdout  # the template glob matched and parsed


ROUTES = [
    pytest.param(
        {"alertname": "PantauAppDown", "app": "p-care", "agency": "dinkes",
         "managed_by": "central", "severity": "warning"},
        "liaison-central", id="central app of dinkes -> liaison",
    ),
    pytest.param(
        {"alertname": "PantauTLSCertExpiryCritical", "app": "sipd", "agency": "bappelitbangda",
         "managed_by": "central", "severity": "critical"},
        "liaison-central", id="central app TLS -> liaison",
    ),
    pytest.param(
        {"alertname": "PantauAppDown", "app": "e-retribusi", "agency": "bpkpd",
         "managed_by": "vendor", "severity": "critical"},
        "vendor-coordination", id="vendor app -> vendor coordination",
    ),
    pytest.param(
        {"alertname": "PantauAppDown", "app": "simpus", "agency": "dinkes",
         "managed_by": "self", "severity": "warning"},
        "team-dinkes", id="self-run dinkes app -> dinkes team",
    ),
    pytest.param(
        {"alertname": "PantauAppUsageDropped", "app": "simrs", "agency": "rsud",
         "managed_by": "self", "severity": "warning", "metric": "visits"},
        "team-rsud", id="self-run rsud app -> rsud team",
    ),
    pytest.param(
        {"alertname": "PantauAppDown", "app": "website", "agency": "diskominfo",
         "managed_by": "self", "severity": "critical"},
        "ops-diskominfo", id="self-run diskominfo app -> ops",
    ),
    pytest.param(
        {"alertname": "PantauProbeSilent", "probe": "probe-dinkes-1", "zone": "dinkes-lan",
         "severity": "warning"},
        "ops-diskominfo", id="probe silent -> ops",
    ),
    pytest.param(
        {"alertname": "PantauCollectorIngestFailing", "reason": "db_unavailable",
         "severity": "critical"},
        "ops-diskominfo", id="collector -> ops",
    ),
    pytest.param({"alertname": "Whatever", "team": "unknown"}, "ops-diskominfo", id="unknown -> ops"),
]  # fmt: skip


@pytest.mark.parametrize(("labels", "receiver"), ROUTES)
def test_routes(tools: dict[str, str], labels: dict[str, str], receiver: str) -> None:
    done = run(
        tools["amtool"], "config", "routes", "test", "--config.file=alertmanager.yml",
        f"--verify.receivers={receiver}", *(f"{k}={v}" for k, v in labels.items()),
        cwd=ALERTMANAGER,
    )  # fmt: skip
    assert done.stdout.strip() == receiver


def _alertname_matchers(matchers: list[str]) -> list[re.Pattern[str]]:
    patterns = []
    for matcher in matchers:
        found = re.fullmatch(r'alertname\s*(=~|=)\s*"?([^"]*)"?', matcher)
        if found:
            op, value = found.groups()
            patterns.append(re.compile(value if op == "=~" else re.escape(value)))
    return patterns


def test_inhibit_rules_and_routes_name_existing_alerts() -> None:
    """Renaming an alert must not silently break an inhibition or a route."""
    names = set(alert_rules())
    config = load(ALERTMANAGER / "alertmanager.yml")
    matchers = [m for rule in config["inhibit_rules"] for side in ("source_matchers",
                "target_matchers") for m in rule[side]]  # fmt: skip
    matchers += [m for route in config["route"]["routes"] for m in route.get("matchers", [])]
    patterns = _alertname_matchers(matchers)
    assert patterns
    for pattern in patterns:
        assert any(pattern.fullmatch(name) for name in names), pattern.pattern


def _render(amtool: str, template: str, data: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    done = run(
        amtool, "template", "render", "--template.glob=templates/*.tmpl",
        f'--template.text={{{{ template "{template}" . }}}}', f"--template.data={path}",
        cwd=ALERTMANAGER,
    )  # fmt: skip
    assert "<no value>" not in done.stdout
    return done.stdout


def _alert(status: str, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": "2025-11-29T01:15:00Z",
        "endsAt": "2025-11-29T02:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=pantau_app_up",
        "fingerprint": labels["app"],
    }


def test_messages_read_at_a_glance(tools: dict[str, str], tmp_path: Path) -> None:
    labels = {"alertname": "PantauAppDown", "app": "simpus", "agency": "dinkes",
              "managed_by": "self", "severity": "critical"}  # fmt: skip
    annotations = {
        "summary": "simpus (dinkes) tidak dapat diakses / is down",
        "description": "Aplikasi simpus milik dinkes gagal diperiksa.",
        "app_url": "https://pantau.kotimkab.go.id/apps/simpus?from=R&D <Puskesmas>",
    }
    resolved_labels = {**labels, "app": "e-kinerja", "severity": "warning"}
    data = {
        "receiver": "team-dinkes",
        "status": "firing",
        "alerts": [
            _alert("firing", labels, annotations),
            _alert("resolved", resolved_labels, {"summary": "e-kinerja (dinkes) pulih"}),
        ],
        "groupLabels": {"alertname": "PantauAppDown", "agency": "dinkes"},
        "commonLabels": {"alertname": "PantauAppDown", "agency": "dinkes", "managed_by": "self"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
    }
    telegram = _render(tools["amtool"], "pantau.telegram.message", data, tmp_path)
    assert telegram.startswith("<b>🔴 KRITIS / CRITICAL</b> · PantauAppDown\n")
    assert "<b>simpus (dinkes) tidak dapat diakses / is down</b>" in telegram
    assert "Aplikasi: <b>simpus</b> · OPD: dinkes · dikelola: mandiri / self" in telegram
    assert "Sejak / since: 29-11-2025 08:15 WIB" in telegram  # 01:15 UTC in WIB
    # text escaped for Telegram's HTML parse mode
    assert "🔗 https://pantau.kotimkab.go.id/apps/simpus?from=R&amp;D &lt;Puskesmas&gt;" in telegram
    assert "Pemilik" not in telegram  # no owner: not in the metrics (personal data)
    assert "<b>✅ PULIH / RESOLVED</b>" in telegram
    assert "29-11-2025 08:15 WIB → 29-11-2025 09:00 WIB" in telegram
    assert len(telegram) < 1000  # Telegram's limit is 4096; this is one screen

    subject = _render(tools["amtool"], "pantau.email.subject", data, tmp_path)
    assert subject == "[Pantau] FIRING: PantauAppDown, 2 peringatan / alerts"
    single = {**data, "alerts": data["alerts"][:1], "commonLabels": labels,
              "commonAnnotations": annotations}  # fmt: skip
    subject = _render(tools["amtool"], "pantau.email.subject", single, tmp_path)
    assert subject == "[Pantau] CRITICAL: simpus (dinkes) tidak dapat diakses / is down"
    text = _render(tools["amtool"], "pantau.email.text", single, tmp_path)
    assert "Pemilik" not in text
    assert "Halaman / page : https://pantau.kotimkab.go.id/apps/simpus" in text
