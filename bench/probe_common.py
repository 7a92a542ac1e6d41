"""Helpers for the probe benchmarks: local servers in their own processes, CPU clocks, stats.

Everything listens on 127.0.0.1 only and is started and stopped by the benchmark itself.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
BODY = b"<!doctype html><title>pantau bench</title><p>ok</p>\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listens on {HOST}:{port} after {timeout:g} s")


def stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Stop a process this benchmark started (by its own handle, never by name)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


def proc_cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # comm may hold spaces; fields[0] is field 3
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime: fields 14, 15


@dataclass(frozen=True, slots=True)
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    name: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{
    worker_connections 16384;
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type text/html;
    server {{
        listen {host}:{port} backlog=4096;
        root {tmp}/www;
        index index.html;
    }}
}}
"""


@contextlib.contextmanager
def nginx(tmp: Path) -> Iterator[Server]:
    """Debian's nginx on a free port with its own config, in the foreground, one worker."""
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        raise BenchError("nginx is not installed (apt-get install -y nginx-light)")
    tmp.chmod(0o755)  # workers run as nobody when started by root
    (tmp / "www").mkdir()
    (tmp / "www" / "index.html").write_bytes(BODY)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, host=HOST, port=port))
    proc = subprocess.Popen(
        [binary, "-p", str(tmp), "-c", str(conf), "-e", "stderr"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "nginx.log").open("wb"),
    )
    try:
        wait_listening(port, proc)
        yield Server(proc, port, "nginx")
    finally:
        stop(proc, sig=signal.SIGQUIT)  # graceful: the master waits for its worker


BLACKBOX_CONF = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""


@contextlib.contextmanager
def blackbox_exporter(tmp: Path) -> Iterator[Server]:
    binary = shutil.which("prometheus-blackbox-exporter")
    if binary is None:
        raise BenchError(
            "blackbox_exporter is not installed (apt-get install -y prometheus-blackbox-exporter)"
        )
    conf = tmp / "blackbox.yml"
    conf.write_text(BLACKBOX_CONF)
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={conf}",
            f"--web.listen-address={HOST}:{port}",
            "--log.level=warn",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "blackbox.log").open("wb"),
    )
    try:
        wait_listening(port, proc)
        yield Server(proc, port, "blackbox_exporter")
    finally:
        stop(proc)


def blackbox_version() -> str:
    binary = shutil.which("prometheus-blackbox-exporter")
    if binary is None:
        return "?"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split("version", 1)[-1].strip().split()[0] if first else "?"


def nginx_version() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stderr or out.stdout).strip().rsplit("/", 1)[-1]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
