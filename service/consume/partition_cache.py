"""Which partition a send chooses for a key, remembered for recent keys."""

from typing import Final

from aiokafka.partitioner import DefaultPartitioner

#: The partitioner ``AIOKafkaProducer.send`` uses by default: the key's murmur2 hash.
_PARTITIONER: Final = DefaultPartitioner()


class PartitionCache:
    """The default partitioner's answers for recent keys: its murmur2 is Python, about as
    dear as a decision's whole reading of a record, and a referral's key comes back with
    each of its events. Bounded by entries (cleared when full) and by key size, so that
    neither many nor large hostile keys make it grow."""

    ENTRIES: Final = 65_536
    LARGEST_KEY: Final = 128

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, bytes], int] = {}

    def of(self, topic: str, key: bytes | None, partitions: list[int]) -> int:
        """The partition a send would choose for the key among ``partitions`` (all of the
        topic's, sorted)."""
        if key is None or len(key) > self.LARGEST_KEY:
            return int(_PARTITIONER(key, partitions, partitions))
        entry = (topic, len(partitions), key)
        found = self._known.get(entry)
        if found is None:
            if len(self._known) >= self.ENTRIES:
                self._known.clear()
            found = self._known[entry] = int(_PARTITIONER(key, partitions, partitions))
        return found
