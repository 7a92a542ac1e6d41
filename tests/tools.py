"""External command-line tools for tests: found on PATH or in /usr/bin, else installed from Debian.

`require_tools({"promtool": "prometheus"})` returns the paths of the named binaries. When one is
missing and the tests run as root on a machine with apt-get (CI, containers), the Debian packages
are installed once per process, without recommends, with services kept from starting. When they
cannot be had, `ToolUnavailable` says why and what to install: tests fail on it rather than skip,
so a CI run never goes green without having run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

INSTALL_TIMEOUT_SECONDS = 900
# apt waits this long for another apt/dpkg (e.g. a parallel job) to release its lock.
APT_LOCK_TIMEOUT_SECONDS = 300
_POLICY_RC_D = Path("/usr/sbin/policy-rc.d")

_lock = threading.Lock()
_attempted: dict[frozenset[str], str | None] = {}


class ToolUnavailable(RuntimeError):
    pass


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidate = Path("/usr/bin") / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return None


def require_tools(tools: Mapping[str, str]) -> dict[str, str]:
    """Paths of `tools` (binary name -> Debian package), installing the packages if need be."""
    found = {name: find_tool(name) for name in tools}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        packages = frozenset(tools[name] for name in missing)
        with _lock:
            if packages not in _attempted:
                _attempted[packages] = _apt_install(sorted(packages))
            failure = _attempted[packages]
        found = {name: find_tool(name) for name in tools}
        still = sorted(name for name, path in found.items() if path is None)
        if still:
            wanted = " ".join(sorted({tools[name] for name in still}))
            raise ToolUnavailable(
                f"{', '.join(still)} not found on PATH or in /usr/bin, and could not be installed"
                f" ({failure or 'the packages do not provide them'}). Install them with:"
                f" sudo apt-get install --no-install-recommends {wanted}"
            )
    return {name: str(path) for name, path in found.items()}


def require_libraries(libraries: Mapping[str, str], *, files: Mapping[str, str] = {}) -> None:
    """Shared libraries (`pango-1.0` -> Debian package) and files (a font -> its package) that a
    Python library loads at run time (WeasyPrint: Pango and fonts), installed when missing."""
    import ctypes.util

    def missing() -> list[str]:
        return sorted(
            {pkg for lib, pkg in libraries.items() if ctypes.util.find_library(lib) is None}
            | {pkg for path, pkg in files.items() if not Path(path).exists()}
        )

    packages = missing()
    if not packages:
        return
    with _lock:
        key = frozenset(packages)
        if key not in _attempted:
            _attempted[key] = _apt_install(packages)
        failure = _attempted[key]
    still = missing()
    if still:
        raise ToolUnavailable(
            f"missing system packages {', '.join(still)} could not be installed"
            f" ({failure or 'they do not provide the libraries'}). Install them with:"
            f" sudo apt-get install --no-install-recommends {' '.join(still)}"
        )


def _apt_install(packages: list[str]) -> str | None:
    """Install Debian packages quietly; None on success, else the reason it was not done."""
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "not running as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_SECONDS}"
    commands = [
        [apt_get, "-qq", "-o", lock, "update"],
        [apt_get, "install", "-y", "-qq", "-o", lock, "--no-install-recommends", *packages],
    ]
    # Debian's prometheus packages start their services on install; a policy-rc.d that answers
    # 101 (action forbidden) keeps them stopped, with or without systemd. An existing one is left
    # as it is.
    own_policy = not _POLICY_RC_D.exists()
    try:
        if own_policy:
            _POLICY_RC_D.write_text("#!/bin/sh\n# tests/tools.py: no service starts\nexit 101\n")
            _POLICY_RC_D.chmod(0o755)
        # A failed update (say, another apt holding the lists lock) is not fatal by itself:
        # the lists may be fresh enough; the install decides.
        problems = [_run(command, env) for command in commands]
        if problems[-1] is not None:
            return "; ".join(p for p in problems if p is not None)
    finally:
        if own_policy:
            _POLICY_RC_D.unlink(missing_ok=True)
    _disable_services(packages)
    return None


def _run(command: list[str], env: Mapping[str, str]) -> str | None:
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{' '.join(command)} timed out after {INSTALL_TIMEOUT_SECONDS} s"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"{' '.join(command)} exited {done.returncode}: {' | '.join(tail)}"
    return None


def _disable_services(packages: list[str]) -> None:
    """Undo the packages' enabling of their units at boot, where systemd runs."""
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return
    subprocess.run(
        [systemctl, "disable", "--now", "--quiet", *(f"{p}.service" for p in packages)],
        capture_output=True,
        timeout=60,
        check=False,
    )
