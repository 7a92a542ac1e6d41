"""The monthly review, mailed on time: each agency its own review, the regency's to Diskominfo.

Every hour (on the hour, in `review_mail.timezone`) and once at start-up, the collector checks
whether last month's reviews are due (from `review_mail.day` at `review_mail.hour`) and sends
those not yet sent: the PDF attached, the HTML review as the body. One replica does it (an
advisory lock); each sent review is recorded by (month, scope), so a restart, a second replica
or the next hour never sends it twice. A failed send is retried with a growing pause and logged;
one that still fails is left unrecorded, so the next hour tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage

import asyncpg

from collector import db, mail, templating
from collector.catalog import store
from collector.config import CollectorConfig, ReviewMailConfig, SmtpConfig
from collector.db import Conn
from collector.i18n_catalog import Lang
from collector.review import report as monthly_report
from collector.review.render import content
from collector.review.render.html import render_html
from collector.review.render.pdf import html_to_pdf_async

log = logging.getLogger("pantau.review.mail")

REVIEW_MAIL_LOCK_ID = 0x50414E544155 + 5
REGENCY = "regency"

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class Delivery:
    scope: str  # "regency" or "agency:<id>"
    agency: str | None
    recipients: list[str]


@dataclass(frozen=True, kw_only=True)
class DeliveryResult:
    sent: list[str]  # scopes sent now
    already: list[str]  # scopes sent before
    failed: list[str]  # scopes that could not be sent (tried again next time)
    locked: bool = False  # another replica is sending: nothing done here


def due_month(now: dt.datetime, cfg: ReviewMailConfig) -> str:
    """The month whose review is due at `now`, or "" before this month's sending time."""
    local = now.astimezone(zoneinfo.ZoneInfo(cfg.timezone))
    due = local.replace(day=cfg.day, hour=cfg.hour, minute=0, second=0, microsecond=0)
    if local < due:
        return ""
    return f"{local.year - 1}-12" if local.month == 1 else f"{local.year}-{local.month - 1:02d}"


async def deliveries(conn: Conn, cfg: ReviewMailConfig) -> list[Delivery]:
    """Who gets what, from the catalogue's agency e-mails and the configuration."""
    agencies = await store.list_agencies(conn)
    regency = set(cfg.regency_recipients)
    regency.update(a.email for a in agencies if a.id == cfg.regency_agency and a.email)
    out = [Delivery(scope=REGENCY, agency=None, recipients=sorted(regency))] if regency else []
    out.extend(
        Delivery(scope=f"agency:{a.id}", agency=a.id, recipients=[a.email])
        for a in agencies
        if a.email
    )
    return out


async def deliver_month(
    pool: asyncpg.Pool,
    config: CollectorConfig,
    *,
    month: str,
    now: dt.datetime | None = None,
    sleep: Sleep = asyncio.sleep,
) -> DeliveryResult:
    """Send `month`'s reviews that were not sent yet."""
    cfg, smtp = config.review_mail, config.smtp
    assert cfg is not None
    assert smtp is not None
    async with db.job_lock(pool, REVIEW_MAIL_LOCK_ID) as mine, pool.acquire() as conn:
        if not mine:
            return DeliveryResult(sent=[], already=[], failed=[], locked=True)
        done = {
            r["scope"]
            for r in await conn.fetch("SELECT scope FROM review_mail_sent WHERE month = $1", month)
        }
        result = DeliveryResult(sent=[], already=[], failed=[])
        for d in await deliveries(conn, cfg):
            if d.scope in done:
                result.already.append(d.scope)
                continue
            if result.failed:
                # The server refused one review through all its retries: the rest would only
                # wait as long again (holding the lock and a connection); the next hour tries
                # them all.
                result.failed.append(d.scope)
                continue
            message = await _message(conn, config, d, month=month, now=now)
            if await _send_with_retries(smtp, cfg, message, d, month=month, sleep=sleep):
                # A crash between the send and this row sends that review again on the next
                # run: at least once, never lost.
                await conn.execute(
                    "INSERT INTO review_mail_sent (month, scope, recipients, message_id)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    month, d.scope, d.recipients, message["Message-ID"],
                )  # fmt: skip
                result.sent.append(d.scope)
            else:
                result.failed.append(d.scope)
        if len(result.failed) > 1:
            log.error("review %s: %d more reviews not tried after that; next hour",
                      month, len(result.failed) - 1)  # fmt: skip
        return result


