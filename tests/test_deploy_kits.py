"""The deploy kits of deploy/: the container image, the Compose file and the Kubernetes manifests.

- Containerfile: hadolint (no warnings); built on a Debian base made by `debootstrap` (no image
  registry is reachable) with Debian's podman, and the collector run from it against the tests'
  PostgreSQL on the host network. The base tarball and the built image are cached outside the
  repository (PANTAU_TEST_CACHE, default /var/cache/pantau-tests), the image keyed by the hash of
  everything the build copies, so an unchanged tree does not rebuild.
- compose.yaml: `docker-compose config` (Debian's, which checks it against the Compose schema),
  every mounted file present, every variable in .env.example, .env never committed, and the SQL
  of its grafana-reader service run against the real PostgreSQL.
- Kubernetes: `kubectl kustomize` renders base and overlay; every object validated by
  kubernetes-validate against KUBERNETES_VERSION; the shape the issue asks for asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import asyncpg
import kubernetes_validate
import pytest
import yaml

from collector.review.render.pdf import DEBIAN_PACKAGES
from tests.pg import create_test_database, drop_test_database
from tests.tools import require_tools

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
COMPOSE_DIR = DEPLOY / "compose"
K8S = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.34.0"
CACHE = Path(os.environ.get("PANTAU_TEST_CACHE", "/var/cache/pantau-tests"))

# --------------------------------------------------------------------------- container image


def test_containerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(CONTAINERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_containerfile_shape() -> None:
    text = CONTAINERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # multi-stage: build, then runtime
    assert re.search(r"^USER 10001", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*pantau-healthcheck", text, re.M)
    assert 'VOLUME ["/etc/pantau", "/var/lib/pantau-probe"]' in text
    for package in DEBIAN_PACKAGES:
        assert package in text  # WeasyPrint's PDF review
    # Each `hadolint ignore` says why on the line above it.
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert lines[i - 1].startswith("#"), line
            assert "hadolint" not in lines[i - 1], line


# Podman as root in this kind of sandbox: no overlay in a nested mount (vfs), cgroup v1 managed by
# cgroupfs, and no CAP_SYS_RESOURCE, so the container's rlimits must not exceed the host's (runc
# applies them; crun refuses a hybrid cgroup layout).
_ENGINE_RUNTIME = ["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
_LIMITS = ["--ulimit", "nofile=8192:8192", "--ulimit", "nproc=4096:4096"]
# Podman runs a HEALTHCHECK from a systemd timer, and there is no systemd here: the tests run the
# check themselves (`podman healthcheck run`).
_RUN = [*_LIMITS, "--health-interval", "disable"]
_BUILD_TIMEOUT = 1200  # the first build downloads the wheels; later runs reuse the image
_DEBOOTSTRAP_TIMEOUT = 900


class Podman:
    def __init__(self, podman: str, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.base = [
            podman,
            "--root",
            str(store / "storage"),
            "--runroot",
            f"/run/pantau-tests-podman-{hashlib.sha256(str(store).encode()).hexdigest()[:8]}",
            *_ENGINE_RUNTIME,
        ]

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args[:3])} exited {done.returncode}: {done.stderr[-3000:]}"
            )
        return done


def _debian_mirror() -> str:
    """The Debian mirror apt is configured with (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        if not path.is_file():
            continue
        for match in re.finditer(
            r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)", path.read_text(), re.M
        ):
            if not match.group(1).rstrip("/").endswith("-security"):
                return match.group(1)
    return "http://deb.debian.org/debian"


def _base_image(podman: Podman) -> str:
    """A Debian 12 base image made from Debian's packages (debootstrap, then import)."""
    tag = "localhost/pantau-test-base:bookworm-minbase-2"
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    tarball = CACHE / "debian-bookworm-minbase-2.tar"
    if not tarball.exists():
        debootstrap = require_tools({"debootstrap": "debootstrap"})["debootstrap"]
        with tempfile.TemporaryDirectory(prefix="pantau-rootfs-", dir=CACHE) as rootfs:
            done = subprocess.run(
                [debootstrap, "--variant=minbase", "bookworm", rootfs, _debian_mirror()],
                capture_output=True,
                text=True,
                timeout=_DEBOOTSTRAP_TIMEOUT,
                check=False,
            )
            assert done.returncode == 0, f"debootstrap: {done.stdout[-2000:]}{done.stderr[-2000:]}"
            os.chmod(rootfs, 0o755)  # the image's / (a temporary directory is 0700)
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", rootfs, "-cf", str(partial), "."], check=True, timeout=300)
            partial.rename(tarball)
    podman("import", str(tarball), tag, timeout=300)
    return tag


