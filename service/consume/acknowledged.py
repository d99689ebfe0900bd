"""Records the broker acknowledged whose outbox rows the store has not marked yet.

An outage between the broker's acknowledgement and the store's mark (or deletion) of the
rows would have the retry send them again. The publisher remembers them instead; handed
over again, they count as published without a second send. Each is kept with its record,
so that a row stored later under a seq reused is never taken for one of them, and at most
``REMEMBERED`` are kept: letting them go costs a duplicate, never a loss.
"""

from typing import Final

from service.codec import OutgoingRecord
from service.store import OutboxEntry

#: Acknowledged entries remembered at most while their marks fail (an outage holds the
#: batches behind it, so this bounds only what a long run of failed marks could gather).
REMEMBERED: Final = 100_000

#: Batches handed to the publisher's ``settle``, each with the seqs it answered as published.
Settled = list[tuple[list[OutboxEntry], list[int]]]


class Acknowledged:
    def __init__(self) -> None:
        self._records: dict[int, OutgoingRecord] = {}

    def __bool__(self) -> bool:
        return bool(self._records)

    def owed(self, batch: list[OutboxEntry]) -> set[int]:
        """The seqs of ``batch`` acknowledged already, their marks owed."""
        known = self._records
        if not known:
            return set()
        return {entry.seq for entry in batch if known.get(entry.seq) == entry.record}

    def remember(self, settled: Settled) -> None:
        """The store failed after these were settled: their marks may not have been made."""
        handed = _handed(settled)
        if len(self._records) + len(handed) > REMEMBERED:
            self._records.clear()
        self._records.update((entry.seq, entry.record) for entry in handed)

    def forget(self, settled: Settled, *, everything: bool) -> None:
        """Marks made: forget what was settled (``everything``: after a whole drain, which
        handed over every unpublished row there is)."""
        if everything:
            self._records.clear()
        for entry in _handed(settled):
            self._records.pop(entry.seq, None)


def _handed(settled: Settled) -> list[OutboxEntry]:
    """The entries the settled batches answered as published (acknowledged or owed)."""
    handed: list[OutboxEntry] = []
    for batch, done in settled:
        seqs = set(done)
        handed += (entry for entry in batch if entry.seq in seqs)
    return handed
