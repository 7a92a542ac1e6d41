"""The Grafana dashboards and provisioning stay loadable and true to the metrics and schema.

Static checks only: no Grafana, no Prometheus. PromQL is parsed by `promtool check rules`
(each query as a recording rule; tests/tools.py finds promtool or installs Debian's package).
SQL is checked for the tables it reads; tests/grafana_queries.py renders both kinds of query
for tests against real servers.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana_queries import (
    DATASOURCES,
    GRAFANA,
    POSTGRES_TYPES,
    PROMETHEUS_TYPE,
    iter_panels,
    load_dashboards,
    prometheus_queries,
    sql_queries,
    target_datasource,
    variable_names,
    variable_queries,
)
from tests.tools import ToolUnavailable, require_tools

ROOT = Path(__file__).resolve().parent.parent
METRICS_DOC = ROOT / "docs" / "metrics.md"
MIGRATIONS = ROOT / "collector" / "migrations"
# Tables the dashboards read before a committed migration creates them; drop once it has.
PENDING_TABLES = {"incidents"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}

DASHBOARDS = load_dashboards()
NAMES = sorted(DASHBOARDS)
EXPECTED_UIDS = {"pantau-overview", "pantau-app", "pantau-health"}
SAMPLE_VARIABLES = {"agency": "dinkes", "app": "simpus"}


def provisioned_datasources() -> dict[str, str]:
    """uid -> type of every datasource in grafana/provisioning/datasources."""
    out: dict[str, str] = {}
    for path in sorted(DATASOURCES.glob("*.y*ml")):
        for ds in yaml.safe_load(path.read_text(encoding="utf-8")).get("datasources", []):
            out[ds["uid"]] = ds["type"]
    return out


def datasource_refs(dashboard: dict[str, Any]) -> list[tuple[str, Any]]:
    """(where, reference) for every datasource reference of a dashboard."""
    refs: list[tuple[str, Any]] = []
    for panel in iter_panels(dashboard):
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("type") != "row" or "datasource" in panel:
            refs.append((where, panel.get("datasource")))
        for target in panel.get("targets", []):
            refs.append((f"{where} target {target.get('refId')}", target.get("datasource")))
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            refs.append((f"variable ${var['name']}", var.get("datasource")))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        refs.append((f"annotation {annotation.get('name')!r}", annotation.get("datasource")))
    return refs


def query_texts(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, text) of every query of a dashboard: targets, variables, annotations."""
    out: list[tuple[str, str]] = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            for key in ("expr", "rawSql"):
                if target.get(key):
                    out.append((f"panel {panel.get('title')!r}", target[key]))
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        out.append((f"variable ${var['name']}", text))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        text = (annotation.get("target") or {}).get("rawSql", "")
        out.append((f"annotation {annotation.get('name')!r}", text))
    return out


