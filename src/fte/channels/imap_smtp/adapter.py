"""Email over IMAP/SMTP: replies sent over SMTP on the customer's thread (In-Reply-To and
References); mail is read by `poller.py`."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import unquote, urlsplit

import asyncpg

from fte.agent.formatting import first_name, greeting
from fte.channels.imap_smtp.schemas import message_ids
from fte.messaging import (
    AdapterBase,
    BackgroundTask,
    ChannelAuthError,
    ChannelUnavailable,
    DeliveryReceipt,
    DeliveryRejected,
    OutboundMessage,
    Reply,
)


def email_reply(
    body: str, customer_name: str | None, ticket_number: int, company: str, sources: list[str]
) -> str:
    """Greeting, answer, where it comes from, an invitation to reply, sign-off, reference."""
    parts = [greeting(customer_name), body]
    if sources:
        parts.append("This comes from our help centre: " + "; ".join(sources) + ".")
    parts.append("If this does not solve it, just reply to this email and we will help.")
    parts.append(f"Best regards,\n{company} Support")
    parts.append(f"Ticket reference: #{ticket_number}")
    return "\n\n".join(parts)


def sign_email(body: str, person: str, company: str) -> str:
    """A person's email signed with their first name: the team's sign-off of an approved
    draft gains the name; their own words get the sign-off."""
    name = first_name(person) or person
    team = f"Best regards,\n{company} Support"
    if team in body:
        return body.replace(team, f"Best regards,\n{name}\n{company} Support", 1)
    return f"{body.rstrip()}\n\nBest regards,\n{name}\n{company} Support"


def email_parts(reply: Reply, company: str) -> list[str]:
    """A reply as an email channel sends it: one body."""
    return [
        email_reply(
            reply.body,
            reply.customer_name,
            reply.ticket_number,
            company,
            [c.title for c in reply.citations],
        )
    ]


class EmailAdapter(AdapterBase):
    """Greeting, answer, sign-off and the ticket reference."""

    name = "email"
    required_settings: Mapping[str, str] = {
        "imap_url": "IMAP_URL",
        "smtp_url": "SMTP_URL",
        "email_from": "EMAIL_FROM",
    }

    def background_tasks(self, pool: asyncpg.Pool) -> dict[str, BackgroundTask]:
        """The mailbox poller (IDLE where the server offers it)."""
        from fte.channels.imap_smtp.poller import MailboxPoller

        return {"mailbox-poller": MailboxPoller(pool, self.settings).run}

    def format_reply(self, reply: Reply) -> list[str]:
        """One email body."""
        return email_parts(reply, self.settings.company_name)

    def sign(self, body: str, person: str) -> str:
        """Signed like the agent's replies, with the person's first name."""
        return sign_email(body, person, self.settings.company_name)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """One email on the customer's thread; its Message-ID is the receipt."""
        if not message.to:
            raise DeliveryRejected("no email address to reply to")
        assert self.settings.smtp_url is not None and self.settings.email_from is not None
        mail = build_reply(message, self.settings.email_from)
        await asyncio.to_thread(
            smtp_send, self.settings.smtp_url, mail, self.settings.delivery_timeout_seconds
        )
        return DeliveryReceipt(external_id=str(mail["Message-ID"]), status="sent")


def build_reply(message: OutboundMessage, sender: str) -> EmailMessage:
    """The reply, threaded (RFC 5322 §3.6.4): In-Reply-To the customer's message, References
    the answered message's References followed by its Message-ID."""
    mail = EmailMessage()
    # §3.6.1 requires the origination date. +0000, not "GMT" (obsolete) or -0000 (which says
    # the sender's zone is unknown).
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["From"] = sender
    mail["To"] = message.to or ""
    subject = message.subject or "Your request"
    mail["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-replied"
    if message.in_reply_to:
        mail["In-Reply-To"] = message.in_reply_to
        # Without the answered message's own chain (an older message), the thread's root.
        chain = message_ids(" ".join(message.references)) or message_ids(message.thread_key)
        refs = [*chain, message.in_reply_to]
        mail["References"] = " ".join(dict.fromkeys(refs))
    mail.set_content(message.body)
    return mail


def smtp_send(url: str, mail: EmailMessage, timeout: float) -> None:
    """Send over SMTP (blocking); provider failures become the channel's exceptions."""
    parsed = urlsplit(url)
    tls = parsed.scheme == "smtps"
    port = parsed.port or (465 if tls else 587)
    host = parsed.hostname or "localhost"
    try:
        client = (smtplib.SMTP_SSL if tls else smtplib.SMTP)(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if not tls and client.has_extn("starttls"):
                client.starttls()
                client.ehlo()
            if parsed.username:
                client.login(unquote(parsed.username), unquote(parsed.password or ""))
            client.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise ChannelAuthError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryRejected(f"SMTP refused the recipient: {exc.recipients!r}") from exc
    except smtplib.SMTPResponseException as exc:
        detail = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
        if 400 <= exc.smtp_code < 500:
            raise ChannelUnavailable(detail) from exc
        raise DeliveryRejected(detail) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelUnavailable(f"SMTP unreachable: {exc!r}") from exc
