"""Waiting for new mail in IMAP IDLE (RFC 2177), when the server offers it.

Blocking, for a worker thread. One wait is one connection: log in, EXAMINE the mailbox, look
for UIDs above the last one filed (mail that came between the last fetch and now), then IDLE
until the server reports new messages, the bounded timeout passes (re-issued by the caller,
under the 29-minute limit servers keep) or the caller cancels. Reading the mail stays with the
UID fetch in `poller.py`, so IDLE changes only when we look, never what is read.
"""

from __future__ import annotations

import contextlib
import enum
import imaplib
import re
import select
import socket
import threading
import time
from urllib.parse import unquote, urlsplit

# How often a waiting thread looks at its cancel flag.
_SLICE_SECONDS = 0.25
# "* 12 EXISTS" / "* 3 RECENT": the mailbox grew.
_NEW_MAIL = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.IGNORECASE)


class Wake(enum.Enum):
    """Why a wait ended."""

    NEW_MAIL = "new_mail"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    UNSUPPORTED = "unsupported"  # the server does not offer IDLE: poll instead


def connect(url: str, timeout: float) -> imaplib.IMAP4:
    """A logged-in connection (STARTTLS when offered on a plain connection)."""
    p = urlsplit(url)
    tls = p.scheme == "imaps"
    host, port = p.hostname or "localhost", p.port or (993 if tls else 143)
    imap = (
        imaplib.IMAP4_SSL(host, port, timeout=timeout)
        if tls
        else imaplib.IMAP4(host, port, timeout=timeout)
    )
    try:
        if not tls and "STARTTLS" in imap.capabilities:
            imap.starttls()
        imap.login(unquote(p.username or ""), unquote(p.password or ""))
        # Servers name more capabilities (IDLE among them) once logged in: ask again.
        typ, data = imap.capability()
        if typ == "OK" and data and data[-1]:
            imap.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())
    except BaseException:
        with contextlib.suppress(Exception):
            imap.shutdown()
        raise
    return imap


def mailbox_name(url: str) -> str:
    """The mailbox in the URL's path, INBOX when there is none."""
    return unquote(urlsplit(url).path.lstrip("/")) or "INBOX"


def wait_for_mail(
    url: str,
    uidvalidity: int | None,
    last_uid: int,
    *,
    idle_seconds: float,
    timeout: float,
    cancel: threading.Event,
) -> Wake:
    """Block until there is mail above `last_uid`, `idle_seconds` pass or `cancel` is set."""
    imap = connect(url, timeout)
    try:
        if "IDLE" not in imap.capabilities:
            return Wake.UNSUPPORTED
        typ, _ = imap.select(mailbox_name(url), readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot select {mailbox_name(url)!r}")
        _, validity = imap.response("UIDVALIDITY")
        current = int(validity[0]) if validity and validity[0] else 0
        if current != uidvalidity:
            return Wake.NEW_MAIL  # a new mailbox generation: read it again
        _, found = imap.uid("SEARCH", "UID", f"{last_uid + 1}:*")
        if any(int(u) > last_uid for u in (found[0] or b"").split()):
            return Wake.NEW_MAIL
        return _idle(imap, idle_seconds, cancel)
    finally:
        with contextlib.suppress(Exception):
            imap.shutdown()


def _idle(imap: imaplib.IMAP4, idle_seconds: float, cancel: threading.Event) -> Wake:
    """IDLE on the raw socket: imaplib (before 3.14) has no IDLE, and its buffered reader
    cannot be polled, so the continuation and the untagged lines are read here."""
    tag = imap._new_tag()
    sock = imap.sock
    sock.sendall(tag + b" IDLE\r\n")
    reader = _Lines(sock)
    # The server's "+ idling" comes at once; a cancel is looked at only after it.
    line = reader.next_line(time.monotonic() + 10, None)
    if line is None or not line.startswith(b"+"):
        raise imaplib.IMAP4.error(f"IDLE refused: {line!r}")
    deadline = time.monotonic() + idle_seconds
    wake = Wake.TIMEOUT
    while True:
        line = reader.next_line(deadline, cancel)
        if line is None:
            wake = Wake.CANCELLED if cancel.is_set() else Wake.TIMEOUT
            break
        if _NEW_MAIL.match(line):
            wake = Wake.NEW_MAIL
            break
        if line.startswith(b"* BYE"):
            raise imaplib.IMAP4.abort(f"server ended IDLE: {line!r}")
    sock.sendall(b"DONE\r\n")
    end = time.monotonic() + 5
    while (line := reader.next_line(end, None)) is not None:
        if line.startswith(tag):
            break
    return wake


class _Lines:
    """CRLF-terminated lines from a socket, waiting in short slices so a cancel is seen."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def next_line(self, deadline: float, cancel: threading.Event | None) -> bytes | None:
        """The next line, or None at the deadline or on cancel."""
        while b"\r\n" not in self.buffer:
            if cancel is not None and cancel.is_set():
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            pending = getattr(self.sock, "pending", lambda: 0)()  # TLS keeps decrypted bytes
            if not pending:
                ready, _, _ = select.select([self.sock], [], [], min(left, _SLICE_SECONDS))
                if not ready:
                    continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise imaplib.IMAP4.abort("connection closed during IDLE")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line
