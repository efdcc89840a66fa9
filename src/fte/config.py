"""Every setting of the product, read from the environment (and an optional `.env`).

`docs/configuration.md` is generated from this class (`fte config docs`): give every new field
a `Field(description=...)` and regenerate it; a test fails while the two differ.
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
    """Every environment variable the product reads; `docs/configuration.md` is made from it."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path(".fte"),
        alias="FTE_DATA_DIR",
        description="Embedded database and its generated superuser password "
        "(`postgres_password`, mode 0600; the directory is made 0700), generated secret key, "
        "lock file.",
    )
    database_url: str | None = Field(
        default=None,
        alias="DATABASE_URL",
        description="External PostgreSQL ≥ 15 with the `vector` extension available, e.g. "
        "`postgresql://fte:secret@db:5432/fte`. Unset: the embedded server under "
        "`FTE_DATA_DIR` starts.",
    )
    db_pool_min: int = Field(
        default=2, alias="FTE_DB_POOL_MIN", ge=0, description="Fewest connections per API process."
    )
    db_pool_max: int = Field(
        default=10, alias="FTE_DB_POOL_MAX", ge=1, description="Most connections per API process."
    )
    embedded_pg_port: int = Field(
        default=0,
        alias="FTE_EMBEDDED_PG_PORT",
        ge=0,
        le=65535,
        description="Port of the embedded PostgreSQL on 127.0.0.1 (0: a free port). Every "
        "connection must give the password in `FTE_DATA_DIR/postgres_password` (SCRAM; no "
        "`trust`, no Unix socket). A data directory made by an older version (trust) is given "
        "a password at its next start, data kept.",
    )

    host: str = Field(default="127.0.0.1", alias="FTE_HOST", description="Where the API listens.")
    port: int = Field(default=8000, alias="FTE_PORT", ge=1, le=65535, description="The API's port.")
    api_workers: int = Field(
        default=1,
        alias="FTE_API_WORKERS",
        ge=1,
        le=64,
        description="API processes `fte serve` starts (its `--workers` overrides it).",
    )
    public_url: str | None = Field(
        default=None,
        alias="FTE_PUBLIC_URL",
        description="The URL customers and providers reach you at: status links, Twilio's "
        "status callback, and the URL Twilio signatures are checked against (set it behind a "
        "proxy). Unset: `http://FTE_HOST:FTE_PORT`.",
    )
    secret_key: str | None = Field(
        default=None,
        alias="FTE_SECRET_KEY",
        description="Signs ticket status links. **Set it in production**, the same on every "
        "replica. Unset: generated once into `FTE_DATA_DIR/secret_key`.",
    )
    max_body_bytes: int = Field(
        default=65_536,
        alias="FTE_MAX_BODY_BYTES",
        ge=1024,
        description="Larger request bodies get 413.",
    )
    log_level: str = Field(
        default="INFO",
        alias="FTE_LOG_LEVEL",
        description="`DEBUG`, `INFO`, `WARNING` or `ERROR`.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        alias="FTE_LOG_FORMAT",
        description="`text`: readable lines (local); `json`: one JSON object per line with "
        "`request_id`, `ticket_id`, `message_id` (the `deploy/` files set `json`).",
    )
    trusted_proxies: str = Field(
        default="127.0.0.1,::1",
        alias="FTE_TRUSTED_PROXIES",
        description="Proxies (addresses or CIDRs, comma-separated; empty: none) whose "
        "`X-Forwarded-For` / `X-Forwarded-Proto` are believed. The client (rate limits, "
        "sign-in limits, logs) is the rightmost `X-Forwarded-For` address not in this list; "
        "a header from any other peer is ignored. Set it to your load balancer's or ingress "
        "controller's addresses.",
    )
    # Past either timeout the server answers 408 and closes the connection, so slow clients
    # cannot hold connections open (slowloris, slow body).
    request_header_timeout_seconds: float = Field(
        default=10.0,
        alias="FTE_REQUEST_HEADER_TIMEOUT_SECONDS",
        gt=0,
        description="A request's line and headers must arrive within this of the connection "
        "opening (or of the first byte of the next request on a kept-alive connection); else "
        "408 and the connection is closed (slowloris). A head over 64 KiB gets 431. Idle "
        "kept-alive connections close after 5 s (uvicorn's default).",
    )
    request_body_timeout_seconds: float = Field(
        default=30.0,
        alias="FTE_REQUEST_BODY_TIMEOUT_SECONDS",
        gt=0,
        description="A request's whole body must arrive within this after its headers; else "
        "408 and the connection is closed.",
    )

    bus: Literal["postgres", "kafka"] = Field(
        default="postgres",
        alias="FTE_BUS",
        description="The bus between intake and workers: `postgres` (workers claim outbox "
        "rows) or `kafka` (a relay in each worker publishes them to Kafka; `docs/kafka.md`).",
    )
    worker_batch_size: int = Field(
        default=16,
        alias="FTE_WORKER_BATCH_SIZE",
        ge=1,
        le=256,
        description="Messages a worker claims (and embeds) at once.",
    )
    worker_concurrency: int = Field(
        default=8,
        alias="FTE_WORKER_CONCURRENCY",
        ge=1,
        le=64,
        description="Messages of different conversations a worker handles at once (each "
        "conversation stays in order); its database pool holds this many connections plus 3.",
    )
    worker_poll_seconds: float = Field(
        default=1.0,
        alias="FTE_WORKER_POLL_SECONDS",
        gt=0,
        description="Idle poll interval; new messages also wake workers through LISTEN/NOTIFY.",
    )
    worker_lease_seconds: float = Field(
        default=60.0,
        alias="FTE_WORKER_LEASE_SECONDS",
        gt=0,
        description="How long a claim lasts; a dead worker's message is retried after this.",
    )
    worker_max_attempts: int = Field(
        default=5,
        alias="FTE_WORKER_MAX_ATTEMPTS",
        ge=1,
        description="Attempts before a message goes to `dead_letters` (and, on Kafka, the "
        "dead-letter topic).",
    )
    worker_heartbeat_seconds: float = Field(
        default=5.0,
        alias="FTE_WORKER_HEARTBEAT_SECONDS",
        gt=0,
        description="How often a worker records its heartbeat (`worker_heartbeats`); one that "
        "missed 3 beats is dead for `/health` (`workers`) and the doctor's `workers` check.",
    )
    worker_backoff_cap_seconds: float = Field(
        default=300.0,
        alias="FTE_WORKER_BACKOFF_CAP_SECONDS",
        ge=0,
        description="Retry n waits a random time in [0, min(cap, 2^n)] s (exponential "
        "backoff, full jitter).",
    )

    stuck_after_minutes: float = Field(
        default=5.0,
        alias="FTE_STUCK_AFTER_MINUTES",
        gt=0,
        description="A customer message with no agent run this long after it was filed is "
        "*stuck*: the worker re-enqueues it, and `fte doctor` fails `stuck_tickets`.",
    )
    stuck_max_redrives: int = Field(
        default=3,
        alias="FTE_STUCK_MAX_REDRIVES",
        ge=0,
        description="Re-enqueues of a stuck message before it becomes a dead letter (the "
        "ticket goes to a person as `ai_unavailable`).",
    )
    stuck_check_seconds: float = Field(
        default=60.0,
        alias="FTE_STUCK_CHECK_SECONDS",
        gt=0,
        description="How often a worker looks for stuck messages (one worker at a time does it).",
    )
    auto_resolve_hours: float = Field(
        default=72.0,
        alias="FTE_AUTO_RESOLVE_HOURS",
        gt=0,
        description="An answered ticket waits for its customer (`pending`, shown to them as "
        '"Waiting for your reply"); with no message on it for this long the worker resolves '
        "it: solved by the AI when no person wrote on it, else by a person.",
    )
    auto_resolve_check_seconds: float = Field(
        default=300.0,
        alias="FTE_AUTO_RESOLVE_CHECK_SECONDS",
        gt=0,
        description="How often a worker resolves the tickets that waited FTE_AUTO_RESOLVE_HOURS.",
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        alias="KAFKA_BOOTSTRAP_SERVERS",
        description="Comma-separated `host:port` list (with `FTE_BUS=kafka`).",
    )
    kafka_topic_prefix: str = Field(
        default="fte.",
        alias="FTE_KAFKA_TOPIC_PREFIX",
        description="Prepended to every topic name, so deployments can share a cluster.",
    )
    kafka_inbound_topic: str = Field(
        default="inbound",
        alias="FTE_KAFKA_INBOUND_TOPIC",
        description="Customer messages' topic (after the prefix).",
    )
    kafka_outbound_topic: str = Field(
        default="outbound",
        alias="FTE_KAFKA_OUTBOUND_TOPIC",
        description="Reply parts' topic (after the prefix).",
    )
    kafka_dead_letter_topic: str = Field(
        default="dead-letters",
        alias="FTE_KAFKA_DEAD_LETTER_TOPIC",
        description="Dead letters' topic (after the prefix).",
    )
    kafka_partitions: int = Field(
        default=6,
        alias="FTE_KAFKA_PARTITIONS",
        ge=1,
        le=1000,
        description="Partitions `fte kafka create-topics` gives each topic: the most workers "
        "that share the inbound topic.",
    )
    kafka_replication_factor: int = Field(
        default=1,
        alias="FTE_KAFKA_REPLICATION_FACTOR",
        ge=1,
        le=10,
        description="Replication factor of created topics (3 on a production cluster).",
    )
    kafka_group_id: str = Field(
        default="fte-workers",
        alias="FTE_KAFKA_GROUP_ID",
        description="The workers' consumer group.",
    )
    # Tansu's in-memory engine rejects aiokafka's InitProducerId request.
    kafka_idempotence: bool = Field(
        default=True,
        alias="FTE_KAFKA_IDEMPOTENCE",
        description="Idempotent producer (no duplicates from producer retries); the embedded "
        "Tansu broker needs `false` (its in-memory engine rejects aiokafka's InitProducerId).",
    )
    kafka_session_timeout_seconds: float = Field(
        default=10.0,
        alias="FTE_KAFKA_SESSION_TIMEOUT_SECONDS",
        ge=1,
        description="A worker silent this long leaves the group and its partitions go to the "
        "others.",
    )
    kafka_concurrency: int = Field(
        default=4,
        alias="FTE_KAFKA_CONCURRENCY",
        ge=1,
        le=64,
        description="Batches one worker process works on at once, taken from any of its "
        "partitions (each conversation in order); it reads ahead one batch more.",
    )
    kafka_publish_timeout_seconds: float = Field(
        default=5.0,
        alias="FTE_KAFKA_PUBLISH_TIMEOUT_SECONDS",
        gt=0,
        description="The longest the relay waits for the broker's acknowledgement of a batch "
        "before it tries again later (intake never waits for it).",
    )
    kafka_relay_batch_size: int = Field(
        default=500,
        alias="FTE_KAFKA_RELAY_BATCH_SIZE",
        ge=1,
        description="Outbox rows per publish.",
    )
    # Redelivery is harmless: a message is answered once whatever the bus delivers.
    kafka_republish_after_seconds: float = Field(
        default=600.0,
        alias="FTE_KAFKA_REPUBLISH_AFTER_SECONDS",
        gt=0,
        description="A row published this long ago and still not processed is published again "
        "(the last resort; a broker that lost records is noticed sooner, see "
        "`FTE_KAFKA_LOSS_CHECK_SECONDS`).",
    )
    kafka_loss_check_seconds: float = Field(
        default=5.0,
        alias="FTE_KAFKA_LOSS_CHECK_SECONDS",
        gt=0,
        description="How often the relay compares the broker's end offsets with the offsets it "
        "last had acknowledged (kept in `kafka_offsets`); at or below means the broker lost "
        "records (an in-memory broker restarted, a lost unreplicated partition), and every "
        "published, unprocessed row is published again at once. A publish acknowledged below "
        "a known offset triggers the same.",
    )

    metrics_port: int = Field(
        default=0,
        alias="FTE_METRICS_PORT",
        ge=0,
        le=65535,
        description="`fte worker` serves Prometheus metrics on this port (`/metrics`; 0: off); "
        "with several workers on one host give each its own.",
    )
    metrics_multiproc_dir: Path | None = Field(
        default=None,
        alias="PROMETHEUS_MULTIPROC_DIR",
        description="Where the API processes share their metric counts (prometheus-client's "
        "multiprocess mode), so any process answers `/metrics` with the totals; emptied when "
        "`fte serve` starts more than one process. Unset: `FTE_DATA_DIR/metrics` when "
        "`fte serve` runs more than one process (with one, prometheus-client uses it only "
        "when it is in the process environment).",
    )
    # Unset means no /metrics at all, so ticket and queue counts are never public by accident.
    metrics_token: str | None = Field(
        default=None,
        alias="FTE_METRICS_TOKEN",
        description="The API's `GET /metrics` answers only `Authorization: Bearer <token>` "
        "(401 otherwise); unset, it answers 404. Prometheus sends it with "
        "`authorization: {type: Bearer, credentials_file: …}` "
        "(`deploy/prometheus/prometheus.yml`). The worker's `FTE_METRICS_PORT` has no token: "
        "keep that port internal.",
    )

    # Calibrated with `fte eval --calibrate` on the bitext and StackFAQ dev splits
    # (docs/evaluation.md).
    answer_threshold: float = Field(
        default=0.45,
        alias="FTE_ANSWER_THRESHOLD",
        ge=0,
        le=1,
        description="The floor of the confidence (best cosine similarity of the message to the "
        "article's title, chunks or past questions) needed to answer; below the bar the ticket "
        "escalates as `low_confidence`. A knowledge base with at least 200 past questions "
        "(imported history, resolved tickets) raises its own bar to where the lowest 1% of "
        "them sit, each scored against its article with itself left out (at most 0.8; "
        "recomputed every 5 minutes; `fte eval` prints it as `calibrated_threshold`). An "
        "escalation-topic article (refund, ...) needs only the floor to hand a message over "
        "(`docs/evaluation.md`).",
    )
    text_search_weight: float = Field(
        default=0.1,
        alias="FTE_TEXT_SEARCH_WEIGHT",
        ge=0,
        description="Weight of PostgreSQL full-text matches in the fused ranking (0: vectors "
        "only).",
    )
    repeat_contact_days: int = Field(
        default=7,
        alias="FTE_REPEAT_CONTACT_DAYS",
        ge=0,
        description="A customer answered with the same article within this many days is "
        "escalated as `repeat_contact` (0: never).",
    )
    negative_sentiment_threshold: float = Field(
        default=-0.9,
        alias="FTE_NEGATIVE_SENTIMENT_THRESHOLD",
        ge=-1,
        le=0,
        description="A message at least this negative (sentiment score, -1..0) goes to a human "
        "as `negative_sentiment` after an answer of ours, and as `complaint` on any message "
        "that neither asks for help nor describes a fault.",
    )
    retrieval_top_k: int = Field(
        default=8,
        alias="FTE_RETRIEVAL_TOP_K",
        ge=1,
        le=100,
        description="Articles kept as sources on each agent run.",
    )
    embedding_device: str = Field(
        default="cpu",
        alias="FTE_EMBEDDING_DEVICE",
        description="Torch device for the embedding model.",
    )
    # More threads on a shared core spin and starve PostgreSQL and the API: torch's threads in
    # one forward pass wait for the slowest, and on shared cores one is often descheduled.
    embedding_threads: int = Field(
        default=1,
        alias="FTE_EMBEDDING_THREADS",
        ge=1,
        le=256,
        description="CPU threads each embedding process (and the worker's numpy) uses; one "
        "leaves the other cores to PostgreSQL and the API: add embedding processes or workers "
        "instead.",
    )
    embedding_process: bool = Field(
        default=True,
        alias="FTE_EMBEDDING_PROCESS",
        description="`fte worker` runs the embedding model in child processes of its own, "
        "where the model's Python does not take turns with the worker's event loop for the GIL "
        "(10–20% more messages per second on 2 cores, `bench/bus.py`); they leave the worker's "
        "process group (Ctrl-C in a terminal reaches the worker, which finishes its batch, then "
        "stops them), are replaced if one dies, and exit with their worker. `false`: in the "
        "worker's process.",
    )
    embedding_processes: int | None = Field(
        default=None,
        alias="FTE_EMBEDDING_PROCESSES",
        ge=1,
        le=64,
        description="How many embedding processes a worker runs, each embedding one batch at a "
        "time and holding about 0.5 GB. Unset: one per core the worker may use, at most 2; the "
        "cores counted are the worker's CPU affinity capped by a container's CPU limit (cgroup "
        "`cpu.max`), and `fte up` shares them among its workers (two workers on two cores: one "
        "each).",
    )
    llm_base_url: str | None = Field(
        default=None,
        alias="FTE_LLM_BASE_URL",
        description="An OpenAI-compatible chat endpoint that writes replies from the retrieved "
        "sources (e.g. `https://api.groq.com/openai/v1`, `http://localhost:11434/v1` for "
        "Ollama). Unset: the local grounded responder writes replies.",
    )
    llm_api_key: str | None = Field(
        default=None,
        alias="FTE_LLM_API_KEY",
        description="The LLM endpoint's key (Ollama and vLLM need none).",
    )
    llm_model: str = Field(
        default="gpt-4o-mini",
        alias="FTE_LLM_MODEL",
        description="The model name the LLM endpoint expects.",
    )
    llm_timeout_seconds: float = Field(
        default=20.0, alias="FTE_LLM_TIMEOUT_SECONDS", gt=0, description="Per LLM request."
    )
    llm_max_retries: int = Field(
        default=2,
        alias="FTE_LLM_MAX_RETRIES",
        ge=0,
        le=10,
        description="Retries on 429, 5xx, timeouts (with backoff; `Retry-After` honoured).",
    )
    llm_breaker_failures: int = Field(
        default=5,
        alias="FTE_LLM_BREAKER_FAILURES",
        ge=1,
        description="Consecutive LLM failures that open its circuit (the local responder "
        "answers meanwhile).",
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
    llm_breaker_reset_seconds: float = Field(
        default=60.0,
        alias="FTE_LLM_BREAKER_RESET_SECONDS",
        gt=0,
        description="How long the LLM's open circuit waits until a probe.",
    )
    llm_input_cost_per_1k: float = Field(
        default=0.0,
        alias="FTE_LLM_INPUT_COST_PER_1K",
        ge=0,
        description="USD per 1,000 prompt tokens, to record each run's cost.",
    )
    llm_output_cost_per_1k: float = Field(
        default=0.0,
        alias="FTE_LLM_OUTPUT_COST_PER_1K",
        ge=0,
        description="USD per 1,000 completion tokens, to record each run's cost.",
    )
    llm_redact: bool = Field(
        default=False,
        alias="FTE_LLM_REDACT",
        description="Mask emails, phone numbers and card numbers in the text sent to the LLM.",
    )
    approval_mode: bool = Field(
        default=False,
        alias="FTE_APPROVAL_MODE",
        description="The agent's answers wait as drafts for a human instead of being sent.",
    )
    company_name: str = Field(
        default="CloudSync Pro",
        alias="FTE_COMPANY_NAME",
        description="Shown on the web form.",
    )
    load_demo_kb: bool = Field(
        default=True,
        alias="FTE_LOAD_DEMO_KB",
        description="`fte up` loads the demo knowledge base when the knowledge base is empty.",
    )

    # Quick retries inside one attempt (tenacity), then the job is retried by the queue with
    # backoff, then it is a dead letter.
    delivery_max_attempts: int = Field(
        default=5,
        alias="FTE_DELIVERY_MAX_ATTEMPTS",
        ge=1,
        description="Attempts of one reply part (each with its quick retries) before it is a "
        "dead letter and the message `failed`.",
    )
    delivery_quick_retries: int = Field(
        default=3,
        alias="FTE_DELIVERY_QUICK_RETRIES",
        ge=1,
        description="Provider calls within one attempt on 429, 5xx, timeouts (exponential "
        "backoff).",
    )
    delivery_backoff_seconds: float = Field(
        default=1.0,
        alias="FTE_DELIVERY_BACKOFF_SECONDS",
        gt=0,
        description="First wait of the quick retries (doubling, at most 8×).",
    )
    delivery_timeout_seconds: float = Field(
        default=10.0,
        alias="FTE_DELIVERY_TIMEOUT_SECONDS",
        gt=0,
        description="Per provider call.",
    )
    delivery_breaker_failures: int = Field(
        default=5,
        alias="FTE_DELIVERY_BREAKER_FAILURES",
        ge=1,
        description="Consecutive provider failures that open a channel's circuit; while open, "
        "deliveries wait without using attempts and `/health` says `degraded`.",
    )
    delivery_breaker_reset_seconds: float = Field(
        default=60.0,
        alias="FTE_DELIVERY_BREAKER_RESET_SECONDS",
        gt=0,
        description="How long a channel's open circuit waits until a probe.",
    )
    # A channel disabled because its provider refused our credentials: one waiting reply is
    # tried this often (success enables it again), and the others wait this long between looks.
    channel_probe_seconds: float = Field(
        default=60.0,
        alias="FTE_CHANNEL_PROBE_SECONDS",
        gt=0,
        description="Seconds between tries of a channel disabled by refused credentials",
    )

    twilio_account_sid: str | None = Field(
        default=None,
        alias="TWILIO_ACCOUNT_SID",
        description="The Twilio account; with `TWILIO_AUTH_TOKEN` and `TWILIO_WHATSAPP_FROM` "
        "it turns WhatsApp on.",
    )
    twilio_auth_token: str | None = Field(
        default=None,
        alias="TWILIO_AUTH_TOKEN",
        description="The Twilio account's token; it also verifies `X-Twilio-Signature`.",
    )
    twilio_whatsapp_from: str | None = Field(
        default=None,
        alias="TWILIO_WHATSAPP_FROM",
        description="The sender, e.g. `whatsapp:+14155238886` (the `whatsapp:` prefix is added "
        "when missing).",
    )
    twilio_api_base: str = Field(
        default="https://api.twilio.com",
        alias="TWILIO_API_BASE",
        description="Twilio's REST API base (a proxy or a test server).",
    )

    imap_url: str | None = Field(
        default=None,
        alias="IMAP_URL",
        description="The support mailbox, `imap://user:password@host:143/INBOX` (`imaps://` "
        "for TLS; STARTTLS is used when offered); with `SMTP_URL` and `EMAIL_FROM` it turns "
        "email on. Workers read it; the last UID read is kept per mailbox.",
    )
    smtp_url: str | None = Field(
        default=None,
        alias="SMTP_URL",
        description="Where replies are sent, `smtp://user:password@host:587` (`smtps://` for "
        "TLS; `smtp://` upgrades with STARTTLS when the server offers it).",
    )
    email_from: str | None = Field(
        default=None,
        alias="EMAIL_FROM",
        description="Our address: replies come from it, and mail from it is never answered.",
    )
    email_poll_seconds: float = Field(
        default=30.0,
        alias="FTE_EMAIL_POLL_SECONDS",
        gt=0,
        description="How often workers read the mailbox when the server offers no IDLE (or "
        "IDLE failed).",
    )
    email_idle: bool = Field(
        default=True,
        alias="FTE_EMAIL_IDLE",
        description="Wait for new mail in IMAP IDLE when the server offers it: mail is filed "
        "within about a second instead of at the next poll.",
    )
    # RFC 2177: servers may drop an IDLE after 29 minutes.
    email_idle_seconds: float = Field(
        default=1500.0,
        alias="FTE_EMAIL_IDLE_SECONDS",
        gt=0,
        le=1740,
        description="Each IDLE is ended and re-issued after this long (at most 1740: servers "
        "drop an IDLE after 29 minutes).",
    )

    chatwoot_base_url: str | None = Field(
        default=None,
        alias="CHATWOOT_BASE_URL",
        description="Your Chatwoot, e.g. `https://chatwoot.example.com`; its API is under it.",
    )
    chatwoot_api_token: str | None = Field(
        default=None,
        alias="CHATWOOT_API_TOKEN",
        description="An agent bot's or agent's access token (`api_access_token`).",
    )
    chatwoot_account_id: int | None = Field(
        default=None,
        alias="CHATWOOT_ACCOUNT_ID",
        ge=1,
        description="The Chatwoot account id.",
    )
    chatwoot_webhook_secret: str | None = Field(
        default=None,
        alias="CHATWOOT_WEBHOOK_SECRET",
        description="The webhook's secret, verifies `X-Chatwoot-Signature`; the four "
        "`CHATWOOT_*` settings above turn Chatwoot on.",
    )
    chatwoot_max_skew_seconds: int = Field(
        default=300,
        alias="CHATWOOT_MAX_SKEW_SECONDS",
        ge=1,
        description="A webhook whose `X-Chatwoot-Timestamp` is further from now is refused "
        "(replay protection).",
    )

    gmail_credentials_file: Path | None = Field(
        default=None,
        alias="GMAIL_CREDENTIALS_FILE",
        description="A Google credentials JSON: an OAuth `authorized_user` (client id, secret, "
        "refresh token for the support mailbox) or a `service_account` with domain-wide "
        "delegation (it acts as `GMAIL_ADDRESS`); scope `gmail.modify`. With "
        "`GMAIL_PUBSUB_TOPIC`, `GMAIL_ADDRESS` and a push check (`GMAIL_PUSH_TOKEN` and/or "
        "`GMAIL_PUSH_AUDIENCE`) it turns Gmail on.",
    )
    gmail_pubsub_topic: str | None = Field(
        default=None,
        alias="GMAIL_PUBSUB_TOPIC",
        description="The Pub/Sub topic Gmail publishes to, `projects/PROJECT/topics/TOPIC` "
        "(grant `gmail-api-push@system.gserviceaccount.com` the Publisher role on it).",
    )
    gmail_address: str | None = Field(
        default=None,
        alias="GMAIL_ADDRESS",
        description="The support mailbox's address: pushes for another mailbox are ignored, "
        "its own mail is never answered, replies come from it.",
    )
    gmail_user_id: str = Field(
        default="me",
        alias="GMAIL_USER_ID",
        description="The Gmail API's `userId` (`me`: the credentials' own account).",
    )
    gmail_push_token: str | None = Field(
        default=None,
        alias="GMAIL_PUSH_TOKEN",
        description="A secret in the push subscription's endpoint URL, "
        "`https://…/gmail/webhook?token=SECRET`; a push without it is refused (403).",
    )
    gmail_push_audience: str | None = Field(
        default=None,
        alias="GMAIL_PUSH_AUDIENCE",
        description="For an authenticated push subscription: the OIDC token's audience; the "
        "`Authorization: Bearer` JWT must be signed by Google for it (403 otherwise).",
    )
    gmail_push_service_account: str | None = Field(
        default=None,
        alias="GMAIL_PUSH_SERVICE_ACCOUNT",
        description="The push subscription's service account: the JWT's verified `email` must "
        "be it.",
    )
    gmail_certs_url: str = Field(
        default="https://www.googleapis.com/oauth2/v1/certs",
        alias="GMAIL_CERTS_URL",
        description="Google's token-signing certificates (key id → PEM), read for JWT pushes "
        "and kept an hour.",
    )
    gmail_api_base: str = Field(
        default="https://gmail.googleapis.com/",
        alias="GMAIL_API_BASE",
        description="The Gmail API's base (a proxy or a test server).",
    )
    gmail_token_uri: str | None = Field(
        default=None,
        alias="GMAIL_TOKEN_URI",
        description="Replaces the credentials file's OAuth token endpoint (a proxy or a test "
        "server).",
    )
    gmail_watch_check_seconds: float = Field(
        default=3600.0,
        alias="FTE_GMAIL_WATCH_CHECK_SECONDS",
        gt=0,
        description="How often workers check the Gmail watch (renewed when it expires within a "
        "day) and read any mail a lost push did not announce.",
    )

    session_hours: float = Field(
        default=12.0,
        alias="FTE_SESSION_HOURS",
        gt=0,
        description="How long a console sign-in lasts.",
    )
    sla_minutes: dict[Priority, int] = Field(
        default={"urgent": 60, "high": 240, "medium": 480, "low": 1440},
        alias="FTE_SLA_MINUTES",
        description="Minutes to the first response per priority (JSON); the inbox shows when "
        "each ticket is due and highlights breaches. A priority left out has no SLA.",
    )
    login_rate_limit: int = Field(
        default=10,
        alias="FTE_LOGIN_RATE_LIMIT",
        ge=0,
        description="Sign-in attempts per minute per client address (sliding window shared by "
        "all API processes); more get 429 with `Retry-After`. Per account, failed attempts "
        "from all addresses together may reach 10× this a minute; past that, only addresses "
        "that signed in to that account in the last 30 days may still try, so no one can lock "
        "the owner out. Each refusal is logged (never the password) and counted in "
        "`fte_login_failures_total{reason}` (`credentials`, `csrf`, `address_limit`, "
        "`account_limit`). 0: no limit.",
    )
    # Provider webhooks come from few addresses (Twilio's, Chatwoot's): keep theirs generous.
    webhook_rate_limit: int = Field(
        default=600,
        alias="FTE_WEBHOOK_RATE_LIMIT",
        ge=0,
        description="Requests per minute per client IP to `/whatsapp/webhook` and "
        "`/chatwoot/webhook` together (sliding window shared by all API processes); more get "
        "429 with `Retry-After`. Providers call from few addresses: keep it above your peak "
        "message rate. 0: no limit.",
    )
    form_rate_limit: int = Field(
        default=20,
        alias="FTE_FORM_RATE_LIMIT",
        ge=0,
        description="Web-form submissions (`/support/submit`) per minute per client IP; more "
        "get 429 with `Retry-After`. 0: no limit.",
    )
    api_key_rate_limit: int = Field(
        default=600,
        alias="FTE_API_KEY_RATE_LIMIT",
        ge=0,
        description="Requests per minute per API key to the customer API (a fixed one-minute "
        "window, counted in Redis when `REDIS_URL` is set, else in each API process); a key's "
        "own limit (`fte apikey create --rate-limit N`) overrides it. More get 429 with "
        "`Retry-After`; every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and "
        "`RateLimit-Reset`. 0: no limit.",
    )
    redis_url: str | None = Field(
        default=None,
        alias="REDIS_URL",
        description="Redis for the cache of customer profiles and the API keys' rate-limit "
        "counters, shared by every API process, e.g. `redis://:password@cache:6379/0` (it may "
        "hold a password: keep it secret). Unset: an in-process cache. Redis away: reads go to "
        "PostgreSQL, counters to the process, `/health` says `cache: degraded`.",
    )
    profile_cache_seconds: float = Field(
        default=60.0,
        alias="FTE_PROFILE_CACHE_SECONDS",
        ge=0,
        description="How long a customer profile read by the API stays cached. Rescoring and "
        "new orders invalidate it at once (in every process with Redis; without Redis, a "
        "change made by another process shows within this time). 0: no cache.",
    )
    cache_memory_entries: int = Field(
        default=10_000,
        alias="FTE_CACHE_MEMORY_ENTRIES",
        ge=1,
        description="Most entries of the in-process cache (least recently used go first).",
    )

    sales_database_url: str | None = Field(
        default=None,
        alias="FTE_SALES_DATABASE_URL",
        description="**Secret.** The company's own sales database (PostgreSQL URL, e.g. "
        "`postgresql://reader:secret@sales-db:5432/shop`), read by the scheduled sync with "
        "`FTE_SALES_QUERY`; give it a read-only user. Unset: no sync (import files or push "
        "events instead; `docs/customer-data.md`).",
    )
    sales_query: str | None = Field(
        default=None,
        alias="FTE_SALES_QUERY",
        description="SQL run on the sales database: it returns the import columns "
        "(`order_id`, `amount`, `currency`, `ordered_at`, `email` and/or `external_id`; "
        "optional `plan`, `status`, `name`, `phone`) and a change marker `changed_at`. `$1` "
        "is the largest `changed_at` the last successful run saw (NULL on the first run), so "
        "the query returns only what changed since: `... WHERE updated_at > "
        "COALESCE($1, '-infinity')`.",
    )
    sales_sync_minutes: float = Field(
        default=60.0,
        alias="FTE_SALES_SYNC_MINUTES",
        ge=0,
        description="Workers run the sync this often (one at a time across every process: an "
        "advisory lock). 0: only on demand (`POST /api/admin/sync`, `fte customers sync`).",
    )
    sales_sync_timeout_seconds: float = Field(
        default=600.0,
        alias="FTE_SALES_SYNC_TIMEOUT_SECONDS",
        gt=0,
        description="A sync run taking longer is stopped and marked failed; nothing of it is "
        "kept (one transaction).",
    )

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
    def sales_sync_configured(self) -> bool:
        """True when both the sales database and its query are set."""
        return bool(self.sales_database_url and self.sales_query)

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
