"""The probe's own metrics, registered in an injected registry (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ProbeMetrics:
    def __init__(self, *, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.checks = Counter(
            "pantau_probe_checks_total",
            "Checks run, by kind and outcome (ok or the failure reason).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.usage_reads = Counter(
            "pantau_probe_usage_reads_total",
            "Usage source reads, by source type and outcome (ok or the failure reason).",
            ["source", "outcome"],
            registry=registry,
        )
        self.schedule_lag = Histogram(
            "pantau_probe_schedule_lag_seconds",
            "How late a scheduled check or usage read started, against its slot.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.jobs_skipped = Counter(
            "pantau_probe_jobs_skipped_total",
            "Slots of a check or usage read not run: the job's previous run was still going or "
            "still waiting for a free worker (the probe is behind), or the probe stalled.",
            registry=registry,
        )
        self.checks_in_flight = Gauge(
            "pantau_probe_checks_in_flight",
            "Checks and usage reads running now (at most the probe's concurrency).",
            registry=registry,
        )
        self.checks_waiting = Gauge(
            "pantau_probe_checks_waiting",
            "Checks and usage reads past their slot, waiting for a free worker.",
            registry=registry,
        )
        self.targets = Gauge(
            "pantau_probe_targets", "Applications this probe watches.", registry=registry
        )
        self.spool_items = Gauge(
            "pantau_probe_spool_items",
            "Results and usage samples waiting in the spool.",
            registry=registry,
        )
        self.spool_bytes = Gauge(
            "pantau_probe_spool_bytes",
            "Size of the spool's files on disk (database, WAL, shared memory).",
            registry=registry,
        )
        self.spool_dropped = Counter(
            "pantau_probe_spool_dropped_total",
            "Items dropped because the spool reached its size cap (oldest first).",
            registry=registry,
        )
        self.push_attempts = Counter(
            "pantau_probe_push_attempts_total", "Batch pushes tried.", registry=registry
        )
        self.push_failures = Counter(
            "pantau_probe_push_failures_total",
            "Batch pushes that failed, by reason (network, http status, rejected).",
            ["reason"],
            registry=registry,
        )
        self.batches_rejected = Counter(
            "pantau_probe_batches_rejected_total",
            "Batches the collector refused as invalid (kept aside, not retried).",
            registry=registry,
        )
        self.last_push = Gauge(
            "pantau_probe_last_successful_push_timestamp_seconds",
            "When the collector last acknowledged a batch.",
            registry=registry,
        )
        self.icmp_rtt = Gauge(
            "pantau_probe_icmp_rtt_seconds",
            "Average round-trip time of the last ICMP check (absent while nothing answers).",
            ["app", "check"],
            registry=registry,
        )
        self.icmp_loss = Gauge(
            "pantau_probe_icmp_packet_loss_ratio",
            "Share of echo requests of the last ICMP check without a reply (0 to 1).",
            ["app", "check"],
            registry=registry,
        )
        self.target_refreshes = Counter(
            "pantau_probe_target_refreshes_total",
            "Target list refreshes, by outcome (changed, unchanged, failed).",
            ["outcome"],
            registry=registry,
        )
