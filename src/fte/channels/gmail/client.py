"""The Gmail API through Google's own client (google-api-python-client, google-auth).

The API's description is the static discovery document shipped inside the wheel and the
endpoint is GMAIL_API_BASE, so nothing is fetched from Google but the calls themselves. The
client is synchronous: callers run it in a thread. Provider failures leave here as the
channel exceptions of `fte.messaging`.
https://developers.google.com/workspace/gmail/api/reference/rest
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import google.auth.exceptions
import google.oauth2.credentials
import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from fte.config import Settings
from fte.messaging import ChannelAuthError, ChannelUnavailable, DeliveryRejected

# Read, send and watch the mailbox.
SCOPES = ["https://www.googleapis.com/auth/gmail.modify"]
# Message ids taken from the history in one go; the rest are read at the next push or check.
MAX_BATCH = 100
T = TypeVar("T")


class HistoryGone(Exception):
    """Gmail no longer has history from the given id (404): the cursor is too old."""


@cache
def _discovery() -> dict[str, Any]:
    doc = get_static_doc("gmail", "v1")
    if doc is None:  # pragma: no cover - the wheel ships it
        raise RuntimeError("google-api-python-client has no static Gmail discovery document")
    parsed: dict[str, Any] = json.loads(doc)
    return parsed


def load_credentials(settings: Settings) -> Credentials:
    """The credentials file: an authorized user (refresh token) or a service account acting as
    GMAIL_ADDRESS; GMAIL_TOKEN_URI replaces its token endpoint."""
    assert settings.gmail_credentials_file is not None
    try:
        info = json.loads(settings.gmail_credentials_file.read_text())
    except (OSError, ValueError) as exc:
        raise ChannelAuthError(f"cannot read GMAIL_CREDENTIALS_FILE: {exc}") from exc
    if not isinstance(info, dict):
        raise ChannelAuthError("GMAIL_CREDENTIALS_FILE is not a JSON object")
    if settings.gmail_token_uri:
        info["token_uri"] = settings.gmail_token_uri
    try:
        if info.get("type") == "service_account":
            return service_account.Credentials.from_service_account_info(
                info, scopes=SCOPES, subject=settings.gmail_address
            )
        if info.get("type") == "authorized_user":
            user = google.oauth2.credentials.Credentials.from_authorized_user_info(info, SCOPES)
            # google-auth always sets Google's endpoint here: only the setting replaces it.
            if settings.gmail_token_uri:
                user = user.with_token_uri(settings.gmail_token_uri)
            return user
    except (ValueError, KeyError) as exc:
        raise ChannelAuthError(f"GMAIL_CREDENTIALS_FILE is not usable: {exc}") from exc
    raise ChannelAuthError(
        "GMAIL_CREDENTIALS_FILE must hold an 'authorized_user' or a 'service_account'"
    )


def _reason(exc: HttpError) -> str:
    try:
        details = json.loads(exc.content).get("error", {})
        reasons = [e.get("reason", "") for e in details.get("errors", [])]
        return f"{details.get('message', '')} ({', '.join(r for r in reasons if r)})"
    except (ValueError, AttributeError):
        return exc.content.decode("utf-8", "replace")[:300]


def classify(exc: HttpError) -> Exception:
    """Gmail's HTTP error as the channel's exception."""
    status = int(exc.resp.status)
    reason = _reason(exc)
    detail = f"Gmail {status}: {reason}"
    if status == 429 or status >= 500 or "rateLimitExceeded" in reason:
        return ChannelUnavailable(detail)
    if status in (401, 403):
        return ChannelAuthError(detail)
    return DeliveryRejected(detail)


def _number(answer: Any, name: str, call: str) -> int:
    """A uint64 field of Gmail's answer (a number or a string of digits). An answer without it
    is Gmail's fault, not our caller's: ChannelUnavailable (a 503 to an HTTP caller)."""
    value = answer.get(name) if isinstance(answer, dict) else None
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) >= 2**63:
        raise ChannelUnavailable(f"Gmail's {call} answer has no valid {name}: {value!r:.40}")
    return int(text)


class GmailClient:
    """One mailbox's Gmail API calls (blocking)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.user = settings.gmail_user_id
        self._credentials: Credentials | None = None

    def _service(self) -> Any:
        if self._credentials is None:
            self._credentials = load_credentials(self.settings)
        http = google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=httplib2.Http(timeout=self.settings.delivery_timeout_seconds)
        )
        # A fresh HTTP connection per call: httplib2 is not thread-safe; the credentials (and
        # their access token) are shared.
        return build_from_document(
            _discovery(),
            http=http,
            client_options={"api_endpoint": self.settings.gmail_api_base.rstrip("/") + "/"},
        )

    def _run(self, make: Callable[[Any], Any]) -> Any:
        try:
            return make(self._service().users()).execute(num_retries=0)
        except HttpError:
            raise
        except google.auth.exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise ChannelUnavailable(f"Google token endpoint: {exc}") from exc
            raise ChannelAuthError(f"Google refused the credentials: {exc}") from exc
        except (google.auth.exceptions.TransportError, httplib2.HttpLib2Error, OSError) as exc:
            raise ChannelUnavailable(f"Gmail unreachable: {exc!r}") from exc

    def call(self, make: Callable[[Any], Any]) -> Any:
        """Execute `make(service.users())`; Gmail's errors become the channel's."""
        try:
            return self._run(make)
        except HttpError as exc:
            raise classify(exc) from exc

    def watch(self) -> tuple[int, int]:
        """users.watch on the INBOX: (history id now, expiration in ms since the epoch)."""
        body = {
            "topicName": self.settings.gmail_pubsub_topic,
            "labelIds": ["INBOX"],
            "labelFilterBehavior": "INCLUDE",
        }
        answer = self.call(lambda u: u.watch(userId=self.user, body=body))
        return _number(answer, "historyId", "watch"), _number(answer, "expiration", "watch")

    def history(self, start: int) -> tuple[list[str], int]:
        """Ids of the messages added to the INBOX after history id `start`, oldest first, and
        the history id they run up to. Raises HistoryGone when Gmail no longer has `start`."""
        ids: list[str] = []
        token: str | None = None
        while True:

            def page(users: Any, page_token: str | None = token) -> Any:
                return users.history().list(
                    userId=self.user,
                    startHistoryId=str(start),
                    historyTypes="messageAdded",
                    labelId="INBOX",
                    maxResults=500,
                    pageToken=page_token,
                )

            try:
                answer = self._run(page)
            except HttpError as exc:
                if int(exc.resp.status) == 404:
                    raise HistoryGone(str(start)) from exc
                raise classify(exc) from exc
            for record in answer.get("history", []):
                for added in record.get("messagesAdded", []):
                    gmail_id = added.get("message", {}).get("id")
                    if gmail_id and gmail_id not in ids:
                        ids.append(gmail_id)
                if len(ids) >= MAX_BATCH:
                    return ids, _number(record, "id", "history record")
            token = answer.get("nextPageToken")
            if not token:
                return ids, _number(answer, "historyId", "history.list")

    def recent(self, count: int) -> tuple[list[str], int]:
        """The latest `count` INBOX messages, oldest first, and the mailbox's history id read
        before listing them (so anything arriving meanwhile is in the next history)."""
        profile = self.call(lambda u: u.getProfile(userId=self.user))
        answer = self.call(
            lambda u: u.messages().list(userId=self.user, labelIds=["INBOX"], maxResults=count)
        )
        ids = [m["id"] for m in answer.get("messages", [])]
        return list(reversed(ids)), _number(profile, "historyId", "getProfile")

    def get_raw(self, gmail_id: str) -> tuple[bytes, str] | None:
        """(RFC 2822 bytes, thread id) of a message; None when it is gone (deleted since)."""
        try:
            answer = self._run(
                lambda u: u.messages().get(userId=self.user, id=gmail_id, format="raw")
            )
        except HttpError as exc:
            if int(exc.resp.status) == 404:
                return None
            raise classify(exc) from exc
        raw = answer["raw"]
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), str(answer["threadId"])

    def headers(self, gmail_id: str, names: list[str]) -> dict[str, str] | None:
        """Some headers of a message, by lower-cased name; None when it is gone."""
        try:
            answer = self._run(
                lambda u: u.messages().get(
                    userId=self.user, id=gmail_id, format="metadata", metadataHeaders=names
                )
            )
        except HttpError as exc:
            if int(exc.resp.status) == 404:
                return None
            raise classify(exc) from exc
        found = answer.get("payload", {}).get("headers", [])
        return {h["name"].lower(): h["value"] for h in found if "name" in h and "value" in h}

    def send(self, raw: bytes, thread_id: str | None) -> str:
        """users.messages.send of an RFC 2822 message, on `thread_id`; Gmail's id for it."""
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(raw).decode()}
        if thread_id:
            body["threadId"] = thread_id
        answer = self.call(lambda u: u.messages().send(userId=self.user, body=body))
        return str(answer["id"])
