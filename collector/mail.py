"""Sending e-mail through the configured SMTP server (aiosmtplib: on the event loop, STARTTLS).

aiosmtplib rather than the standard library's smtplib in a thread: the collector is asyncio
throughout, a slow mail server then holds no thread, and its STARTTLS and AUTH are the same
well-kept code paths. The password comes from the environment variable the configuration names.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from collector.config import ConfigError, SmtpConfig


@dataclass(frozen=True, kw_only=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


@dataclass(frozen=True, kw_only=True)
class Mail:
    to: Sequence[str]
    subject: str
    text: str  # for mail readers that show no HTML
    html: str
    attachments: Sequence[Attachment] = field(default_factory=tuple)


class MailError(Exception):
    """The server refused the message or could not be reached; the message says which."""


def build_message(mail: Mail, *, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(mail.to)
    msg["Subject"] = mail.subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2])
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    for a in mail.attachments:
        msg.add_attachment(a.content, maintype=a.maintype, subtype=a.subtype, filename=a.filename)
    return msg


async def send(smtp: SmtpConfig, message: EmailMessage) -> None:
    """Send once; MailError when it did not go (the caller decides about retrying)."""
    try:
        password = smtp.password()  # read now: a rotated secret needs no restart
    except ConfigError as exc:
        raise MailError(str(exc)) from exc
    try:
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            start_tls=smtp.starttls,
            use_tls=smtp.tls,
            username=smtp.username,
            password=password,
            cert_bundle=smtp.ca_file,
            timeout=smtp.timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailError(f"{smtp.host}:{smtp.port}: {exc}") from exc
