"""A batch's results into each check's latest result and state counters, in SQL.

Ingest stages the batch in a temporary table (one binary COPY, `stage_results`); then
`record_results` replays the results in time order per check by the rules of `machine.observe`
and upserts check_latest: one upsert when each check comes once (what a probe sends while it
keeps up), a lock in key order and a recursive fold when a check comes several times (a probe
catching up). Done row by row in Python this was most of ingest's CPU (issue 11).

`machine.observe` stays the reference (the review replays history with it);
tests/collector/test_ingest_state.py holds these statements to it on random batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collector.db import Conn
from collector.state.machine import ANSWERED_REASONS, Thresholds
from wire.messages import CheckResult

STAGE = "check_stage"
# `ord` is the result's place in the batch: among results of one check at the same time, the
# later one counts last. Times stay the probe's unix seconds (pantau_unix_ts turns them into
# timestamptz as Python would): encoding floats is cheaper than building datetimes.
_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGE} (
    ord               integer NOT NULL,
    app_id            text NOT NULL,
    check_name        text NOT NULL,
    kind              text NOT NULL,
    ts                double precision NOT NULL,
    ok                boolean NOT NULL,
    reason            text,
    message           text,
    duration_seconds  double precision NOT NULL,
    status_code       smallint,
    tls_expiry        double precision,
    attempts          smallint NOT NULL
) ON COMMIT DELETE ROWS"""
_STAGE_COLUMNS = (
    "ord", "app_id", "check_name", "kind", "ts", "ok", "reason", "message", "duration_seconds",
    "status_code", "tls_expiry", "attempts",
)  # fmt: skip


async def stage_results(conn: Conn, results: Sequence[CheckResult]) -> None:
    """Put the results in the session's stage, emptied when the transaction commits."""
    await conn.execute(_CREATE_STAGE)
    records = [
        (i, r.app, r.check, r.kind, r.ts, r.ok, r.reason, r.message, r.duration_seconds,
         r.status_code, r.tls_expiry, r.attempts)
        for i, r in enumerate(results)
    ]  # fmt: skip
    await conn.copy_records_to_table(STAGE, records=records, columns=_STAGE_COLUMNS)


_ANSWERED = ", ".join(f"'{r}'" for r in sorted(ANSWERED_REASONS))


def _answered(ok: str, reason: str) -> str:
    return f"({ok} OR coalesce({reason} IN ({_ANSWERED}), false))"


def _threshold(app_id: str, which: str) -> str:
    """An app's own threshold (`failure` or `success`) from the arrays of the batch's apps that
    have their own, else the default. $3, $4 the default failure and success thresholds; $5 the
    apps, $6 and $7 their failure and success thresholds (NULL: the default)."""
    own, default = ("$6", "$3") if which == "failure" else ("$7", "$4")
    return f"coalesce(({own}::integer[])[array_position($5::text[], {app_id})], {default})"


def _observe(
    state: str, failures: str, successes: str, since: str, *,
    app_id: str, ts: str, ok: str, reason: str,
) -> dict[str, str]:  # fmt: skip
    """machine.observe in SQL: expressions of the check's state, failures, successes and since
    after one more result, from expressions of those before and of the result."""
    answered = _answered(ok, reason)
    new_state = (
        f"CASE WHEN {answered} THEN"
        f" CASE WHEN {state} = 'down' AND {successes} + 1 < {_threshold(app_id, 'success')}"
        f" THEN 'down' WHEN {ok} THEN 'up' ELSE 'degraded' END"
        f" WHEN {failures} + 1 >= {_threshold(app_id, 'failure')} THEN 'down'"
        f" ELSE {state} END"
    )
    return {
        "state": new_state,
        "failures": f"CASE WHEN {answered} THEN 0 ELSE {failures} + 1 END",
        "successes": f"CASE WHEN {answered} THEN {successes} + 1 ELSE 0 END",
        "since": f"CASE WHEN ({new_state}) = {state} THEN {since} ELSE {ts} END",
    }


_RESULT_COLUMNS = (
    "ts", "app_id", "check_name", "kind", "zone", "probe", "ok", "reason", "message",
    "duration_seconds", "status_code", "tls_expiry",
)  # fmt: skip
_LATEST_ONLY = tuple(c for c in _RESULT_COLUMNS if c not in ("app_id", "zone", "check_name"))
_STATE_COLUMNS = ("state", "failures", "successes", "since")
_INSERT = f"INSERT INTO check_latest ({', '.join(_RESULT_COLUMNS + _STATE_COLUMNS)}) "
_UPDATE = " ON CONFLICT (app_id, zone, check_name) DO UPDATE SET "
_STAGED = (
    "SELECT ord, app_id, check_name, kind, pantau_unix_ts(ts) AS ts, $1::text AS zone,"
    " $2::text AS probe, ok, reason, message, duration_seconds, status_code,"
    f" pantau_unix_ts(tls_expiry) AS tls_expiry FROM {STAGE}"
)

