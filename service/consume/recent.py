"""The referrals this replica read or wrote last, and the commands it processed last, so
that the next batch need not read them again.

A batch asks the store only for the referrals not held here and not created by the
batch's first command on them (``BatchStages``), none when it holds them all; its commands
processed here lately are taken as seen (their outcomes were stored) and the others as new.
Its write holds every referral it read to the version read, and every command it takes as
new to being new, and is refused whole otherwise (``StaleWrite``), after which the batch is
decided again on what the store holds. A batch read whole (after a refusal, or in order
after a failure) asks the store which version of each referral is stored, and a cached
record is used only when it is exactly that version (a version is written once). So the
cache can be stale without being wrong. It holds at most ``capacity`` referrals and as many
command ids, least recently used first out, and is emptied whenever the group moves
partitions or a write is refused.
"""

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from service.fast.referral import AnyRecord
from state import CommandKey, ReferralKey


class RecentReferrals:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._records: OrderedDict[ReferralKey, AnyRecord] = OrderedDict()
        self._commands: OrderedDict[CommandKey, None] = OrderedDict()

    def view(self) -> Mapping[ReferralKey, AnyRecord]:
        return self._records

    def keep(self, records: Iterable[AnyRecord]) -> None:
        if not self.capacity:
            return
        for record in records:
            self._records[record.key] = record
            self._records.move_to_end(record.key)
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)

    def keep_commands(self, commands: Iterable[CommandKey]) -> None:
        """Commands this replica has processed (their outcome is stored)."""
        if not self.capacity:
            return
        held = self._commands
        for command in commands:
            held[command] = None
        while len(held) > self.capacity:
            held.popitem(last=False)

    def processed(self, commands: Iterable[CommandKey]) -> set[CommandKey]:
        """The commands processed here lately (duplicates: their outcomes are stored)."""
        held = self._commands
        return {command for command in commands if command in held}

    def forget(self) -> None:
        self._records.clear()
        self._commands.clear()
