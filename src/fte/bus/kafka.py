"""Kafka: topic names, the producer and consumer settings, and the records on the wire.

A record carries its outbox row (id, topic, key, payload), keyed by conversation so one
conversation always lands on one partition and is handled in order. The outbox stays the
system of record: a worker marks the row processed in the same transaction as its effects,
so a record delivered twice is recognised and skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from fte.bus import topics
from fte.bus.postgres_queue import Job
from fte.config import Settings

log = logging.getLogger(__name__)

# Outbox topics the relay publishes: customer messages (`inbound`) and the replies to send
# (`deliver`, `topics.DELIVER`). `learn` and `kb_embed` stay on the PostgreSQL queue:
# internal housekeeping, not traffic between intake, workers and channels.


class _MetadataWithoutCreation(MetadataRequest):
    """A metadata request that never creates the topics it names.

    aiokafka (0.14) asks with `allow_auto_topic_creation=true` from the producer, the consumer
    and the admin client alike, with no setting to turn it off; a broker that honours it (Tansu
    does, and Apache Kafka with its default `auto.create.topics.enable`) then creates our topics
    with its own default partition count the moment a relay or worker names one, before `fte
    kafka create-topics` runs. Our topics are only ever created on purpose.
    """

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = None
    ) -> None:
        super().__init__(topics, allow_auto_topic_creation=False)


# Every client this process builds (ours and the doctor's) goes through these two names.
aiokafka.client.MetadataRequest = _MetadataWithoutCreation
aiokafka.admin.client.MetadataRequest = _MetadataWithoutCreation


class KafkaUnavailable(RuntimeError):
    """The broker did not answer in time; rows wait in the outbox."""


@dataclass(frozen=True)
class Topics:
    """Topic names, with the deployment's prefix."""

    inbound: str
    outbound: str
    dead_letters: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        prefix = settings.kafka_topic_prefix
        return cls(
            inbound=prefix + settings.kafka_inbound_topic,
            outbound=prefix + settings.kafka_outbound_topic,
            dead_letters=prefix + settings.kafka_dead_letter_topic,
        )

    def all(self) -> list[str]:
        return [self.inbound, self.outbound, self.dead_letters]

    def for_outbox(self, outbox_topic: str) -> str:
        """The Kafka topic an outbox row of this topic goes to."""
        if outbox_topic == topics.INBOUND:
            return self.inbound
        if outbox_topic == topics.DELIVER:
            return self.outbound
        raise ValueError(f"outbox topic {outbox_topic!r} is not relayed to Kafka")


def _servers(settings: Settings) -> list[str]:
    return [s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip()]


def producer(settings: Settings) -> AIOKafkaProducer:
    """acks=all; idempotent unless FTE_KAFKA_IDEMPOTENCE=false (brokers without InitProducerId).

    aiokafka keeps one request in flight per partition, so records of one key stay in order
    with or without idempotence.
    """
    timeout_ms = int(settings.kafka_publish_timeout_seconds * 1000)
    return AIOKafkaProducer(
        bootstrap_servers=_servers(settings),
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=5,
        request_timeout_ms=max(timeout_ms, 1000),
        retry_backoff_ms=200,
        client_id="fte-relay",
    )


def consumer(
    settings: Settings, *topics: str, listener: ConsumerRebalanceListener | None = None
) -> AIOKafkaConsumer:
    """A member of the worker group; offsets are committed by hand, after the database.
    `listener` hears of partitions moving to and from this member."""
    member = AIOKafkaConsumer(
        bootstrap_servers=_servers(settings),
        group_id=settings.kafka_group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.worker_batch_size * settings.kafka_concurrency,
        # A dead worker's partitions move to the others within this many seconds.
        session_timeout_ms=int(settings.kafka_session_timeout_seconds * 1000),
        heartbeat_interval_ms=max(100, int(settings.kafka_session_timeout_seconds * 1000 / 5)),
        metadata_max_age_ms=10_000,
        # How long the broker may hold a fetch that found nothing new. Apache Kafka answers as
        # soon as a record arrives; Tansu (the embedded broker) answered about 120 ms later
        # with aiokafka's default of 500, 24 ms later with 100.
        fetch_max_wait_ms=100,
        client_id="fte-worker",
    )
    member.subscribe(list(topics), listener=listener)
    return member


def watcher(settings: Settings) -> AIOKafkaConsumer:
    """A consumer outside the group that only reads end offsets (the relay's loss check)."""
    timeout_ms = int(settings.kafka_publish_timeout_seconds * 1000)
    return AIOKafkaConsumer(
        bootstrap_servers=_servers(settings),
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=max(timeout_ms, 1000),
        client_id="fte-relay",
    )


