"""Publishing outbox entries to Kafka and deleting what Kafka acknowledged.

The store hands over a referral's entries only with every older unpublished entry of the
same referral, and while no other replica publishes them (``Store.publish_in_order``), so
events reach the topic in version order whoever stored them. Every entry of a call is
sent before any is awaited, so one call is one round of produce requests; records of one
key go to one partition, which the producer sends to in order, as record batches a
partition at a time (a batch the broker fails as a whole is sent again a record at a
time). An entry that fails because the broker is away keeps its row; the caller retries.
An entry the broker acknowledged whose row the store then failed to mark (an outage
between the two) is remembered (``acknowledged``): handed over again, it counts as
published without being sent a second time, so an outage then costs no duplicate event.
An entry the broker refuses for what it is (too large, invalid) is counted; once refused
``attempts`` times it is rerouted to the dead-letter topic (``x-error-code:
publish-refused``, cut to fit) and its row deleted, so it never holds up the rows behind it.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from service import dead_letters
from service.codec import OutgoingRecord
from service.consume.acknowledged import Acknowledged, Settled
from service.consume.partition_cache import PartitionCache
from service.dead_letter_codes import DeadLetterCode
from service.dead_letters import encode_dead_letter
from service.errors import BrokerRefused, BrokerUnavailable, Component, ServiceError, translate
from service.health import Health
from service.metrics import Metrics
from service.store import OutboxEntry, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RerouteSettings:
    dlq_topic: str
    max_record_bytes: int
    attempts: int


class OutboxPublisher:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        store: Store,
        reroute: RerouteSettings,
        metrics: Metrics,
        health: Health,
    ) -> None:
        self.producer = producer
        self.store = store
        self.reroute = reroute
        self.metrics = metrics
        self.health = health
        self._refusals: Counter[int] = Counter()
        self._partitions = PartitionCache()
        self._acknowledged = Acknowledged()

    async def publish(self, entries: list[OutboxEntry] | None) -> None:
        """Publish the entries (``None``: the whole outbox backlog), each after the older
        unpublished entries of its referral; raises BrokerUnavailable or BrokerRefused for
        what is left."""
        left: list[ServiceError] = []
        settled: Settled = []

        async def settle(batch: list[OutboxEntry]) -> list[int]:
            if entries is None and batch:
                log.info("publishing outbox backlog", extra={"records": len(batch)})
            owed = self._acknowledged.owed(batch)
            fresh = [entry for entry in batch if entry.seq not in owed] if owed else batch
            published, errors = await self._publish_now(fresh)
            left.extend(errors)
            done = [*owed, *published]
            settled.append((batch, done))
            return done

        try:
            await self.store.publish_in_order(entries, settle)
        except BaseException:
            self._acknowledged.remember(settled)
            raise
        if self._acknowledged:
            self._acknowledged.forget(settled, everything=entries is None)
        if left:
            raise left[0]

    async def _publish_now(
        self, entries: list[OutboxEntry]
    ) -> tuple[list[int], list[ServiceError]]:
        """Send the entries; the seqs published or rerouted, and the errors of the rest."""
        if not entries:
            return [], []
        results = await self.send([entry.record for entry in entries])
        done = [entry for entry, error in zip(entries, results, strict=True) if error is None]
        failed = [(entry, error) for entry, error in zip(entries, results, strict=True) if error]
        given_up = [entry for entry, error in failed if self._refused_enough(entry, error)]
        rerouted = await self._reroute(given_up)
        for kind, count in Counter(entry.record.kind for entry in done).items():
            self.metrics.events_published.labels(kind).inc(count)
        for entry in done + rerouted:
            self._refusals.pop(entry.seq, None)
        self.health.broker_ok = not any(isinstance(e, BrokerUnavailable) for _, e in failed)
        remaining = [error for entry, error in failed if entry not in given_up]
        return [entry.seq for entry in done + rerouted], remaining

    async def send(self, records: list[OutgoingRecord]) -> list[ServiceError | None]:
        """Send every record, then await each; the outcome of each, in order.

        The records of one partition go as record batches of their own (aiokafka's batch
        API: a fraction of a send's cost a record), in order; a batch the broker fails as a
        whole for what it holds is sent again a record at a time, so that only the records
        refused for what they are fail (an outage fails them all, as it would)."""
        limit = self.reroute.max_record_bytes // 2
        if any(len(record.value or b"") > limit for record in records):
            # A record near the limit goes by its own send, which refuses one over it before
            # the broker sees it; the call's others with it, so that their order holds.
            return await self._send_each(records, range(len(records)))
        try:
            groups = await self._by_partition(records)
        except Exception:  # no metadata: each record's own send says what is wrong
            return await self._send_each(records, range(len(records)))
        results: list[ServiceError | None] = [None] * len(records)
        sent: list[tuple[list[int], asyncio.Future[object] | ServiceError]] = []
        for (topic, partition), indexes in groups.items():
            for members, batch in self._batches(records, indexes):
                sent.append((members, await self._send_batch(batch, topic, partition)))
        for members, item in sent:
            error = item if isinstance(item, ServiceError) else await _settled(item)
            if isinstance(error, BrokerRefused) and len(members) > 1:
                for index, alone in zip(
                    members, await self._send_each(records, members), strict=True
                ):
                    results[index] = alone
            else:
                for index in members:
                    results[index] = error
        return results

    async def _by_partition(
        self, records: list[OutgoingRecord]
    ) -> dict[tuple[str, int], list[int]]:
        """The records' indexes by the partition a send would choose (the producer's default
        partitioner: the murmur2 hash of the key, as every Kafka client's default)."""
        partitions: dict[str, list[int]] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for index, record in enumerate(records):
            known = partitions.get(record.topic)
            if known is None:
                known = partitions[record.topic] = sorted(
                    await self.producer.partitions_for(record.topic)
                )
            partition = self._partitions.of(record.topic, record.key, known)
            groups.setdefault((record.topic, partition), []).append(index)
        return groups

    def _batches(
        self, records: list[OutgoingRecord], indexes: list[int]
    ) -> Iterator[tuple[list[int], BatchBuilder]]:
        """Record batches of the given records, in order, each as large as the producer
        makes them."""
        batch, members = self.producer.create_batch(), list[int]()
        for index in indexes:
            record = records[index]
            if _append(batch, record) is None and members:  # full: this one starts the next
                yield members, batch
                batch, members = self.producer.create_batch(), list[int]()
                _append(batch, record)
            members.append(index)
        if members:
            yield members, batch

    async def _send_batch(
        self, batch: BatchBuilder, topic: str, partition: int
    ) -> asyncio.Future[object] | ServiceError:
        batch.close()
        try:
            future: asyncio.Future[object] = await self.producer.send_batch(
                batch, topic, partition=partition
            )
        except Exception as error:
            return _as_service_error(error)
        return future

    async def _send_each(
        self, records: list[OutgoingRecord], indexes: Iterable[int]
    ) -> list[ServiceError | None]:
        """Send the records a send each, then await each; the outcome of each, in order."""
        sent: list[asyncio.Future[object] | ServiceError] = []
        for index in indexes:
            record = records[index]
            try:
                sent.append(
                    await self.producer.send(
                        record.topic,
                        value=record.value,
                        key=record.key,
                        headers=list(record.headers),
                    )
                )
            except Exception as error:
                sent.append(_as_service_error(error))
        return [item if isinstance(item, ServiceError) else await _settled(item) for item in sent]

    def _refused_enough(self, entry: OutboxEntry, error: ServiceError) -> bool:
        if not isinstance(error, BrokerRefused):
            return False
        self._refusals[entry.seq] += 1
        log.warning(
            "the broker refused an outgoing record",
            extra={"topic": entry.record.topic, "kind": entry.record.kind, "error": str(error)},
        )
        return self._refusals[entry.seq] >= self.reroute.attempts

    async def _reroute(self, entries: list[OutboxEntry]) -> list[OutboxEntry]:
        if not entries:
            return []
        dead = [
            encode_dead_letter(
                topic=self.reroute.dlq_topic,
                key=entry.record.key,
                value=entry.record.value,
                headers=entry.record.headers,
                code=DeadLetterCode.PUBLISH_REFUSED,
                message=f"the broker refused this {entry.record.kind} record",
                origin=(entry.record.topic, None, None),
                max_bytes=self.reroute.max_record_bytes,
            )
            for entry in entries
        ]
        results = await self.send(dead)
        rerouted = [entry for entry, error in zip(entries, results, strict=True) if error is None]
        for entry in rerouted:
            self.metrics.poison_records.labels("publish").inc()
            self.metrics.dead_letters.labels(DeadLetterCode.PUBLISH_REFUSED).inc()
            self.metrics.events_published.labels(dead_letters.KIND).inc()
            log.error(
                "outgoing record rerouted to the dead-letter topic",
                extra={"topic": entry.record.topic, "kind": entry.record.kind},
            )
        return rerouted


async def _settled(future: asyncio.Future[object]) -> ServiceError | None:
    try:
        await future
    except Exception as error:
        return _as_service_error(error)
    return None


def _append(batch: BatchBuilder, record: OutgoingRecord) -> object:
    """Add the record to the batch; None when the batch is full (the first record of an
    empty batch always goes in, however large: the broker judges it)."""
    return batch.append(
        timestamp=None, key=record.key, value=record.value, headers=list(record.headers)
    )


def _as_service_error(error: Exception) -> ServiceError:
    """A send that failed for a reason Kafka does not name counts as a refusal of the record:
    it is retried and, if it keeps failing, rerouted instead of blocking the outbox."""
    translated = translate(error, Component.BROKER)
    return translated or BrokerRefused(f"{type(error).__name__} while sending the record")
