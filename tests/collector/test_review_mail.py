"""The monthly review by e-mail, against a real SMTP server (aiosmtpd) on loopback.

The server is started by the test: plain, and with STARTTLS and AUTH over a self-signed
certificate made here; messages are parsed back as a mail reader would.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from collector.catalog import sync
from collector.config import CollectorConfig
from collector.review import delivery
from tests.collector.conftest import TEST_ACTOR
from tests.collector.review_month import MONTH, NOW
from tests.tools import require_tools
from wire.catalog import Agency, Catalog

AGENCIES = [
    Agency(id="diskominfo", name="Diskominfo", email="kominfo@kotimkab.go.id"),
    Agency(id="setda", name="Setda", email="setda@kotimkab.go.id"),
]
ALSO = "kadis@kotimkab.go.id"  # the regency review also goes here (configuration)


@dataclass
class Inbox:
    """An SMTP handler: keeps what it accepts; refuses the first `refuse` messages (451)."""

    refuse: int = 0
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 mailbox busy, try again later"
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@contextlib.asynccontextmanager
async def smtp_server(
    inbox: Inbox, *, tls: ssl.SSLContext | None = None, login: tuple[str, str] | None = None
) -> AsyncIterator[int]:
    """aiosmtpd on 127.0.0.1, a free port; with `tls`, STARTTLS is required (and AUTH needs it)."""

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            login is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == login
        )
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            inbox, hostname="localhost", tls_context=tls, require_starttls=tls is not None,
            authenticator=authenticator if login else None, auth_required=login is not None,
        ),
        "127.0.0.1", 0,
    )  # fmt: skip
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` (openssl), and its key."""
    openssl = require_tools({"openssl": "openssl"})["openssl"]
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def mail_db(month_db: str, pdf_tools: dict[str, str]) -> AsyncIterator[str]:
    """The synthetic month, agencies with e-mail addresses, nothing mailed yet."""
    conn = await asyncpg.connect(month_db)
    try:
        await sync.apply(conn, Catalog(agencies=AGENCIES, apps=[]), source="test", actor=TEST_ACTOR)
        await conn.execute("DELETE FROM review_mail_sent")
    finally:
        await conn.close()
    return month_db


def config(port: int, **smtp: object) -> CollectorConfig:
    return msgspec.convert(
        {
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False,
                     "from": "pantau@kotimkab.go.id", "timeout_seconds": 10, **smtp},
            "review_mail": {"regency_recipients": [ALSO], "retries": 2, "retry_seconds": 0.01,
                            "lang": "en"},
        },
        CollectorConfig,
    )  # fmt: skip


async def deliver(url: str, cfg: CollectorConfig) -> delivery.DeliveryResult:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        return await delivery.deliver_month(pool, cfg, month=MONTH.label, now=NOW)
    finally:
        await pool.close()


def by_recipients(inbox: Inbox) -> dict[tuple[str, ...], EmailMessage]:
    return {tuple(sorted(rcpt)): msg for rcpt, msg in inbox.messages}


async def test_each_agency_gets_its_review_and_diskominfo_the_regencys(mail_db: str) -> None:
    inbox = Inbox()
    async with smtp_server(inbox) as port:
        result = await deliver(mail_db, config(port))
    assert sorted(result.sent) == ["agency:diskominfo", "agency:setda", "regency"]
    got = by_recipients(inbox)
    assert set(got) == {
        ("kominfo@kotimkab.go.id",),
        ("setda@kotimkab.go.id",),
        (ALSO, "kominfo@kotimkab.go.id"),  # the regency review: configured + Diskominfo's e-mail
    }
    month = f"{MONTH.start:%B %Y}"
    setda = got[("setda@kotimkab.go.id",)]
    assert setda["Subject"] == f"Monthly Application Review: Setda — {month}"
    assert setda["From"] == "pantau@kotimkab.go.id"
    regency = got[(ALSO, "kominfo@kotimkab.go.id")]
    assert regency["Subject"] == f"Monthly Review of Government Applications — {month}"
    for msg in got.values():
        html = msg.get_body(("html",))
        assert html is not None
        assert "<svg" in html.get_content()
        text = msg.get_body(("plain",))
        assert text is not None
        assert "attached as a PDF" in text.get_content()
        (pdf,) = list(msg.iter_attachments())
        assert pdf.get_content_type() == "application/pdf"
        assert pdf.get_content().startswith(b"%PDF-")
    assert setda.get_body(("html",)).get_content().count("JDIH") >= 1  # type: ignore[union-attr]
    assert "Website" not in setda.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert next(setda.iter_attachments()).get_filename() == f"pantau-{MONTH.label}-setda.pdf"


