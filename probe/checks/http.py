"""HTTP(S) check: status, body, JSON condition, latency, redirects, certificate expiry."""

from __future__ import annotations

import codecs
import re
import time
from typing import TypeGuard

import msgspec
from multidict import CIMultiDict

from probe.checks.base import (
    MAX_BODY_BYTES,
    MAX_REDIRECTS,
    MISSING,
    CheckContext,
    Failure,
    Outcome,
    authorization,
    capture_peer_cert,
    json_lookup,
    read_body,
    secret_headers,
    tls_context,
)
from wire.messages import FailureReason
from wire.specs import HttpCheck, JsonCondition

_SHOW_CHARS = 80  # of a JSON value quoted in a message


async def check_http(spec: HttpCheck, *, ctx: CheckContext) -> Outcome:
    # Everything the spec can get wrong is found before any traffic.
    headers = CIMultiDict(spec.headers)
    headers.update(secret_headers(ctx, spec.headers_env))
    auth = authorization(ctx, basic=spec.basic_auth, bearer_env=spec.bearer_token_env)
    if auth is not None:
        headers["Authorization"] = auth
    pattern = _compile(spec.body_regex) if spec.body_regex is not None else None
    ssl_context = tls_context(verify=spec.tls_verify, ca_file=spec.ca_file)

    started = time.perf_counter()
    with capture_peer_cert() as peer:
        async with ctx.session.request(
            spec.method,
            spec.url,
            headers=headers,
            ssl=ssl_context,
            allow_redirects=spec.follow_redirects,
            max_redirects=MAX_REDIRECTS,
        ) as resp:
            body = await read_body(resp)
            status, charset = resp.status, resp.charset
    latency = time.perf_counter() - started  # up to the (bounded) body, as a user waits for it

    def fail(reason: FailureReason, message: str) -> Outcome:
        return Outcome(
            ok=False,
            reason=reason,
            message=message,
            status_code=status,
            tls_expiry=peer.not_after,
        )

    # Judged in order of severity: a wrong answer matters more than a slow one.
    if spec.expect_status:
        if status not in spec.expect_status:
            expected = ", ".join(map(str, spec.expect_status))
            return fail("status", f"status {status}, expected {expected}")
    elif not 200 <= status < 300:
        return fail("status", f"status {status}, expected 2xx")
    cut = " (in the first 1 MiB)" if len(body) >= MAX_BODY_BYTES else ""
    text = body.decode(_codec(charset), errors="replace")
    if spec.body_contains is not None and spec.body_contains not in text:
        return fail("body", f"body does not contain {spec.body_contains!r}{cut}")
    if pattern is not None and pattern.search(text) is None:
        return fail("body", f"body does not match {pattern.pattern!r}{cut}")
    if spec.json is not None:
        problem = _json_problem(body, spec.json)
        if problem is not None:
            return fail("json", problem + cut)
    if spec.max_latency_seconds is not None and latency > spec.max_latency_seconds:
        return fail("latency", f"answered in {latency:.3f} s, over {spec.max_latency_seconds:g} s")
    return Outcome(ok=True, status_code=status, tls_expiry=peer.not_after)


def _codec(charset: str | None) -> str:
    try:
        info = codecs.lookup(charset or "utf-8")
    except LookupError:  # a charset Python does not know: read it as UTF-8
        return "utf-8"
    # Some codecs (hex, base64, ...) are not text encodings at all.
    return info.name if getattr(info, "_is_text_encoding", True) else "utf-8"


def _compile(regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex)
    except re.error as exc:
        raise Failure("config", f"invalid body_regex: {exc}") from exc


def _json_problem(body: bytes, cond: JsonCondition) -> str | None:
    """Why the JSON condition fails, or None when it holds."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return "answer is not JSON"
    value = json_lookup(doc, cond.path)
    if cond.op == "exists":
        return None if value is not MISSING else f"{cond.path} is missing"
    if value is MISSING:
        return f"{cond.path} is missing"
    if _holds(value, cond):
        return None
    return f"{cond.path} is {_show(value)}, expected {cond.op} {_show(cond.value)}"


def _holds(value: object, cond: JsonCondition) -> bool:
    expected = cond.value
    match cond.op:
        case "eq":
            return _same(value, expected)
        case "ne":
            return not _same(value, expected)
        case "contains":
            if isinstance(value, str):
                return isinstance(expected, str) and expected in value
            if isinstance(value, list):
                return any(_same(item, expected) for item in value)
            if isinstance(value, dict):
                return expected in value
            return False
        case _:  # lt le gt ge: numbers only
            if not (_is_number(value) and _is_number(expected)):
                return False
            a, b = float(value), float(expected)
            return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[cond.op]


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: object, b: object) -> bool:
    # JSON `true` is not the number 1, although Python says True == 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _show(value: object) -> str:
    shown = msgspec.json.encode(value).decode()
    return shown if len(shown) <= _SHOW_CHARS else shown[: _SHOW_CHARS - 1] + "…"