def _context_hash(base: str) -> str:
    """Hash of the base, of everything the build copies (see .dockerignore) and the Containerfile."""
    digest = hashlib.sha256(base.encode() + b"\0")
    files = [ROOT / "pyproject.toml", ROOT / "README.md", ROOT / ".dockerignore"]
    for folder in ("collector", "probe", "wire", "deploy/container"):
        files += sorted(
            p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@pytest.fixture(scope="module")
def pantau_image() -> tuple[Podman, str]:
    tools = require_tools({"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"})
    CACHE.mkdir(parents=True, exist_ok=True)
    podman = Podman(tools["podman"], CACHE / "podman")
    base = _base_image(podman)
    # Where the engine cannot run a container at all, say so with its own words (the lint and the
    # other kits are still tested); anything after this point is a failure, not a skip.
    probe = podman("run", "--rm", "--network", "host", *_LIMITS, base, "true", check=False)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container on this machine: {probe.stderr.strip()}")
    tag = f"localhost/pantau-test:{_context_hash(base)}"
    if podman("image", "exists", tag, check=False).returncode != 0:
        # pip inside the build trusts what the host's pip trusts (a TLS-inspecting proxy's CA).
        ca = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
        podman(
            "build",
            "--format",
            "docker",  # HEALTHCHECK is a Docker-format field; OCI images drop it
            "--network",
            "host",
            *_LIMITS,
            "--volume",
            f"{ca}:/run/pantau-build-ca.pem:ro",
            "--build-arg",
            "PIP_CERT=/run/pantau-build-ca.pem",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "-f",
            str(CONTAINERFILE),
            "-t",
            tag,
            str(ROOT),
            timeout=_BUILD_TIMEOUT,
        )
        # vfs keeps a full copy per layer: drop the images of earlier trees.
        listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        stale = [t for t in listed if t.startswith("localhost/pantau-test:") and t != tag]
        if stale:
            podman("rmi", *stale, check=False)
        podman("image", "prune", "-f", check=False)
    return podman, tag


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _database_for_container(url: str) -> tuple[str, list[str]]:
    """The tests' database as the container reaches it: a TCP address as it is (host network);
    a Unix socket (the embedded server's, in its 0700 data directory) bind-mounted by itself
    where the container's user 10001 can reach it."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    socket_dir = query.get("host", [""])[0]
    if not socket_dir.startswith("/"):
        return url, []
    port = query.get("port", [str(parts.port or 5432)])[0]
    inside = "/run/pantau-pg"
    query["host"] = [inside]
    mount = f"{socket_dir}/.s.PGSQL.{port}:{inside}/.s.PGSQL.{port}"
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True))), ["-v", mount]


def test_image_metadata(pantau_image: tuple[Podman, str]) -> None:
    podman, tag = pantau_image
    info = json.loads(podman("image", "inspect", tag).stdout)[0]
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert set(config["Volumes"]) == {"/etc/pantau", "/var/lib/pantau-probe"}
    assert config["Cmd"] == ["pantau-collector", "serve"]
    healthcheck = info.get("Healthcheck") or config["Healthcheck"]  # podman puts it outside Config
    assert healthcheck["Test"] == ["CMD", "python3", "/usr/local/bin/pantau-healthcheck"]


@pytest.fixture
async def empty_db(migrated_template: str) -> AsyncIterator[str]:
    """A database with no schema yet: the collector in the container migrates it."""
    url = await create_test_database(migrated_template, migrated=False)
    yield url
    await drop_test_database(migrated_template, url)


async def test_image_runs_the_collector(
    pantau_image: tuple[Podman, str], empty_db: str, tmp_path: Path
) -> None:
    podman, tag = pantau_image
    port = _free_port()
    config = tmp_path / "collector.yaml"
    config.write_text(f"listen:\n  host: 127.0.0.1\n  port: {port}\n")
    probe_yaml = tmp_path / "probe.yaml"
    probe_yaml.write_text((COMPOSE_DIR / "probe.yaml").read_text())
    name = f"pantau-test-collector-{os.getpid()}"
    url, mounts = _database_for_container(empty_db)
    podman(
        "run", "-d", "--name", name, "--network", "host", *_RUN, *mounts,
        "-v", f"{config}:/etc/pantau/collector.yaml:ro",
        "-v", f"{probe_yaml}:/etc/pantau/probe.yaml:ro",
        "-e", f"DATABASE_URL={url}",
        "-e", f"PANTAU_HEALTH_URL=http://127.0.0.1:{port}/healthz",
        tag,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120  # a bound on start-up, not a speed goal
        status: int | None = None
        while time.monotonic() < deadline:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                state = podman("inspect", "-f", "{{.State.Status}}", name).stdout.strip()
                assert state == "running", podman("logs", name).stderr[-3000:]
                time.sleep(0.5)
        assert status == 200, podman("logs", name, check=False).stderr[-3000:]
        assert body == {"status": "ok"}
        status, body = _get(f"http://127.0.0.1:{port}/readyz")
        assert (status, body["status"]) == (200, "ready")
        assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
        # The image's HEALTHCHECK command, run by the engine.
        assert podman("healthcheck", "run", name, check=False).returncode == 0
        # The probe's command is in the same image (run where the container already is: with
        # vfs storage each new container is a full copy of the image).
        done = podman(
            "exec", "-e", "PANTAU_PROBE_TOKEN=pantau_test", name,
            "pantau-probe", "check", "--config", "/etc/pantau/probe.yaml",
        )  # fmt: skip
        assert "configuration OK" in done.stdout
        assert "zone dc" in done.stdout
        # WeasyPrint finds Pango and a font in the runtime image: the PDF review works there.
        script = "import weasyprint; print(weasyprint.HTML(string='<p>Ulasan</p>').write_pdf()[:5])"
        done = podman("exec", name, "python", "-c", script)
        assert done.stdout.strip() == "b'%PDF-'"
    finally:
        podman("rm", "-f", "-t", "10", name, check=False)
    conn = await asyncpg.connect(empty_db)
    try:  # the collector migrated the (empty) database it was given
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") > 0
    finally:
        await conn.close()


# --------------------------------------------------------------------------- compose

_COMPOSE = COMPOSE_DIR / "compose.yaml"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_COMPOSE.read_text())
    return data


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (COMPOSE_DIR / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_compose_config_is_valid(tmp_path: Path) -> None:
    compose = require_tools({"docker-compose": "docker-compose"})["docker-compose"]
    env = tmp_path / "test.env"
    env.write_text(
        "\n".join(f"{k}={v or 'secret-' + k.lower()}" for k, v in _env_example().items()) + "\n"
    )
    done = subprocess.run(
        [compose, "--env-file", str(env), "-f", str(_COMPOSE), "config"],
        cwd=COMPOSE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    services = rendered["services"]
    assert set(services) >= {
        "postgres", "migrate", "pantau-collector", "pantau-probe", "prometheus", "alertmanager",
        "grafana",
    }  # fmt: skip
    # Migrations before the collector starts.
    assert services["migrate"]["command"] == ["pantau-collector", "migrate"]
    assert services["pantau-collector"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert "secret-postgres_password" in services["pantau-collector"]["environment"]["DATABASE_URL"]
    # A required secret left out of .env stops compose with the variable named.
    env.write_text("GRAFANA_DB_PASSWORD=x\nGRAFANA_ADMIN_PASSWORD=x\n")
    done = subprocess.run(
        [compose, "--env-file", str(env), "-f", str(_COMPOSE), "config"],
        cwd=COMPOSE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD" in done.stderr


def test_compose_mounts_exist_and_match_prometheus() -> None:
    data = _compose()
    for name, service in data["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                continue  # a named volume
            path = (COMPOSE_DIR / source).resolve()
            if path.is_relative_to(COMPOSE_DIR / "secrets"):
                continue  # made by the operator, never committed (deploy/README.md)
            assert path.exists(), f"{name} mounts {source}, which is not in the repository"
    # ../prometheus/prometheus.yml is mounted as it is: its targets are the compose services.
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t.split(":")[0]
        for job in prometheus["scrape_configs"]
        for sc in job.get("static_configs", [])
        for t in sc["targets"]
    ] + [
        t.split(":")[0]
        for am in prometheus["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    assert set(targets) <= set(data["services"]), targets
    # The probe Prometheus scrapes carries the labels of the probe's own configuration.
    probe = yaml.safe_load((COMPOSE_DIR / "probe.yaml").read_text())
    (entry,) = yaml.safe_load((COMPOSE_DIR / "prometheus-probes.yml").read_text())
    assert entry["labels"] == {"probe": probe["name"], "zone": probe["zone"]}
    assert entry["targets"] == [f"pantau-probe:{probe['metrics_listen']['port']}"]


def test_compose_env_example_lists_every_variable() -> None:
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", _COMPOSE.read_text()))
    assert used, "compose.yaml uses no variables?"
    missing = used - set(_env_example())
    assert not missing, f".env.example lacks {sorted(missing)}"
    # Secrets are never committed: .env and secrets/ are ignored by git.
    for path in ("deploy/compose/.env", "deploy/compose/secrets/alertmanager-smtp-password"):
        done = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=ROOT, timeout=30, check=False
        )
        assert done.returncode == 0, f"{path} is not in .gitignore"


async def test_compose_grafana_reader_sql(fresh_db: str) -> None:
    psql = require_tools({"psql": "postgresql-client"})["psql"]
    env = {**os.environ, "GRAFANA_DB_PASSWORD": "reader-secret"}
    for _ in range(2):  # idempotent: every `compose up` runs it again
        done = subprocess.run(
            [psql, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-d", fresh_db, "-f",
             str(COMPOSE_DIR / "grafana-reader.sql")],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    conn = await asyncpg.connect(fresh_db, user="grafana_pantau", password="reader-secret")
    try:
        assert await conn.fetchval("SELECT count(*) FROM apps") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT count(*) FROM tokens")  # token hashes stay private
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("CREATE TEMP TABLE t (x int)")
    finally:
        await conn.close()
    admin = await asyncpg.connect(fresh_db)
    try:
        await admin.execute("DROP OWNED BY grafana_pantau")
        await admin.execute("DROP ROLE grafana_pantau")
    finally:
        await admin.close()


# --------------------------------------------------------------------------- kubernetes


def _kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = require_tools({"kubectl": "kubectl"})["kubectl"]
    done = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return _kustomize(K8S / "overlays" / "example")


@pytest.mark.parametrize("kustomization", ["base", "overlays/example"])
def test_kubernetes_objects_validate(kustomization: str) -> None:
    objects = _kustomize(K8S / kustomization)
    assert objects
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}"
            ) from exc


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _pod_security(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    for container in pod.get("initContainers", []) + pod["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]


def test_kubernetes_collector(overlay: list[dict[str, Any]]) -> None:
    deployment = _one(overlay, "Deployment", "pantau-collector")
    assert deployment["metadata"]["namespace"] == "pantau"
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    _pod_security(pod)
    (init,) = pod["initContainers"]
    assert init["command"] == ["pantau-collector", "migrate"]
    (main,) = pod["containers"]
    assert main["command"] == ["pantau-collector", "serve"]
    assert main["image"] == init["image"] == "registry.kotimkab.go.id/diskominfo/pantau:0.1.0"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    port = main["ports"][0]
    assert (port["name"], port["containerPort"]) == ("http", 8080)
    # The mounted config is the overlay's, and it listens where the probes and Service look.
    (config_volume,) = [v for v in pod["volumes"] if "configMap" in v]
    config_map = _one(overlay, "ConfigMap", config_volume["configMap"]["name"])
    config = yaml.safe_load(config_map["data"]["collector.yaml"])
    assert config["listen"] == {"host": "0.0.0.0", "port": 8080}
    assert config["base_url"].startswith("https://")
    service = _one(overlay, "Service", "pantau-collector")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = _one(overlay, "PodDisruptionBudget", "pantau-collector")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert pdb["spec"]["minAvailable"] == 1


def test_kubernetes_probe_per_zone(overlay: list[dict[str, Any]]) -> None:
    probes = [
        o
        for o in overlay
        if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("pantau-probe-")
    ]
    zones = set()
    for deployment in probes:
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"
        template = deployment["spec"]["template"]
        pod = template["spec"]
        _pod_security(pod)
        assert pod["securityContext"]["fsGroup"] == 10001
        (container,) = pod["containers"]
        assert container["command"][:2] == ["pantau-probe", "run"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        claim = volumes[mounts["/var/lib/pantau-probe"]]["persistentVolumeClaim"]["claimName"]
        assert _one(overlay, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == [
            "ReadWriteOnce"
        ]
        config_map = _one(overlay, "ConfigMap", volumes[mounts["/etc/pantau"]]["configMap"]["name"])
        config = yaml.safe_load(config_map["data"]["probe.yaml"])
        assert config["spool"]["path"].startswith("/var/lib/pantau-probe/")
        assert config["collector"]["url"] == "http://pantau-collector:8080"
        # Prometheus (prometheus-scrape.yml) labels the target from these pod labels.
        labels = template["metadata"]["labels"]
        assert (labels["pantau.io/zone"], labels["pantau.io/probe"]) == (
            config["zone"],
            config["name"],
        )
        zones.add(config["zone"])
    assert zones == {"dc", "dinkes-lan"}


def test_kubernetes_secrets_referenced_never_filled(overlay: list[dict[str, Any]]) -> None:
    assert not [o for o in overlay if o["kind"] == "Secret"]
    refs = set()
    for obj in overlay:
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            for env in container.get("env", []):
                assert "value" not in env, f"{env['name']} set in a manifest"
                refs.add(env["valueFrom"]["secretKeyRef"]["name"])
    assert refs == {"pantau-database", "pantau-smtp", "pantau-probe-dc", "pantau-probe-dinkes-lan"}
    # The README says how to create each one.
    readme = (DEPLOY / "README.md").read_text()
    for name in refs - {"pantau-smtp"}:
        assert f"secret generic {name}" in readme


def test_kubernetes_scrape_example(overlay: list[dict[str, Any]], tmp_path: Path) -> None:
    scrape = yaml.safe_load((K8S / "prometheus-scrape.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    # The collector through its Service: one target, as the alert rules assume.
    service = _one(overlay, "Service", "pantau-collector")
    port = service["spec"]["ports"][0]["port"]
    (static,) = jobs["pantau-collector"]["static_configs"]
    assert static["targets"] == [f"pantau-collector.{service['metadata']['namespace']}.svc:{port}"]
    # The probes by pod discovery, selected by the label their pods carry.
    (sd,) = jobs["pantau-probe"]["kubernetes_sd_configs"]
    assert sd["role"] == "pod"
    assert sd["namespaces"]["names"] == [service["metadata"]["namespace"]]
    key, _, value = sd["selectors"][0]["label"].partition("=")
    for deployment in overlay:
        if (
            deployment["metadata"]["name"].startswith("pantau-probe-")
            and deployment["kind"] == "Deployment"
        ):
            assert deployment["spec"]["template"]["metadata"]["labels"][key] == value
    # promtool checks the rest (relabelling). Debian's Prometheus is built without Kubernetes
    # discovery, so its promtool gets the job with static targets in place of the discovery.
    promtool = require_tools({"promtool": "prometheus"})["promtool"]
    jobs["pantau-probe"]["static_configs"] = [{"targets": ["probe.invalid:9470"]}]
    del jobs["pantau-probe"]["kubernetes_sd_configs"]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(scrape))
    done = subprocess.run(
        [promtool, "check", "config", str(checked)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------- configuration files

_COLLECTOR_CONFIGS = [
    DEPLOY / "container" / "collector.yaml",
    K8S / "base" / "collector-config.yaml",
    K8S / "overlays" / "example" / "collector.yaml",
]
_PROBE_CONFIGS = [
    COMPOSE_DIR / "probe.yaml",
    K8S / "base" / "probe-dc-config.yaml",
    K8S / "overlays" / "example" / "probe-dinkes-lan-config.yaml",
]


@pytest.mark.parametrize("path", _COLLECTOR_CONFIGS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kit_collector_configs_load(path: Path) -> None:
    from collector.config import load_config

    config = load_config(path)
    # In a container the collector must listen on the pod's or container's addresses.
    assert (config.listen.host, config.listen.port) == ("0.0.0.0", 8080)


@pytest.mark.parametrize("path", _PROBE_CONFIGS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kit_probe_configs_load(path: Path) -> None:
    from probe.config import load_config

    config = load_config(path)
    assert config.collector.url == "http://pantau-collector:8080"
    assert config.collector.token_env == "PANTAU_PROBE_TOKEN"
    assert config.spool.path.startswith("/var/lib/pantau-probe/")