def documented_metrics() -> dict[str, set[str]]:
    """metric name -> its labels, from the tables of docs/metrics.md."""
    metrics: dict[str, set[str]] = {}
    for line in METRICS_DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`pantau_"):
            continue
        names = re.findall(r"`(pantau_\w+)`", cells[0])
        labels = {
            label.strip()
            for label in re.sub(r"\([^)]*\)", "", cells[2]).split(",")
            if label.strip()
        }
        for name in names:
            metrics[name] = labels
            if cells[1] == "histogram":
                metrics[f"{name}_bucket"] = labels | {"le"}
                metrics[f"{name}_sum"] = labels
                metrics[f"{name}_count"] = labels
    return metrics


def yaml_strings(node: Any) -> list[str]:
    """Every string value in a parsed YAML document (what Grafana expands ${VAR} in)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in yaml_strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in yaml_strings(value)]
    return [node] if isinstance(node, str) else []


def known_tables() -> set[str]:
    tables: set[str] = set()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        tables.update(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", text, re.IGNORECASE))
    return tables


def tables_read(sql: str) -> set[str]:
    without_extract = re.sub(r"extract\s*\(\s*\w+\s+FROM", "extract(", sql, flags=re.IGNORECASE)
    return {
        name.lower()
        for name in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", without_extract, re.IGNORECASE)
    }


# --- files and ids ------------------------------------------------------------------------------


def test_every_dashboard_is_there_with_a_unique_uid() -> None:
    uids = [str(d.get("uid")) for d in DASHBOARDS.values()]
    assert sorted(uids) == sorted(EXPECTED_UIDS), uids
    titles = [d.get("title") for d in DASHBOARDS.values()]
    assert len(set(titles)) == len(titles), titles


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_shape(name: str) -> None:
    d = DASHBOARDS[name]
    assert isinstance(d.get("panels"), list)
    assert d["panels"]
    assert d["schemaVersion"] >= 36
    assert "id" not in d or d["id"] is None, "a provisioned dashboard must not carry a database id"
    assert "__inputs" not in d, "exported-for-sharing form: datasources must be fixed uids"


@pytest.mark.parametrize("name", NAMES)
def test_panel_ids_and_titles_are_unique(name: str) -> None:
    panels = list(iter_panels(DASHBOARDS[name]))
    assert all(isinstance(p.get("id"), int) for p in panels)
    ids = [int(p["id"]) for p in panels]
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    # prometheus_queries() names each query by its panel's title
    titles = [str(p.get("title") or "") for p in panels if p.get("type") != "row"]
    assert all(titles), "every panel has a title"
    assert len(set(titles)) == len(titles), sorted({t for t in titles if titles.count(t) > 1})


@pytest.mark.parametrize("name", NAMES)
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    boxes: list[tuple[str, int, int, int, int]] = []
    for panel in DASHBOARDS[name]["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0
        assert g["w"] > 0
        assert g["h"] > 0
        assert g["x"] + g["w"] <= 24, panel["title"]
        boxes.append((panel["title"], g["x"], g["y"], g["w"], g["h"]))
    for i, (a, ax, ay, aw, ah) in enumerate(boxes):
        for b, bx, by, bw, bh in boxes[i + 1 :]:
            overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
            assert not overlap, f"{a!r} overlaps {b!r}"


# --- datasources --------------------------------------------------------------------------------


def test_datasources_are_provisioned_with_fixed_uids_and_secrets_from_env() -> None:
    (path,) = sorted(DATASOURCES.glob("*.y*ml"))
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    by_uid = {ds["uid"]: ds for ds in config["datasources"]}
    assert by_uid["pantau-prometheus"]["type"] == PROMETHEUS_TYPE
    assert by_uid["pantau-prometheus"]["url"] == "${PROMETHEUS_URL}"
    pg = by_uid["pantau-postgres"]
    assert pg["type"] == "grafana-postgresql-datasource"
    assert pg["secureJsonData"]["password"] == "${PANTAU_DB_PASSWORD}"
    assert "password" not in pg, "the password goes in secureJsonData only"
    assert "database" in pg["jsonData"], "Grafana 11+ reads the database from jsonData"
    # Grafana has no ${VAR:-default}: every variable but the password has one in pantau.env.
    values = " ".join(yaml_strings(config))
    assert not re.search(r"\$\{\w+:-", values)
    used = set(re.findall(r"\$\{(\w+)\}", values))
    env = dict(
        line.split("=", 1)
        for line in (GRAFANA / "pantau.env").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert used - set(env) == {"PANTAU_DB_PASSWORD"}


def test_dashboard_provider_loads_the_pantau_folder() -> None:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "pantau.yml").read_text(encoding="utf-8")
    )
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "Pantau"
    assert provider["options"]["path"]


@pytest.mark.parametrize("name", NAMES)
def test_every_datasource_reference_names_a_provisioned_uid(name: str) -> None:
    provisioned = provisioned_datasources()
    assert set(provisioned) == {"pantau-prometheus", "pantau-postgres"}
    refs = datasource_refs(DASHBOARDS[name])
    assert refs
    for where, ref in refs:
        assert isinstance(ref, dict), f"{where}: datasource must be {{type, uid}}, got {ref!r}"
        assert ref.get("uid") in provisioned, f"{where}: unknown datasource uid {ref!r}"
        assert ref.get("type") == provisioned[ref["uid"]], f"{where}: wrong type in {ref!r}"
    for panel in iter_panels(DASHBOARDS[name]):
        for target in panel.get("targets", []):
            kind = target_datasource(panel, target).get("type")
            key = "expr" if kind == PROMETHEUS_TYPE else "rawSql"
            assert kind in (PROMETHEUS_TYPE, *POSTGRES_TYPES)
            assert target.get(key), f"panel {panel['title']!r} target {target['refId']}: no {key}"
        ref_ids = [t.get("refId") for t in panel.get("targets", [])]
        assert len(set(ref_ids)) == len(ref_ids), f"panel {panel['title']!r}: refIds {ref_ids}"


# --- variables ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_variables_used_in_queries_are_defined(name: str) -> None:
    d = DASHBOARDS[name]
    defined: list[str] = [v["name"] for v in d.get("templating", {}).get("list", [])]
    for where, text in query_texts(d):
        for var in variable_names(text):
            if var.startswith("__"):
                continue
            assert var in defined, f"{where} uses ${var}, not a variable of {name}"
            if where.startswith("variable $"):  # a variable may only use the ones before it
                own = where.removeprefix("variable $")
                assert defined.index(var) < defined.index(own), f"${own} uses ${var} defined later"


def test_the_app_board_has_agency_and_app_variables() -> None:
    variables = {v["name"]: v for v in DASHBOARDS["pantau-app.json"]["templating"]["list"]}
    assert variables["agency"]["query"] == "label_values(pantau_app_info, agency)"
    assert variables["app"]["query"] == 'label_values(pantau_app_info{agency=~"$agency"}, app)'
    assert not variables["app"]["multi"], "the SQL panels compare app_id = '$app'"
    assert not variables["app"]["includeAll"]


@pytest.mark.parametrize("name", NAMES)
def test_links_to_other_boards_use_their_uid_and_variables(name: str) -> None:
    by_uid = {d["uid"]: d for d in DASHBOARDS.values()}
    text = str(DASHBOARDS[name])
    for uid, query in re.findall(r"/d/([\w-]+)\?([^'\"]*)", text):
        assert uid in by_uid, f"link to unknown dashboard {uid}"
        wanted = set(re.findall(r"var-(\w+)=", query))
        have = {v["name"] for v in by_uid[uid].get("templating", {}).get("list", [])}
        assert wanted <= have, f"link to {uid} sets {wanted - have}"


# --- queries ------------------------------------------------------------------------------------


def test_prometheus_queries_helper_substitutes_everything() -> None:
    for name, d in DASHBOARDS.items():
        queries = prometheus_queries(d, SAMPLE_VARIABLES)
        assert queries, name
        for title, expr in queries:
            assert "$" not in expr, (name, title, expr)
            assert title
    app = dict(prometheus_queries(DASHBOARDS["pantau-app.json"], SAMPLE_VARIABLES))
    assert 'app="simpus"' in app["Uptime (rentang waktu / time range)"]
    assert "[30d]" in app["Uptime (rentang waktu / time range)"]
    with pytest.raises(KeyError, match=r"\$app"):
        prometheus_queries(DASHBOARDS["pantau-app.json"], {"agency": "dinkes"})
    overridden = prometheus_queries(
        DASHBOARDS["pantau-health.json"], {"__rate_interval": "5m", "__range": "1h"}
    )
    assert any("[5m]" in expr for _, expr in overridden)


@pytest.mark.parametrize("name", NAMES)
def test_queries_use_documented_metrics_and_labels(name: str) -> None:
    documented = documented_metrics()
    assert "pantau_app_state" in documented
    d = DASHBOARDS[name]
    queries = prometheus_queries(d, SAMPLE_VARIABLES) + variable_queries(d, SAMPLE_VARIABLES)
    for title, expr in queries:
        used = set(re.findall(r"\bpantau_\w+", expr))
        assert used, f"{title!r} reads no pantau_ metric: {expr}"
        unknown = used - set(documented)
        assert not unknown, f"{title!r}: {sorted(unknown)} not in docs/metrics.md"
        allowed = set().union(*(documented[m] for m in used)) | TARGET_LABELS
        for metric, matchers in re.findall(r"\b(pantau_\w+)\s*\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                assert label in documented[metric] | TARGET_LABELS, (
                    f"{title!r}: {metric} has no label {label!r}"
                )
        for clause in re.findall(
            r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr
        ):
            for label in (x.strip() for x in clause.split(",") if x.strip()):
                assert label in allowed, f"{title!r}: label {label!r} is on none of {used}"


@pytest.mark.parametrize("name", NAMES)
def test_promql_parses(name: str, tmp_path: Path) -> None:
    try:
        promtool = require_tools({"promtool": "prometheus"})["promtool"]
    except ToolUnavailable as e:  # fail, not skip: the queries must have been parsed
        pytest.fail(str(e))
    d = DASHBOARDS[name]
    queries = prometheus_queries(d, SAMPLE_VARIABLES) + variable_queries(d, SAMPLE_VARIABLES)
    rules = [
        {"record": f"pantau_dashboard:query_{i}", "expr": q} for i, (_, q) in enumerate(queries, 1)
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": d["uid"], "rules": rules}]}))
    run = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    if run.returncode != 0:
        # promtool names failing rules by index ("rule 7"): put the panel titles next to them
        index = "\n".join(f"  rule {i}: {title}" for i, (title, _) in enumerate(queries, 1))
        pytest.fail(f"promtool check rules failed:\n{run.stdout}{run.stderr}\nrules:\n{index}")
    assert f"SUCCESS: {len(rules)} rules found" in run.stdout, run.stdout


@pytest.mark.parametrize("name", NAMES)
def test_sql_is_read_only_and_reads_known_tables(name: str) -> None:
    known = known_tables() | PENDING_TABLES
    assert {"apps", "agencies"} <= known
    for title, query in sql_queries(DASHBOARDS[name], SAMPLE_VARIABLES):
        assert re.match(r"^\s*SELECT\b", query, re.IGNORECASE), f"{title!r} is not a SELECT"
        assert ";" not in query, f"{title!r}: one statement only"
        tables = tables_read(query)
        assert tables, f"{title!r} reads no table"
        assert tables <= known, f"{title!r} reads unknown tables {sorted(tables - known)}"
        if "incidents" in tables:
            assert re.search(r"app_id\s*=\s*'simpus'|agency_id IN \('dinkes'\)", query), query


def test_sql_helper_quotes_like_grafana() -> None:
    (_, overview_sql) = sql_queries(DASHBOARDS["pantau-overview.json"], {"agency": "o'neil"})[0]
    assert "IN ('o''neil')" in overview_sql
    queries = dict(sql_queries(DASHBOARDS["pantau-app.json"], SAMPLE_VARIABLES))
    mttr = queries["Rata-rata pemulihan / Mean time to recover"]
    assert "ended_at BETWEEN now() - interval '30 days' AND now()" in mttr
    assert "$" not in "".join(queries.values())
    assert "annotation: Insiden / Incidents" in queries
