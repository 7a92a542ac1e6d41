"""A small, fast writer of the Prometheus text format (0.0.4).

prometheus_client renders about 6.5 µs a series; the per-app families of a large catalogue are
rendered here instead, off the scrape path, from plain tuples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["gauge", "counter", "untyped"]


def escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def format_value(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@dataclass
class Family:
    name: str  # sample name as exposed (counters: with `_total`)
    help: str
    type: MetricType
    label_names: Sequence[str]
    samples: list[tuple[Sequence[str], float]] = field(default_factory=list)

    def add(self, labels: Sequence[str], value: float) -> None:
        self.samples.append((labels, value))


def render(families: Iterable[Family]) -> bytes:
    out: list[str] = []
    for fam in families:
        help_text = fam.help.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {fam.name} {help_text}\n# TYPE {fam.name} {fam.type}\n")
        names = fam.label_names
        for labels, value in fam.samples:
            pairs = ",".join(f'{n}="{escape_label(v)}"' for n, v in zip(names, labels, strict=True))
            out.append(f"{fam.name}{{{pairs}}} {format_value(value)}\n")
    return "".join(out).encode()