# A batch that holds each check once (a probe's batch as it runs its checks, once an interval):
# one upsert. A new check starts from unknown; a known one's row is locked by the upsert, which
# computes the new state from that row as it then is, so concurrent batches need no other lock,
# and the key order of the rows keeps them from deadlocking. A result older than the check's
# latest was replayed late: the check has moved on (the row stays as it is).
_new = _observe("'unknown'", "0", "0", "s.ts", app_id="s.app_id", ts="s.ts", ok="s.ok",
                reason="s.reason")  # fmt: skip
_known = _observe(
    "check_latest.state", "check_latest.failures", "check_latest.successes",
    "check_latest.since", app_id="EXCLUDED.app_id", ts="EXCLUDED.ts", ok="EXCLUDED.ok",
    reason="EXCLUDED.reason",
)  # fmt: skip
_RECORD_ONCE = (
    _INSERT
    + f"SELECT {', '.join(_RESULT_COLUMNS)}, "
    + ", ".join(f"{_new[c]} AS {c}" for c in _STATE_COLUMNS)
    + f" FROM ({_STAGED}) AS s ORDER BY app_id, check_name"
    + _UPDATE
    + ", ".join(
        [f"{c} = EXCLUDED.{c}" for c in _LATEST_ONLY]
        + [f"{c} = {_known[c]}" for c in _STATE_COLUMNS]
    )
    + " WHERE EXCLUDED.ts >= check_latest.ts"
)

# A batch with several results of a check (a probe catching up): a new check first gets a row as
# a check is before its first result (unknown since then), so that a concurrent batch of the same
# new check waits for this one instead of both starting from nothing; then the checks' rows are
# locked, in key order; `fold` applies a check's n-th result to its state after n - 1, in as many
# rounds as the most results one check has; step 0 is the state before the batch.
_NEW_CHECKS = (
    _INSERT
    + f"SELECT DISTINCT ON (app_id, check_name) {', '.join(_RESULT_COLUMNS)}, 'unknown', 0, 0, ts"
    + f" FROM ({_STAGED}) AS s ORDER BY app_id, check_name, ts ON CONFLICT DO NOTHING"
)
_step = _observe("f.state", "f.failures", "f.successes", "f.since", app_id="s.app_id",
                 ts="s.ts", ok="s.ok", reason="s.reason")  # fmt: skip
_RECORD_FOLD = (
    f"""
WITH RECURSIVE
prev AS MATERIALIZED (
    SELECT app_id, check_name, state, failures, successes, since, ts
      FROM check_latest
     WHERE zone = $1 AND (app_id, check_name) IN (SELECT app_id, check_name FROM {STAGE})
     ORDER BY app_id, check_name
       FOR UPDATE
),
steps AS MATERIALIZED (
    SELECT s.*, p.state AS prev_state, p.failures AS prev_failures,
           p.successes AS prev_successes, p.since AS prev_since,
           row_number() OVER (PARTITION BY s.app_id, s.check_name ORDER BY s.ts, s.ord) AS n,
           count(*) OVER (PARTITION BY s.app_id, s.check_name) AS m
      FROM ({_STAGED}) AS s
      JOIN prev p USING (app_id, check_name)
     WHERE s.ts >= p.ts
),
fold AS (
    SELECT 0::bigint AS n, m, prev_state AS state, prev_failures AS failures,
           prev_successes AS successes, prev_since AS since, {", ".join(_RESULT_COLUMNS)}
      FROM steps WHERE n = 1
    UNION ALL
    SELECT s.n, f.m, {", ".join(_step[c] for c in _STATE_COLUMNS)},
           {", ".join(f"s.{c}" for c in _RESULT_COLUMNS)}
      FROM fold f
      JOIN steps s ON s.app_id = f.app_id AND s.check_name = f.check_name AND s.n = f.n + 1
)
"""
    + _INSERT
    + f"SELECT {', '.join(_RESULT_COLUMNS + _STATE_COLUMNS)} FROM fold"
    + " WHERE n = m ORDER BY app_id, check_name"
    + _UPDATE
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _LATEST_ONLY + _STATE_COLUMNS)
)


async def record_results(
    conn: Conn,
    *,
    zone: str,
    probe: str,
    defaults: Thresholds,
    own: Mapping[str, tuple[int | None, int | None]],
    repeats: bool,
) -> None:
    """Advance the latest result and state counters of each check in the stage (results of
    `zone`, sent by `probe`), in time order. `own` holds the batch's apps with thresholds of
    their own (failure, success; None: the default), `defaults` serve the rest; `repeats`: some
    check has more than one result in the batch. Runs in the batch's transaction, after
    `stage_results`."""
    apps = list(own)
    if repeats:
        await conn.execute(_NEW_CHECKS, zone, probe)
    await conn.execute(
        _RECORD_FOLD if repeats else _RECORD_ONCE,
        zone, probe, defaults.failure, defaults.success,
        apps, [own[a][0] for a in apps], [own[a][1] for a in apps],
    )  # fmt: skip