async def test_a_second_run_sends_nothing_again(mail_db: str) -> None:
    inbox = Inbox()
    async with smtp_server(inbox) as port:
        first = await deliver(mail_db, config(port))
        again = await deliver(mail_db, config(port))
    assert len(first.sent) == 3
    assert again.sent == []
    assert sorted(again.already) == sorted(first.sent)
    assert len(inbox.messages) == 3
    rows = await _sent_rows(mail_db)
    assert {r["scope"] for r in rows} == set(first.sent)


async def test_a_refused_send_is_retried(mail_db: str, caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox(refuse=2)  # two 451s, then it takes mail: within the 1 + 2 attempts
    async with smtp_server(inbox) as port:
        result = await deliver(mail_db, config(port))
    assert len(result.sent) == 3
    assert result.failed == []
    assert inbox.refused == 2
    assert len(inbox.messages) == 3
    assert "attempt 1 of 3 failed" in caplog.text
    assert "451" in caplog.text


async def test_a_server_that_keeps_failing_records_nothing(
    mail_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox(refuse=1000)
    async with smtp_server(inbox) as port:
        result = await deliver(mail_db, config(port))
    assert result.sent == []
    assert len(result.failed) == 3
    # The first review's three attempts; the others are not tried after that (they would only
    # hold the lock as long again): the next hour tries all three.
    assert inbox.refused == 3
    assert "2 more reviews not tried" in caplog.text
    assert await _sent_rows(mail_db) == []  # so the next hour tries again
    assert "not sent after 3 attempts" in caplog.text
    inbox.refuse = 0
    async with smtp_server(inbox) as port:
        later = await deliver(mail_db, config(port))
    assert len(later.sent) == 3


async def test_starttls_with_login(
    mail_db: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    monkeypatch.setenv("PANTAU_SMTP_PASSWORD", "s3cret")
    inbox = Inbox()
    cfg = config(0, starttls=True, username="pantau", password_env="PANTAU_SMTP_PASSWORD",
                 ca_file=str(cert))  # fmt: skip
    async with smtp_server(inbox, tls=tls, login=("pantau", "s3cret")) as port:
        cfg = msgspec.structs.replace(
            cfg,
            smtp=msgspec.structs.replace(cfg.smtp, port=port),  # type: ignore[arg-type]
        )
        result = await deliver(mail_db, cfg)
        assert len(result.sent) == 3
        # a wrong password is refused by the server: nothing recorded as sent
        monkeypatch.setenv("PANTAU_SMTP_PASSWORD", "wrong")
        async with asyncpg.create_pool(mail_db, min_size=1, max_size=2) as pool:
            other = await delivery.deliver_month(pool, cfg, month="2026-01", now=NOW)
        assert other.sent == []
        assert len(other.failed) == 3
    assert len(inbox.messages) == 3


async def test_the_schedule_sends_from_the_configured_day_and_hour(mail_db: str) -> None:
    cfg = config(0).review_mail
    assert cfg is not None
    assert (cfg.day, cfg.hour, cfg.timezone) == (2, 8, "Asia/Jakarta")
    wib = dt.timezone(dt.timedelta(hours=7))
    assert delivery.due_month(dt.datetime(2026, 12, 2, 7, 59, tzinfo=wib), cfg) == ""
    assert delivery.due_month(dt.datetime(2026, 12, 2, 8, 0, tzinfo=wib), cfg) == "2026-11"
    assert delivery.due_month(dt.datetime(2027, 1, 20, 3, 0, tzinfo=wib), cfg) == "2026-12"
    inbox = Inbox()
    next_month = MONTH.end  # the 1st of the month after the review's month, 00:00 WIB
    async with (
        smtp_server(inbox) as port,
        asyncpg.create_pool(mail_db, min_size=1, max_size=2) as pool,
    ):
        early = await delivery.run_due(pool, config(port), now=next_month + dt.timedelta(hours=31))
        assert early is None
        assert inbox.messages == []
        due = await delivery.run_due(pool, config(port), now=next_month + dt.timedelta(hours=32))
        assert due is not None
        assert len(due.sent) == 3


async def _sent_rows(url: str, month: str = MONTH.label) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch("SELECT * FROM review_mail_sent WHERE month = $1", month)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("yaml_text", "says"),
    [
        ("review_mail: {day: 2}\n", "`review_mail` needs `smtp`"),
        ("smtp: {host: mail, from: not-an-address}\n", "$.smtp.from"),
        ("smtp: {host: mail, from: a@b.cd, username: x}\n", "`username` and `password_env`"),
        ("smtp: {host: m, from: a@b.cd}\nreview_mail: {day: 31}\n", "$.review_mail.day"),
        ("smtp: {host: m, from: a@b.cd}\nreview_mail: {timezone: Mars/Base}\n",
         "$.review_mail.timezone"),
    ],
)  # fmt: skip
def test_mail_settings_are_checked_at_start_up(tmp_path: Path, yaml_text: str, says: str) -> None:
    from collector.config import ConfigError, load_config

    path = tmp_path / "collector.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert says in str(err.value)
    assert str(path) in str(err.value)


async def test_the_collector_sends_at_start_up_when_due(mail_db: str) -> None:
    """The schedule runs inside the collector: started after the due time, it catches up once."""
    from aiohttp.test_utils import TestServer

    from collector.web.app import make_app

    inbox = Inbox()
    async with smtp_server(inbox) as port:
        cfg = config(port)
        assert cfg.review_mail is not None
        # due from the 1st, 00:00: the month before now is always due (the synthetic month,
        # except in the first days of a month: tests/collector/review_month.py, SETTLED)
        cfg = msgspec.structs.replace(
            cfg, review_mail=msgspec.structs.replace(cfg.review_mail, day=1, hour=0)
        )
        assert cfg.review_mail is not None
        due = delivery.due_month(dt.datetime.now(dt.UTC), cfg.review_mail)
        server = TestServer(make_app(cfg, dsn=mail_db), host="127.0.0.1", port=0)
        await server.start_server()
        try:
            for _ in range(600):
                if len(await _sent_rows(mail_db, due)) == 3:
                    break
                await asyncio.sleep(0.1)
        finally:
            await server.close()
    assert len(await _sent_rows(mail_db, due)) == 3
    assert len(inbox.messages) == 3


async def test_stopping_the_collector_ends_a_send_waiting_to_retry(mail_db: str) -> None:
    """A run waiting between retries holds a pooled connection: the collector's shutdown ends
    the run (and waits for it to let go) before it closes the pool."""
    from aiohttp.test_utils import TestServer

    from collector.web.app import make_app

    inbox = Inbox(refuse=1000)
    async with smtp_server(inbox) as port:
        cfg = config(port)
        assert cfg.review_mail is not None
        cfg = msgspec.structs.replace(
            cfg,
            review_mail=msgspec.structs.replace(cfg.review_mail, day=1, hour=0, retry_seconds=3600),
        )
        server = TestServer(make_app(cfg, dsn=mail_db), host="127.0.0.1", port=0)
        await server.start_server()
        try:
            for _ in range(600):
                if inbox.refused:
                    break
                await asyncio.sleep(0.1)
            assert inbox.refused == 1  # now waiting an hour before the second attempt
        finally:
            # Bounded only so that a hang fails the test instead of the whole run.
            await asyncio.wait_for(server.close(), timeout=60)
    assert await _sent_rows(mail_db) == []
