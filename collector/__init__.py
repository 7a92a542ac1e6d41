"""Pantau collector: catalogue, ingest, storage and metrics."""

__version__ = "0.1.0"
