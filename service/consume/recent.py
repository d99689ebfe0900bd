"""The referrals this replica read or wrote last, so the next batch need not read and
validate them again.

The store still says which version of each referral is stored, and a cached record is
used only when it is exactly that version (a version is written once), so the cache can
be stale without being wrong. It holds at most ``capacity`` referrals, least recently used
first out, and is emptied whenever the group moves partitions.
"""

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from service.fast.referral import AnyRecord
from state import ReferralKey


class RecentReferrals:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._records: OrderedDict[ReferralKey, AnyRecord] = OrderedDict()

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

    def forget(self) -> None:
        self._records.clear()
