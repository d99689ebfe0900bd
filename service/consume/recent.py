"""The referrals this replica read or wrote last, and the commands it processed last, so
that the next batch need not read them again.

A batch whose every referral is held here (or is created by the batch's first command on
it) and none of whose commands was processed here lately is decided without asking the
store (``BatchStages``): its write holds every referral it read to the version read, and
every command to being new, and is refused whole otherwise (``StaleWrite``), after which
the batch is decided again on what the store holds. Without that skip, the store says
which version of each referral is stored, and a cached record is used only when it is
exactly that version (a version is written once). So the cache can be stale without being
wrong. It holds at most ``capacity`` referrals and as many command ids, least recently
used first out, and is emptied whenever the group moves partitions or a write is refused.
"""

from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping

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

    def processed_any(self, commands: Collection[CommandKey]) -> bool:
        """Whether any of the commands was processed here lately (a duplicate, likely)."""
        held = self._commands
        return any(command in held for command in commands)

    def forget(self) -> None:
        self._records.clear()
        self._commands.clear()
