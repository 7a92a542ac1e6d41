"""Container health check: exit 0 when $PANTAU_HEALTH_URL answers 200 within 4 s, else 1.

Standard library only (the image has no curl). The collector's default is its /healthz; a probe
container sets PANTAU_HEALTH_URL=http://127.0.0.1:9470/metrics (the probe serves no /healthz).
"""

import os
import sys
import urllib.request

URL = os.environ.get("PANTAU_HEALTH_URL", "http://127.0.0.1:8080/healthz")

try:
    with urllib.request.urlopen(URL, timeout=4) as response:  # noqa: S310 (a local http URL)
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    print(f"unhealthy: {URL}: {exc}", file=sys.stderr)
    sys.exit(1)
