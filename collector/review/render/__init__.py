"""Renderers of the monthly report, chosen by format: one module each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

import msgspec

from collector.review.report import MonthlyReport

Lang = Literal["id", "en"]
Renderer = Callable[[MonthlyReport, Lang], bytes]


def render_json(report: MonthlyReport, lang: Lang) -> bytes:
    return msgspec.json.encode(report)


# format -> (renderer, content type); the other formats register in their modules below.
RENDERERS: Final[dict[str, tuple[Renderer, str]]] = {
    "json": (render_json, "application/json"),
}
