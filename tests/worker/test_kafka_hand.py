"""The records a Kafka worker holds: which it works on next, and how far it commits."""

from __future__ import annotations

import time

from aiokafka.structs import ConsumerRecord, TopicPartition

from fte.bus import kafka
from fte.bus.postgres_queue import Job
from fte.worker.hand import Hand

P0 = TopicPartition("fte.inbound", 0)
P1 = TopicPartition("fte.inbound", 1)


def record(tp: TopicPartition, offset: int, conversation: str) -> ConsumerRecord[bytes, bytes]:
    job = Job(
        id=tp.partition * 1000 + offset, topic="inbound", key=conversation, payload={}, attempts=0
    )
    value = kafka.encode(job)
    return ConsumerRecord(
        tp.topic, tp.partition, offset, 0, 0, conversation.encode(), value, None, 0, len(value), ()
    )


def held(tp: TopicPartition, *conversations: str, first: int = 0) -> Hand:
    hand = Hand()
    hand.add(tp, [record(tp, first + i, c) for i, c in enumerate(conversations)])
    return hand


def offsets(batch: list) -> list[int]:
    return [r.offset for r in batch]


def test_a_conversation_waits_for_its_earlier_message_in_another_batch() -> None:
    hand = held(P0, "a", "b", "a", "c")
    first = hand.take(2, time.monotonic())
    assert offsets(first) == [0, 1]
    # a's second message waits for its first, still being answered; c goes on.
    assert offsets(hand.take(2, time.monotonic())) == [3]
    for r in first:
        r.busy, r.done = False, True
    assert offsets(hand.take(2, time.monotonic())) == [2]


def test_a_conversations_messages_go_together_in_order_in_one_batch() -> None:
    hand = held(P0, "a", "a", "b", "a")
    assert offsets(hand.take(16, time.monotonic())) == [0, 1, 2, 3]


def test_a_message_waiting_for_its_retry_holds_back_only_its_conversation() -> None:
    hand = held(P0, "a", "b", "a", "b")
    (failed, *_rest) = batch = hand.take(16, time.monotonic())
    for r in batch:
        r.busy, r.done = False, r is not failed and r.job.key == "b"
    failed.attempts, failed.not_before = 1, time.monotonic() + 60
    assert hand.take(16, time.monotonic()) == []  # a's second message waits behind the retry
    assert 0 < hand.seconds_to_next(time.monotonic(), 120) <= 60
    failed.not_before = 0.0
    assert offsets(hand.take(16, time.monotonic())) == [0, 2]


def test_commits_stop_at_the_first_record_not_finished() -> None:
    hand = held(P0, "a", "b", "c", first=10)
    batch = hand.take(16, time.monotonic())
    batch[0].done = batch[2].done = True
    assert hand.finished(P0) == 11  # offset 10 is committed; 11 is not done, so 12 waits
    assert hand.finished(P0) is None
    batch[1].done = True
    assert hand.finished(P0) == 13
    assert hand.count(P0) == 0


def test_a_record_that_is_not_ours_is_skipped_and_committed() -> None:
    hand = Hand()
    stray = ConsumerRecord(P0.topic, 0, 0, 0, 0, None, b"not json", None, 0, 8, ())
    hand.add(P0, [stray, record(P0, 1, "a")])
    assert offsets(hand.take(16, time.monotonic())) == [1]
    assert hand.finished(P0) == 1


def test_records_read_again_after_a_seek_are_held_once() -> None:
    hand = held(P0, "a", "b")
    hand.add(P0, [record(P0, 1, "b"), record(P0, 2, "c")])
    assert offsets(hand.take(16, time.monotonic())) == [0, 1, 2]


def test_batches_are_bounded_and_partitions_take_turns() -> None:
    hand = held(P0, *"abcdef")
    hand.add(P1, [record(P1, i, c) for i, c in enumerate("uvwxyz")])
    first = hand.take(4, time.monotonic())
    second = hand.take(4, time.monotonic())
    (first_tp,) = {r.tp for r in first}
    (second_tp,) = {r.tp for r in second}
    assert len(first) == len(second) == 4 and first_tp != second_tp


def test_a_released_batch_is_taken_again_after_the_delay() -> None:
    hand = held(P0, "a", "b")
    batch = hand.take(16, time.monotonic())
    hand.release(batch, delay=60)
    assert hand.take(16, time.monotonic()) == []
    assert offsets(hand.take(16, time.monotonic() + 61)) == [0, 1]


def test_partitions_handed_back_are_let_go() -> None:
    hand = held(P0, "a")
    hand.add(P1, [record(P1, 0, "b")])
    batch = hand.take(16, time.monotonic())
    assert hand.busy({P0})
    hand.drop({P0})
    assert not hand.busy({P0}) and [r.tp for r in batch if r.tp in hand.partitions] == [P1]
