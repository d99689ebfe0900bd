"""Records the Kafka client cannot parse: find them, read what can be read of them, and move
the consumer past them without losing or repeating any record around them.

aiokafka parses record batches inside ``getmany()`` (its C extension by default) and raises
there when a batch is damaged. What it raises, found on a real broker:

- a header key that is not UTF-8: ``UnicodeDecodeError``;
- a CRC that does not match, a varint over 64 bits, a record whose length does not match
  its fields, bytes left after the batch's last record: ``CorruptRecordException``;
- compressed data that does not decompress: the codec's own error (gzip's is an
  ``OSError``); a codec number it does not know: ``UnsupportedCodecError``.

None of these is an outage: a retry polls the same batch and raises again, forever. Worse,
one ``getmany()`` drops every record it had already drained, of any partition, and moves
those partitions' positions past them. So ``PollGuard`` remembers the position after each
record it delivered; when a poll raises a parse error it puts every partition back there,
polls each alone one record at a time to the record that raises, fetches that offset's
batch itself and parses it leniently here: the damaged records (or the whole batch, when
the damage is the batch's) become ``Unreadable``, the batch's other records are delivered,
and the consumer is moved past the batch (aiokafka parses a batch from its start, so it
would raise on it again from any offset within it).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    ConsumerStoppedError,
    CorruptRecordException,
    KafkaError,
    UnsupportedCodecError,
)
from aiokafka.structs import ConsumerRecord

from service.consume.record_batches import RawFetcher, RawRecord, Unreadable, Verdict, judge

__all__ = ["PollGuard", "Polled", "RawFetcher", "RawRecord", "Unreadable", "is_unreadable"]

Records = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]


def is_unreadable(error: BaseException) -> bool:
    """Whether ``getmany()`` raised ``error`` because a record batch could not be parsed
    (anything but the client's own errors, which are about the broker or the group)."""
    if isinstance(error, CorruptRecordException | UnsupportedCodecError):
        return True
    return not isinstance(error, KafkaError | ConsumerStoppedError)


@dataclass(frozen=True)
class Polled:
    """What one poll delivered: records as ``getmany()`` returns them, in offset order per
    partition, and the unreadable records found among them (to be dead-lettered)."""

    records: Records
    unreadable: list[Unreadable]

    def count(self) -> int:
        """How many records the poll came with, readable or not."""
        return sum(map(len, self.records.values())) + len(self.unreadable)

    def next_offsets(self) -> dict[TopicPartition, int]:
        """Per partition, the offset after the last record delivered or found unreadable:
        what to commit once the poll is handled."""
        offsets = {tp: records[-1].offset + 1 for tp, records in self.records.items() if records}
        for found in self.unreadable:
            tp = TopicPartition(found.topic, found.partition)
            offsets[tp] = max(offsets.get(tp, 0), found.last_offset + 1)
        return offsets


class PollGuard:
    """Polls a consumer; when a poll fails to parse a batch, finds the unreadable records,
    delivers every other one once and in order, and moves the consumer past them.

    ``forget()`` must be told of every partition assigned or revoked (from the rebalance
    listener): a partition it has no position for is put back to its committed offset,
    or to its beginning without one (the consumer resets to the earliest offset).
    """

    def __init__(
        self, consumer: AIOKafkaConsumer, fetcher: RawFetcher, limit: int, wait_ms: int = 1000
    ) -> None:
        self.consumer, self.fetcher = consumer, fetcher
        #: Records a recovery delivers at most per partition, before the loop takes over.
        self.limit = limit
        #: How long a recovery waits for a partition's next fetch.
        self.wait_ms = wait_ms
        self._positions: dict[TopicPartition, int] = {}

    async def close(self) -> None:
        await self.fetcher.close()

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._positions.pop(tp, None)

    async def poll(self, timeout_ms: int, max_records: int) -> Polled:
        """``getmany()``; an error that is not a parse error is raised as it is."""
        try:
            records = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except Exception as error:
            if not is_unreadable(error):
                raise
            return await self.recover()
        polled = Polled(records, [])
        self._positions.update(polled.next_offsets())
        return polled

    async def recover(self) -> Polled:
        """Put every partition back where delivery stopped, then read each alone."""
        assigned = self.consumer.assignment() - self.consumer.paused()
        for tp in assigned:
            await self._rewind(tp)
        polled = Polled({}, [])
        for tp in sorted(assigned):
            records, unreadable = await self._scan(tp)
            if records:
                polled.records[tp] = records
            polled.unreadable.extend(unreadable)
        self._positions.update(polled.next_offsets())
        return polled

    async def _rewind(self, tp: TopicPartition) -> None:
        position = self._positions.get(tp)
        if position is None:
            position = await self.consumer.committed(tp)
        if position is None:
            await self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, position)

    async def _scan(self, tp: TopicPartition) -> tuple[list[Any], list[Unreadable]]:
        """Up to ``limit`` records of one partition, one poll each, so a parse error names
        the exact offset; the batch there is judged and skipped."""
        records: list[Any] = []
        unreadable: list[Unreadable] = []
        failed_at: int | None = None
        while len(records) < self.limit and not await self._caught_up(tp):
            try:
                got = await self.consumer.getmany(tp, timeout_ms=self.wait_ms, max_records=1)
            except Exception as error:
                if not is_unreadable(error):
                    raise
                position = await self.consumer.position(tp)
                verdict = judge(tp, await self.fetcher.fetch(tp, position), position)
                if verdict is None and failed_at == position:  # the client alone fails it
                    verdict = _unexplained(tp, position, error)
                failed_at = position
                if verdict is not None:
                    records.extend(verdict.delivered)
                    unreadable.extend(verdict.unreadable)
                    position = verdict.resume_at
                self.consumer.seek(tp, position)  # drops the failed fetch either way
                continue
            if not got:
                break
            records.extend(got[tp])
        return records, unreadable

    async def _caught_up(self, tp: TopicPartition) -> bool:
        highwater = self.consumer.highwater(tp)
        return highwater is not None and await self.consumer.position(tp) >= highwater


def _unexplained(tp: TopicPartition, offset: int, error: BaseException) -> Verdict:
    reason = f"the Kafka client raised {type(error).__name__} reading it twice"
    return Verdict([], [Unreadable(tp.topic, tp.partition, offset, offset, reason)], offset + 1)