async def _message(
    conn: Conn, config: CollectorConfig, d: Delivery, *, month: str, now: dt.datetime | None
) -> EmailMessage:
    assert config.review_mail is not None
    assert config.smtp is not None
    lang: Lang = "en" if config.review_mail.lang == "en" else "id"
    built = await monthly_report.build_report(
        conn, month=month, settings=config.state_settings(), agency=d.agency, now=now
    )
    doc = content.build(built, lang)
    html = render_html(built, lang)
    pdf = await html_to_pdf_async(html, bounded=False)  # the one PDF thread, in turn
    name = f"pantau-{month}{'-' + d.agency if d.agency else ''}.pdf"
    return mail.build_message(
        mail.Mail(
            to=d.recipients,
            subject=f"{doc.title} — {doc.month}",
            text=templating.render(
                "mail/review.txt", lang, {"title": doc.title, "month": doc.month}
            ),
            html=html.decode("utf-8"),
            attachments=[
                mail.Attachment(filename=name, content=pdf, maintype="application", subtype="pdf")
            ],
        ),
        sender=config.smtp.sender,
    )


async def _send_with_retries(
    smtp: SmtpConfig,
    cfg: ReviewMailConfig,
    message: EmailMessage,
    d: Delivery,
    *,
    month: str,
    sleep: Sleep,
) -> bool:
    attempts = cfg.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            await mail.send(smtp, message)
        except mail.MailError as exc:
            if attempt == attempts:
                log.error(
                    "review %s %s to %s not sent after %d attempts: %s; trying again next hour",
                    month, d.scope, ", ".join(d.recipients), attempts, exc,
                )  # fmt: skip
                return False
            pause = cfg.retry_seconds * 2 ** (attempt - 1)
            log.warning(
                "review %s %s to %s: attempt %d of %d failed: %s; retrying in %g s",
                month, d.scope, ", ".join(d.recipients), attempt, attempts, exc, pause,
            )  # fmt: skip
            await sleep(pause)
        else:
            log.info("review %s %s sent to %s", month, d.scope, ", ".join(d.recipients))
            return True
    return False


async def run_due(
    pool: asyncpg.Pool, config: CollectorConfig, *, now: dt.datetime | None = None
) -> DeliveryResult | None:
    """One tick of the schedule: send last month's reviews when they are due."""
    assert config.review_mail is not None
    now = now or dt.datetime.now(dt.UTC)
    month = due_month(now, config.review_mail)
    if not month:
        return None
    return await deliver_month(pool, config, month=month, now=now)


class ReviewMailer:
    """The hourly schedule (APScheduler) in the collector; started with the application."""

    def __init__(self, pool: asyncpg.Pool, config: CollectorConfig) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.cron import CronTrigger

        assert config.review_mail is not None
        self._pool, self._config = pool, config
        self._running: asyncio.Task[None] | None = None
        self._scheduler = AsyncIOScheduler(timezone=config.review_mail.timezone)
        self._scheduler.add_job(
            self.tick,
            CronTrigger(minute=0, timezone=config.review_mail.timezone),
            next_run_time=dt.datetime.now(dt.UTC),  # and at start-up: a restart catches up
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop the schedule and a run in progress (it may be waiting to retry a send for
        minutes, holding a pooled connection): APScheduler only cancels it, this also waits
        until it has let go, so the pool closes cleanly."""
        self._scheduler.shutdown(wait=False)
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running

    async def tick(self) -> None:
        self._running = asyncio.current_task()
        try:
            await run_due(self._pool, self._config)
        except Exception:  # the next hour tries again
            log.exception("mailing the monthly review failed")
        finally:
            self._running = None
