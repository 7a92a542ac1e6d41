"""The collector's own instruments, in an injected registry (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class CollectorMetrics:
    def __init__(self, *, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.batches = Counter(
            "pantau_ingest_batches_total",
            "Result batches accepted, by outcome (stored, duplicate).",
            ["outcome"],
            registry=registry,
        )
        self.items = Counter(
            "pantau_ingest_items_total",
            "Check results and usage samples stored, by type.",
            ["type"],
            registry=registry,
        )
        self.dropped = Counter(
            "pantau_ingest_items_dropped_total",
            "Items dropped from accepted batches: for apps the probe's zone does not watch, or"
            " usage it does not pull.",
            registry=registry,
        )
        self.rejected = Counter(
            "pantau_ingest_rejected_batches_total",
            "Batches refused, by reason (invalid, conflict, too_large, bad_encoding,"
            " unauthorized, forbidden, db_unavailable, client_disconnected).",
            ["reason"],
            registry=registry,
        )
        self.ingest_seconds = Histogram(
            "pantau_ingest_duration_seconds",
            "Time to validate and commit one batch.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.requests = Counter(
            "pantau_http_requests_total",
            "HTTP requests served, by route, method and status code.",
            ["route", "method", "code"],
            registry=registry,
        )
        self.connections_refused = Counter(
            "pantau_http_connections_refused_total",
            "Connections answered 503 and closed because `limits.max_connections` were open.",
            registry=registry,
        )
        self.refresh_seconds = Gauge(
            "pantau_metrics_refresh_duration_seconds",
            "Time the last refresh of the per-app metrics took.",
            registry=registry,
        )
        self.refresh_timestamp = Gauge(
            "pantau_metrics_refresh_timestamp_seconds",
            "When the per-app metrics were last refreshed from the database.",
            registry=registry,
        )
        self.refresh_failures = Counter(
            "pantau_metrics_refresh_failures_total",
            "Refreshes of the per-app metrics that failed (database unreachable).",
            registry=registry,
        )
        self.signins = Counter(
            "pantau_portal_signins_total",
            "Sign-in attempts in the portal, by result (ok: signed in; failed: wrong name,"
            " password or code; locked_out; disabled; busy: too many at once).",
            ["result"],
            registry=registry,
        )
        self.csrf_refused = Counter(
            "pantau_portal_csrf_refused_total",
            "Portal forms refused for a missing or wrong CSRF token or a foreign origin.",
            registry=registry,
        )
        for result in ("ok", "failed", "locked_out", "disabled", "busy"):
            self.signins.labels(result)
        for reason in ("invalid", "conflict", "too_large", "bad_encoding", "unauthorized",
                       "forbidden", "db_unavailable", "client_disconnected"):  # fmt: skip
            self.rejected.labels(reason)
        for outcome in ("stored", "duplicate"):
            self.batches.labels(outcome)
