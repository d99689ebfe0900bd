"""The command partitions this replica owns, and which of them have outbox rows to publish
before their next records are processed.

A newly assigned partition may carry rows another replica stored but did not publish (it
crashed or lost the partition); after a failed attempt, rows of this replica's own
partitions may be left unpublished. Rows of partitions owned by others are never this
replica's to publish: their owners publish them, in order.
"""

from collections.abc import Iterable


class Partitions:
    def __init__(self) -> None:
        self.owned: set[int] = set()
        self.to_drain: set[int] = set()

    def assign(self, partitions: Iterable[int]) -> None:
        new = set(partitions)
        self.owned |= new
        self.to_drain |= new

    def revoke(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        self.owned -= gone
        self.to_drain -= gone

    def failed(self) -> None:
        """An attempt failed part-way: every owned partition may have rows left behind."""
        self.to_drain = set(self.owned)

    def drained(self, partitions: Iterable[int]) -> None:
        self.to_drain -= set(partitions)
