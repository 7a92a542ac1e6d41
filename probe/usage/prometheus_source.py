"""Usage from a Prometheus exposition: the sum of the matching series."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from probe.checks.base import CheckContext, Failure
from probe.usage.base import fetch
from wire.specs import PrometheusSource

# The classic text format: the parser below does not read OpenMetrics.
_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


async def read_prometheus(source: PrometheusSource, *, ctx: CheckContext, seconds: float) -> float:
    body = await fetch(
        ctx, url=source.url, headers={"Accept": _ACCEPT}, tls_verify=source.tls_verify
    )
    # Client libraries expose counter `logins` as `logins_total`: accept both spellings.
    names = {source.metric}
    if not source.metric.endswith("_total"):
        names.add(f"{source.metric}_total")
    total = 0.0
    matched = 0
    try:
        for family in text_string_to_metric_families(body.decode("utf-8", errors="replace")):
            for sample in family.samples:
                # As in PromQL, a matcher `label=""` also matches series without that label.
                if sample.name in names and all(
                    sample.labels.get(key, "") == value for key, value in source.labels.items()
                ):
                    total += sample.value
                    matched += 1
    except (ValueError, IndexError, KeyError) as exc:  # the parser's ways of rejecting text
        raise Failure("body", f"not a Prometheus exposition: {exc}") from exc
    if not matched:
        raise Failure("body", f"no series {_selector(source)} in the answer")
    return total


def _selector(source: PrometheusSource) -> str:
    labels = ",".join(f'{key}="{value}"' for key, value in sorted(source.labels.items()))
    return f"{source.metric}{{{labels}}}" if labels else source.metric
