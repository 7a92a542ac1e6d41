"""Typed keys of the collector's aiohttp application."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from collector.app_metrics import AppMetrics
from collector.auth import TokenCache
from collector.config import CollectorConfig
from collector.ingest import Ingestor
from collector.own_metrics import CollectorMetrics
from collector.state.evaluate import Evaluator

CONFIG = web.AppKey("config", CollectorConfig)
POOL = web.AppKey("pool", asyncpg.Pool)
METRICS = web.AppKey("metrics", CollectorMetrics)
APP_METRICS = web.AppKey("app_metrics", AppMetrics)
INGESTOR = web.AppKey("ingestor", Ingestor)
TOKENS = web.AppKey("tokens", TokenCache)
EVALUATOR = web.AppKey("evaluator", Evaluator)
