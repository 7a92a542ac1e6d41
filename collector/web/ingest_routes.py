"""What probes and apps call: the zone's targets, result batches, pushed usage."""

from __future__ import annotations

import asyncio
import time

import msgspec
from aiohttp import web

from collector.catalog import store
from collector.ingest import MAX_FUTURE_SECONDS, BatchConflict, BatchRejected
from collector.web import keys
from collector.web.errors import DB_UNAVAILABLE, ApiError, ClientDisconnected
from collector.web.requests import json_response, read_body, read_json, require
from collector.web.routes import Route
from wire.messages import BatchAck, PushedUsage, ResultBatch, TargetList, UsageSample
from wire.specs import PushSource
from wire.text import validation_field

_batch_decoder = msgspec.json.Decoder(ResultBatch)


async def probe_targets(request: web.Request) -> web.StreamResponse:
    who = await require(request, "probe")
    assert who.zone is not None
    targets = await store.targets_for_zone(request.app[keys.POOL], who.zone)
    headers = {"ETag": targets.version, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == targets.version:
        return web.Response(status=304, headers=headers)
    resp = json_response(targets)
    resp.headers.update(headers)
    return resp


async def post_results(request: web.Request) -> web.Response:
    metrics = request.app[keys.METRICS]
    started = time.perf_counter()
    try:
        who = await require(request, "probe")
        body = await _read_batch_body(request)
        try:
            batch = _batch_decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise ApiError(400, str(exc), field=validation_field(exc)) from exc
        except msgspec.DecodeError as exc:
            raise ApiError(400, f"body is not valid JSON: {exc}") from exc
        assert who.zone is not None
        try:
            ack = await request.app[keys.INGESTOR].store_batch(batch, zone=who.zone)
        except BatchConflict as exc:
            raise ApiError(409, exc.message, field=exc.field) from exc
        except BatchRejected as exc:
            raise ApiError(400, exc.message, field=exc.field) from exc
    except ApiError as exc:
        metrics.rejected.labels(_reject_reason(exc.status)).inc()
        raise
    except ClientDisconnected:
        metrics.rejected.labels("client_disconnected").inc()
        raise
    except asyncio.CancelledError:
        # A server with handler_cancellation cancels the handler when the client goes away.
        if request.transport is None or request.transport.is_closing():
            metrics.rejected.labels("client_disconnected").inc()
        raise
    except DB_UNAVAILABLE:
        metrics.rejected.labels("db_unavailable").inc()
        raise
    metrics.batches.labels("duplicate" if ack.duplicate else "stored").inc()
    if not ack.duplicate:
        metrics.items.labels("check_result").inc(ack.results)
        metrics.items.labels("usage_sample").inc(ack.usage)
        metrics.dropped.inc(ack.dropped)
    metrics.ingest_seconds.observe(time.perf_counter() - started)
    return json_response(ack)


async def _read_batch_body(request: web.Request) -> bytes:
    body = await read_body(request)
    if not body:
        raise ApiError(400, "request body is empty")
    return body


def _reject_reason(status: int) -> str:
    return {
        401: "unauthorized", 403: "forbidden", 408: "timeout", 409: "conflict", 413: "too_large",
        415: "bad_encoding",
    }.get(status, "invalid")  # fmt: skip


async def push_usage(request: web.Request) -> web.Response:
    who = await require(request, "app")
    assert who.app is not None
    pushed = await read_json(request, PushedUsage)
    await _check_declared(request, app_id=who.app, pushed=pushed)
    sample = UsageSample(
        app=who.app,
        metric=pushed.metric,
        kind=pushed.kind,
        ts=pushed.ts if pushed.ts is not None else time.time(),
        value=pushed.value,
    )
    now = time.time()
    if not now - 86_400 <= sample.ts <= now + MAX_FUTURE_SECONDS:
        # A reading in the future would freeze the counter's total until that time comes.
        raise ApiError(
            400,
            f"ts must be within the last day and at most {MAX_FUTURE_SECONDS:.0f} s ahead",
            field="$.ts",
        )
    await request.app[keys.INGESTOR].store_pushed(sample)
    return json_response(sample, status=202)


async def _check_declared(request: web.Request, *, app_id: str, pushed: PushedUsage) -> None:
    """An app pushes only the metrics its catalogue entry declares with `source: {type: push}`,
    as the declared kind: anything else would mix into counts the probe reads, or invent one."""
    app = await store.get_app(request.app[keys.POOL], app_id)
    spec = next((u for u in app.usage if u.metric == pushed.metric), None) if app else None
    if spec is None:
        raise ApiError(
            400,
            f"metric {pushed.metric!r} is not declared for application {app_id!r}; declare it in"
            " the app's `usage` with `source: {type: push}` first",
            field="$.metric",
        )
    if not isinstance(spec.source, PushSource):
        raise ApiError(
            400,
            f"metric {pushed.metric!r} of application {app_id!r} is read by the probe"
            f" (source {type(spec.source).__struct_config__.tag}), not pushed",
            field="$.metric",
        )
    if spec.kind != pushed.kind:
        raise ApiError(
            400,
            f"metric {pushed.metric!r} of application {app_id!r} is declared as a {spec.kind},"
            f" not a {pushed.kind}",
            field="$.kind",
        )


ROUTES = [
    Route(method="GET", path="/api/v1/probe/targets", handler=probe_targets,
          summary="The applications the calling probe's zone watches (ETag / If-None-Match)",
          auth="probe", tag="probes", response=TargetList, statuses={304: "Not modified"}),
    Route(method="POST", path="/api/v1/results", handler=post_results,
          summary="Push a batch of check results and usage samples (gzip welcome)",
          auth="probe", tag="probes", request=ResultBatch, response=BatchAck,
          statuses={409: "Batch id stored before with other content", 413: "Too large",
                    503: "Database unavailable; retry"}),
    Route(method="POST", path="/api/v1/usage", handler=push_usage,
          summary="An application reports its own usage count", auth="app", tag="probes",
          request=PushedUsage, response=UsageSample,
          statuses={202: "Stored", 400: "Invalid, or not a push metric the app declares (of this kind)"}),
]  # fmt: skip
