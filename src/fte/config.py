"""Every setting of the product, read from the environment (and an optional `.env`).

The README's configuration table is generated from nothing: keep it in step with this file.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Priority = Literal["low", "medium", "high", "urgent"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Where the embedded database, the generated secret key and run files live.
    data_dir: Path = Field(default=Path(".fte"), alias="FTE_DATA_DIR")
    # An external PostgreSQL (with pgvector). Unset: the embedded server under data_dir starts.
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    db_pool_min: int = Field(default=2, alias="FTE_DB_POOL_MIN", ge=0)
    db_pool_max: int = Field(default=10, alias="FTE_DB_POOL_MAX", ge=1)
    embedded_pg_port: int = Field(default=0, alias="FTE_EMBEDDED_PG_PORT", ge=0, le=65535)

    host: str = Field(default="127.0.0.1", alias="FTE_HOST")
    port: int = Field(default=8000, alias="FTE_PORT", ge=1, le=65535)
    api_workers: int = Field(default=1, alias="FTE_API_WORKERS", ge=1, le=64)
    public_url: str | None = Field(default=None, alias="FTE_PUBLIC_URL")
    # Signs ticket status links. Unset: generated once and kept in data_dir/secret_key.
    secret_key: str | None = Field(default=None, alias="FTE_SECRET_KEY")
    max_body_bytes: int = Field(default=65_536, alias="FTE_MAX_BODY_BYTES", ge=1024)
    log_level: str = Field(default="INFO", alias="FTE_LOG_LEVEL")
    # text: readable lines (local); json: one JSON object per line (production, deploy/).
    log_format: Literal["text", "json"] = Field(default="text", alias="FTE_LOG_FORMAT")
    # Proxies (comma-separated addresses or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto
    # are believed: the client is the rightmost address not in this list. Loopback only by
    # default (a proxy on the same host); empty: no proxy, the TCP peer is the client.
    trusted_proxies: str = Field(default="127.0.0.1,::1", alias="FTE_TRUSTED_PROXIES")
    # A request's head (request line and headers) must arrive within this many seconds of the
    # connection opening (or the previous response); its body within this many seconds after
    # the head. Past either, the server answers 408 and closes the connection (slow clients
    # cannot hold connections open: slowloris, slow-body).
    request_header_timeout_seconds: float = Field(
        default=10.0, alias="FTE_REQUEST_HEADER_TIMEOUT_SECONDS", gt=0
    )
    request_body_timeout_seconds: float = Field(
        default=30.0, alias="FTE_REQUEST_BODY_TIMEOUT_SECONDS", gt=0
    )

    # postgres: workers claim outbox rows directly. kafka: a relay publishes them to Kafka.
    bus: Literal["postgres", "kafka"] = Field(default="postgres", alias="FTE_BUS")
    worker_batch_size: int = Field(default=16, alias="FTE_WORKER_BATCH_SIZE", ge=1, le=256)
    # Messages of different conversations a worker handles at once (each one's in order).
    worker_concurrency: int = Field(default=8, alias="FTE_WORKER_CONCURRENCY", ge=1, le=64)
    worker_poll_seconds: float = Field(default=1.0, alias="FTE_WORKER_POLL_SECONDS", gt=0)
    worker_lease_seconds: float = Field(default=60.0, alias="FTE_WORKER_LEASE_SECONDS", gt=0)
    worker_max_attempts: int = Field(default=5, alias="FTE_WORKER_MAX_ATTEMPTS", ge=1)
    # Each worker records a beat this often; one that missed 3 is counted dead (/health, doctor).
    worker_heartbeat_seconds: float = Field(default=5.0, alias="FTE_WORKER_HEARTBEAT_SECONDS", gt=0)
    # Retry n waits a random time in [0, min(cap, 2^n)] s (exponential backoff, full jitter).
    worker_backoff_cap_seconds: float = Field(
        default=300.0, alias="FTE_WORKER_BACKOFF_CAP_SECONDS", ge=0
    )

    # Self-healing: a customer message with no agent run this long after it was filed is
    # re-enqueued by the worker, at most FTE_STUCK_MAX_REDRIVES times, then dead-lettered (and
    # the ticket goes to a person). `fte doctor` calls such tickets stuck.
    stuck_after_minutes: float = Field(default=5.0, alias="FTE_STUCK_AFTER_MINUTES", gt=0)
    stuck_max_redrives: int = Field(default=3, alias="FTE_STUCK_MAX_REDRIVES", ge=0)
    stuck_check_seconds: float = Field(default=60.0, alias="FTE_STUCK_CHECK_SECONDS", gt=0)

    # Kafka (FTE_BUS=kafka). Comma-separated host:port list.
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    # Prepended to every topic name, so several deployments can share one cluster.
    kafka_topic_prefix: str = Field(default="fte.", alias="FTE_KAFKA_TOPIC_PREFIX")
    kafka_inbound_topic: str = Field(default="inbound", alias="FTE_KAFKA_INBOUND_TOPIC")
    kafka_outbound_topic: str = Field(default="outbound", alias="FTE_KAFKA_OUTBOUND_TOPIC")
    kafka_dead_letter_topic: str = Field(
        default="dead-letters", alias="FTE_KAFKA_DEAD_LETTER_TOPIC"
    )
    # Partitions `fte kafka create-topics` gives each topic: the most workers that share it.
    kafka_partitions: int = Field(default=6, alias="FTE_KAFKA_PARTITIONS", ge=1, le=1000)
    kafka_replication_factor: int = Field(
        default=1, alias="FTE_KAFKA_REPLICATION_FACTOR", ge=1, le=10
    )
    kafka_group_id: str = Field(default="fte-workers", alias="FTE_KAFKA_GROUP_ID")
    # Idempotent producer (no duplicates from producer retries). Tansu's in-memory engine
    # rejects aiokafka's InitProducerId request: the embedded broker runs with this off.
    kafka_idempotence: bool = Field(default=True, alias="FTE_KAFKA_IDEMPOTENCE")
    # A worker silent this long is out of the group; its partitions go to the others.
    kafka_session_timeout_seconds: float = Field(
        default=10.0, alias="FTE_KAFKA_SESSION_TIMEOUT_SECONDS", ge=1
    )
    # Partitions one worker process works on at the same time.
    kafka_concurrency: int = Field(default=4, alias="FTE_KAFKA_CONCURRENCY", ge=1, le=64)
    # The longest a relay waits for the broker's acknowledgement before it tries again later.
    kafka_publish_timeout_seconds: float = Field(
        default=5.0, alias="FTE_KAFKA_PUBLISH_TIMEOUT_SECONDS", gt=0
    )
    kafka_relay_batch_size: int = Field(default=500, alias="FTE_KAFKA_RELAY_BATCH_SIZE", ge=1)
    # A row published this long ago and still not processed is published again (a broker
    # that lost it, e.g. an in-memory one restarted). Redelivery is harmless: one answer only.
    kafka_republish_after_seconds: float = Field(
        default=600.0, alias="FTE_KAFKA_REPUBLISH_AFTER_SECONDS", gt=0
    )
    # How often the relay asks the broker for its end offsets: below what it once acknowledged
    # means the broker lost records, and every unprocessed row is published again at once.
    kafka_loss_check_seconds: float = Field(default=5.0, alias="FTE_KAFKA_LOSS_CHECK_SECONDS", gt=0)

    # `fte worker` serves Prometheus metrics on this port (0: off).
    metrics_port: int = Field(default=0, alias="FTE_METRICS_PORT", ge=0, le=65535)
    # Where `fte serve` API processes share their metric counts (prometheus_client's
    # multiprocess mode). Unset: data_dir/metrics, used only with more than one API process.
    metrics_multiproc_dir: Path | None = Field(default=None, alias="PROMETHEUS_MULTIPROC_DIR")
    # The API's /metrics asks for `Authorization: Bearer <this>`. Unset: /metrics is not served
    # (404), so ticket and queue counts are never public by accident.
    metrics_token: str | None = Field(default=None, alias="FTE_METRICS_TOKEN")

    # Calibrated with `fte eval --calibrate` on the bitext and StackFAQ dev splits (README).
    answer_threshold: float = Field(default=0.45, alias="FTE_ANSWER_THRESHOLD", ge=0, le=1)
    text_search_weight: float = Field(default=0.1, alias="FTE_TEXT_SEARCH_WEIGHT", ge=0)
    repeat_contact_days: int = Field(default=7, alias="FTE_REPEAT_CONTACT_DAYS", ge=0)
    # A message at least this negative (-1..0) goes to a human even when the KB could answer.
    negative_sentiment_threshold: float = Field(
        default=-0.9, alias="FTE_NEGATIVE_SENTIMENT_THRESHOLD", ge=-1, le=0
    )
    retrieval_top_k: int = Field(default=8, alias="FTE_RETRIEVAL_TOP_K", ge=1, le=100)
    embedding_device: str = Field(default="cpu", alias="FTE_EMBEDDING_DEVICE")
    # CPU threads each embedding process (and the worker's numpy) uses. One leaves the other
    # cores to PostgreSQL, the API and other workers (more threads on a shared core spin and
    # starve them); add embedding processes or workers instead.
    embedding_threads: int = Field(default=1, alias="FTE_EMBEDDING_THREADS", ge=1, le=256)
    # `fte worker` runs the model in child processes, where its Python does not take turns
    # with the worker's event loop for the GIL (bench/bus.py: 10-20% more messages per second
    # on two cores with the PostgreSQL queue). Off: in the worker's own process.
    embedding_process: bool = Field(default=True, alias="FTE_EMBEDDING_PROCESS")
    # How many: each embeds one batch at a time on FTE_EMBEDDING_THREADS threads and holds
    # about 0.5 GB. Unset: the cores the worker may use (its CPU affinity and a container's CPU
    # limit), at most 2 (the PostgreSQL queue's batches in flight).
    embedding_processes: int | None = Field(
        default=None, alias="FTE_EMBEDDING_PROCESSES", ge=1, le=64
    )
    # Intake first on a shared machine: the worker, its embedding processes and (embedded
    # database) its PostgreSQL backends run at this niceness, so the API takes a core from them
    # whenever it has a request and leaves it to them otherwise (fte/worker/priority.py). 10
    # weighs the API about 9:1 against a worker process under CFS; 0: the same priority.
    worker_nice: int = Field(
        default=10,
        alias="FTE_WORKER_NICE",
        ge=0,
        le=19,
        description="CPU niceness of the worker and its embedding processes (0: as the API).",
    )
    # An OpenAI-compatible chat endpoint (OpenAI, Groq, Ollama, vLLM) that writes replies from
    # the retrieved sources. Unset: the local grounded responder writes them.
    llm_base_url: str | None = Field(default=None, alias="FTE_LLM_BASE_URL")
    llm_api_key: str | None = Field(default=None, alias="FTE_LLM_API_KEY")
    llm_model: str = Field(default="gpt-4o-mini", alias="FTE_LLM_MODEL")
    llm_timeout_seconds: float = Field(default=20.0, alias="FTE_LLM_TIMEOUT_SECONDS", gt=0)
    llm_max_retries: int = Field(default=2, alias="FTE_LLM_MAX_RETRIES", ge=0, le=10)
    llm_breaker_failures: int = Field(default=5, alias="FTE_LLM_BREAKER_FAILURES", ge=1)
    llm_breaker_reset_seconds: float = Field(
        default=60.0, alias="FTE_LLM_BREAKER_RESET_SECONDS", gt=0
    )
    # USD per 1,000 tokens, to record the cost of each run (0: not recorded as a cost).
    llm_input_cost_per_1k: float = Field(default=0.0, alias="FTE_LLM_INPUT_COST_PER_1K", ge=0)
    llm_output_cost_per_1k: float = Field(default=0.0, alias="FTE_LLM_OUTPUT_COST_PER_1K", ge=0)
    # Approval mode: the agent's answers wait for a human as drafts instead of being sent.
    approval_mode: bool = Field(default=False, alias="FTE_APPROVAL_MODE")
    company_name: str = Field(default="CloudSync Pro", alias="FTE_COMPANY_NAME")

    # Delivery of replies through the channels: quick retries inside one attempt (tenacity),
    # then the job is retried by the queue with backoff, then it is a dead letter.
    delivery_max_attempts: int = Field(default=5, alias="FTE_DELIVERY_MAX_ATTEMPTS", ge=1)
    delivery_quick_retries: int = Field(default=3, alias="FTE_DELIVERY_QUICK_RETRIES", ge=1)
    delivery_backoff_seconds: float = Field(default=1.0, alias="FTE_DELIVERY_BACKOFF_SECONDS", gt=0)
    delivery_timeout_seconds: float = Field(
        default=10.0, alias="FTE_DELIVERY_TIMEOUT_SECONDS", gt=0
    )
    delivery_breaker_failures: int = Field(default=5, alias="FTE_DELIVERY_BREAKER_FAILURES", ge=1)
    delivery_breaker_reset_seconds: float = Field(
        default=60.0, alias="FTE_DELIVERY_BREAKER_RESET_SECONDS", gt=0
    )

    # WhatsApp through Twilio: active when the three credentials are set.
    twilio_account_sid: str | None = Field(default=None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(default=None, alias="TWILIO_AUTH_TOKEN")
    # The sender, e.g. whatsapp:+14155238886 (the "whatsapp:" prefix is added when missing).
    twilio_whatsapp_from: str | None = Field(default=None, alias="TWILIO_WHATSAPP_FROM")
    twilio_api_base: str = Field(default="https://api.twilio.com", alias="TWILIO_API_BASE")

    # Email over IMAP/SMTP: active when the three are set. imap://user:pass@host:143/INBOX
    # (imaps:// for TLS), smtp://user:pass@host:587 (smtps:// for TLS; smtp:// upgrades with
    # STARTTLS when the server offers it).
    imap_url: str | None = Field(default=None, alias="IMAP_URL")
    smtp_url: str | None = Field(default=None, alias="SMTP_URL")
    email_from: str | None = Field(default=None, alias="EMAIL_FROM")
    email_poll_seconds: float = Field(default=30.0, alias="FTE_EMAIL_POLL_SECONDS", gt=0)
    # Wait in IMAP IDLE when the server offers it (new mail filed within a second); each IDLE
    # is ended and re-issued after this long, under RFC 2177's 29-minute server limit.
    email_idle: bool = Field(default=True, alias="FTE_EMAIL_IDLE")
    email_idle_seconds: float = Field(default=1500.0, alias="FTE_EMAIL_IDLE_SECONDS", gt=0, le=1740)

    # Chatwoot: active when the four settings are set. The base URL is the API's as well.
    chatwoot_base_url: str | None = Field(default=None, alias="CHATWOOT_BASE_URL")
    chatwoot_api_token: str | None = Field(default=None, alias="CHATWOOT_API_TOKEN")
    chatwoot_account_id: int | None = Field(default=None, alias="CHATWOOT_ACCOUNT_ID", ge=1)
    chatwoot_webhook_secret: str | None = Field(default=None, alias="CHATWOOT_WEBHOOK_SECRET")
    # A signed webhook older (or newer) than this is refused: a replayed capture.
    chatwoot_max_skew_seconds: int = Field(default=300, alias="CHATWOOT_MAX_SKEW_SECONDS", ge=1)
    load_demo_kb: bool = Field(default=True, alias="FTE_LOAD_DEMO_KB")

    # Gmail through the Gmail API with Pub/Sub push: active when the credentials file, the
    # Pub/Sub topic, the mailbox address and a way to verify pushes (GMAIL_PUSH_TOKEN and/or
    # GMAIL_PUSH_AUDIENCE) are set.
    # A Google credentials JSON file: an OAuth authorized user (with a refresh token) or a
    # service account with domain-wide delegation (it acts as GMAIL_ADDRESS).
    gmail_credentials_file: Path | None = Field(default=None, alias="GMAIL_CREDENTIALS_FILE")
    # The topic Gmail publishes to: projects/PROJECT/topics/TOPIC.
    gmail_pubsub_topic: str | None = Field(default=None, alias="GMAIL_PUBSUB_TOPIC")
    # The mailbox's address: pushes for other mailboxes are refused, its own mail is not filed.
    gmail_address: str | None = Field(default=None, alias="GMAIL_ADDRESS")
    # The Gmail API's userId for the mailbox ("me": the credentials' own account).
    gmail_user_id: str = Field(default="me", alias="GMAIL_USER_ID")
    # Shared secret in the push endpoint's URL (`/gmail/webhook?token=...`).
    gmail_push_token: str | None = Field(default=None, alias="GMAIL_PUSH_TOKEN")
    # Authenticated push: the OIDC token's audience, and the service account that signs it.
    gmail_push_audience: str | None = Field(default=None, alias="GMAIL_PUSH_AUDIENCE")
    gmail_push_service_account: str | None = Field(default=None, alias="GMAIL_PUSH_SERVICE_ACCOUNT")
    # Where Google's token-signing certificates are read (the v1 map of key id to PEM).
    gmail_certs_url: str = Field(
        default="https://www.googleapis.com/oauth2/v1/certs", alias="GMAIL_CERTS_URL"
    )
    # The Gmail API's base URL, for proxies and test servers.
    gmail_api_base: str = Field(default="https://gmail.googleapis.com/", alias="GMAIL_API_BASE")
    # Replaces the credentials file's token_uri (a proxy or a test server).
    gmail_token_uri: str | None = Field(default=None, alias="GMAIL_TOKEN_URI")
    # How often the worker checks the watch (it renews when it expires within a day).
    gmail_watch_check_seconds: float = Field(
        default=3600.0, alias="FTE_GMAIL_WATCH_CHECK_SECONDS", gt=0
    )

    # Console sign-in.
    session_hours: float = Field(default=12.0, alias="FTE_SESSION_HOURS", gt=0)
    # Minutes to a person's first response, per priority (JSON in the environment).
    sla_minutes: dict[Priority, int] = Field(
        default={"urgent": 60, "high": 240, "medium": 480, "low": 1440},
        alias="FTE_SLA_MINUTES",
    )
    login_rate_limit: int = Field(default=10, alias="FTE_LOGIN_RATE_LIMIT", ge=0)
    # Requests a minute from one client IP (0: no limit); past it, 429 with Retry-After.
    # Provider webhooks come from few addresses (Twilio's, Chatwoot's): keep theirs generous.
    webhook_rate_limit: int = Field(default=600, alias="FTE_WEBHOOK_RATE_LIMIT", ge=0)
    form_rate_limit: int = Field(default=20, alias="FTE_FORM_RATE_LIMIT", ge=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for item in _split(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        """FTE_TRUSTED_PROXIES as a list of addresses and networks."""
        return _split(self.trusted_proxies)

    @property
    def embedded(self) -> bool:
        """True when no external database is configured."""
        return self.database_url is None

    @property
    def base_url(self) -> str:
        """The URL customers reach us at, for links we hand out."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once and kept beside the data."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: when API and worker start together, exactly one of them writes the key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


async def _app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# The settings the running app was created with (tests create apps with their own).
SettingsDep = Annotated[Settings, Depends(_app_settings)]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
