"""The topic probe a starting process makes (`bus.kafka.probe_at_start`): a broker not there
yet is a warning and the process starts; a broker without our topics stops a worker, naming
them (the real Tansu broker)."""

from __future__ import annotations

import logging

import pytest

from fte.bus import kafka
from fte.worker.process import MissingTopics, check_topics
from tests.conftest import make_settings
from tests.fixtures.kafka import kafka_env, tansu
from tests.fixtures.processes import free_port

__all__ = ["kafka_env", "tansu"]  # fixtures


async def test_a_broker_not_there_yet_is_a_warning_and_the_worker_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(
        FTE_BUS="kafka",
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        FTE_KAFKA_PUBLISH_TIMEOUT_SECONDS="2",
    )
    caplog.set_level(logging.WARNING)
    assert await kafka.probe_at_start(settings, "messages wait") is None
    assert "messages wait" in caplog.text
    await check_topics(settings)  # returns: the consumer waits for the broker
    assert "will keep trying" in caplog.text


async def test_a_broker_without_our_topics_stops_the_worker_naming_them(
    kafka_env: dict[str, str],
) -> None:
    settings = make_settings(
        **{**kafka_env, "FTE_KAFKA_TOPIC_PREFIX": kafka_env["FTE_KAFKA_TOPIC_PREFIX"] + "none."}
    )
    probe = await kafka.probe_at_start(settings, "unused")
    assert probe is not None
    assert set(probe.missing) == set(kafka.Topics.from_settings(settings).all())
    with pytest.raises(MissingTopics, match="fte kafka create-topics") as refused:
        await check_topics(settings)
    assert kafka.Topics.from_settings(settings).inbound in str(refused.value)
