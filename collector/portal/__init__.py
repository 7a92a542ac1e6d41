"""The catalogue portal: server-rendered pages at `/` (apps, agencies), in Indonesian and English."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register the portal's pages on the collector's app."""
