"""The Kafka worker's hand: the records read and not yet committed, per partition in offset
order, and which of them a lane may take next so that each conversation goes in order."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import ConsumerRecord, TopicPartition

from fte.bus import kafka
from fte.bus import postgres_queue as queue

log = logging.getLogger(__name__)


@dataclass(eq=False)
class HeldRecord:
    """A record read and not yet committed; `job` is None for a record that is not ours."""

    tp: TopicPartition
    offset: int
    job: queue.Job | None
    busy: bool = False  # in a lane's batch
    done: bool = False  # its outcome committed (or dead-lettered, or nothing to do)
    attempts: int = 0
    not_before: float = 0.0  # monotonic time of its next attempt


class Hand:
    """The records held, per partition in offset order."""

    def __init__(self) -> None:
        self.partitions: dict[TopicPartition, deque[HeldRecord]] = {}
        self._turn = 0

    def add(self, tp: TopicPartition, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        held = self.partitions.setdefault(tp, deque())
        for record in records:
            if held and record.offset <= held[-1].offset:
                continue  # already held (read again after a seek)
            try:
                job: queue.Job | None = kafka.decode(record.value or b"")
            except ValueError as exc:
                log.error("skipping %s offset %d: %s", tp, record.offset, exc)
                job = None
            held.append(HeldRecord(tp, record.offset, job, done=job is None))

    def take(self, size: int, now: float) -> list[HeldRecord]:
        """Up to `size` records to work on, each partition's oldest first, the partitions in
        turn. A record waits while an earlier one of its conversation is not finished and not
        in this batch (in a batch, a conversation's records are handled in order)."""
        batch: list[HeldRecord] = []
        tps = list(self.partitions)
        if not tps:
            return batch
        self._turn = (self._turn + 1) % len(tps)
        for tp in tps[self._turn :] + tps[: self._turn]:
            held_back: set[str] = set()
            for record in self.partitions[tp]:
                if record.done or record.job is None:
                    continue
                if len(batch) == size:
                    return batch
                key = record.job.key
                if key in held_back:
                    continue
                if record.busy or record.not_before > now:
                    held_back.add(key)
                    continue
                record.busy = True
                batch.append(record)
        return batch

    def seconds_to_next(self, now: float, cap: float) -> float:
        """Until the first record waiting for its retry is due (at most `cap`)."""
        due = [
            r.not_before
            for records in self.partitions.values()
            for r in records
            if not r.done and not r.busy and r.not_before > now
        ]
        return min(cap, max(0.0, min(due) - now)) if due else cap

    def release(self, batch: Iterable[HeldRecord], delay: float) -> None:
        """Records not finished go back, to be taken again after `delay` seconds."""
        at = time.monotonic() + delay
        for record in batch:
            record.busy = False
            if not record.done:
                record.not_before = at

    def finished(self, tp: TopicPartition) -> int | None:
        """Let go of the partition's finished records at its head: the offset to commit next
        (None when there were none)."""
        held = self.partitions.get(tp)
        offset = None
        while held and held[0].done:
            offset = held.popleft().offset + 1
        return offset

    def count(self, tp: TopicPartition) -> int:
        return len(self.partitions.get(tp, ()))

    def busy(self, tps: Iterable[TopicPartition]) -> bool:
        return any(r.busy for tp in tps for r in self.partitions.get(tp, ()))

    def drop(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self.partitions.pop(tp, None)