def encode(job: Job) -> bytes:
    return json.dumps(
        {"outbox_id": job.id, "topic": job.topic, "key": job.key, "payload": job.payload},
        separators=(",", ":"),
    ).encode()


def decode(value: bytes) -> Job:
    """The outbox row a record carries; ValueError when it is not one of ours."""
    try:
        data: dict[str, Any] = json.loads(value)
        return Job(
            id=int(data["outbox_id"]),
            topic=str(data["topic"]),
            key=str(data["key"]),
            payload=dict(data["payload"]),
            attempts=0,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not an outbox record: {value[:200]!r}") from exc


async def _admin(settings: Settings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=_servers(settings),
        request_timeout_ms=int(settings.kafka_publish_timeout_seconds * 1000),
        client_id="fte-admin",
    )
    try:
        await asyncio.wait_for(admin.start(), settings.kafka_publish_timeout_seconds)
    except (KafkaError, OSError, TimeoutError) as exc:
        await admin.close()
        raise KafkaUnavailable(
            f"Kafka unreachable at {settings.kafka_bootstrap_servers}: {exc!r}"
        ) from exc
    return admin


@dataclass(frozen=True)
class TopicProbe:
    """What the cluster holds of this deployment's topics: those missing, and those with fewer
    partitions than FTE_KAFKA_PARTITIONS (name → the count they have)."""

    missing: list[str]
    short: dict[str, int]
    wanted: int

    @property
    def ok(self) -> bool:
        return not self.missing and not self.short

    def problems(self) -> str:
        """One line naming what is wrong; empty when nothing is."""
        parts = []
        if self.missing:
            parts.append(f"missing topics: {', '.join(self.missing)}")
        if self.short:
            have = ", ".join(f"{name} has {n}" for name, n in self.short.items())
            parts.append(f"fewer partitions than FTE_KAFKA_PARTITIONS={self.wanted}: {have}")
        return "; ".join(parts)

    def fix(self) -> str:
        """What the operator runs to put it right."""
        fixes = []
        if self.missing:
            fixes.append("run `fte kafka create-topics`")
        if self.short:
            fixes.append(
                f"add partitions (`kafka-topics.sh --alter --topic NAME --partitions "
                f"{self.wanted}`), or delete the topic while it is drained and run `fte kafka "
                "create-topics` (the embedded broker: restart `fte up`)"
            )
        return "; ".join(fixes)


async def probe_topics(settings: Settings) -> TopicProbe:
    """Ask the cluster for our topics and their partition counts (never creating one)."""
    names = Topics.from_settings(settings).all()
    admin = await _admin(settings)
    try:
        described = await asyncio.wait_for(
            admin.describe_topics(names), settings.kafka_publish_timeout_seconds
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise KafkaUnavailable(
            f"Kafka at {settings.kafka_bootstrap_servers} did not describe the topics: {exc!r}"
        ) from exc
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
    wanted = settings.kafka_partitions
    return TopicProbe(
        missing=[t for t in names if t not in partitions],
        short={t: n for t, n in partitions.items() if t in names and n < wanted},
        wanted=wanted,
    )


async def probe_at_start(settings: Settings, meanwhile: str) -> TopicProbe | None:
    """The probe a starting process makes; None when Kafka cannot be reached yet, said as a
    warning with what happens `meanwhile` (a process must start without Kafka: the outbox)."""
    try:
        return await probe_topics(settings)
    except KafkaUnavailable as exc:
        log.warning("%s; %s", exc, meanwhile)
        return None


async def missing_topics(settings: Settings) -> list[str]:
    """The topics this deployment needs that the cluster does not have."""
    return (await probe_topics(settings)).missing


async def create_topics(settings: Settings, partitions: int | None = None) -> list[str]:
    """Create the missing topics; the names created."""
    missing = await missing_topics(settings)
    if not missing:
        return []
    admin = await _admin(settings)
    try:
        await admin.create_topics(
            [
                NewTopic(
                    name,
                    partitions or settings.kafka_partitions,
                    settings.kafka_replication_factor,
                )
                for name in missing
            ]
        )
    except TopicAlreadyExistsError:  # created meanwhile by another process: fine
        pass
    finally:
        await admin.close()
    return missing


def reachable(settings: Settings, timeout: float = 0.5) -> bool:
    """True when a bootstrap server accepts a TCP connection (cheap, for /health)."""
    for server in _servers(settings):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host or server, int(port or 9092)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False
