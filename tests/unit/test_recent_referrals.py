"""The in-memory referrals kept between batches: bounded, least recently used out."""

from service.consume.recent import RecentReferrals
from state import CommandKey, ReferralRecord
from tests.support.builders import created_in


def record(referral_id: str) -> ReferralRecord:
    stored = created_in("New/Pending")
    return ReferralRecord(stored.referral.model_copy(update={"id": referral_id}), None)


def test_the_least_recently_used_referral_goes_first_when_full() -> None:
    recent = RecentReferrals(capacity=2)
    a, b, c = record("a"), record("b"), record("c")
    recent.keep([a, b])
    recent.keep([a])  # used again: b is now the oldest
    recent.keep([c])

    assert set(recent.view()) == {a.key, c.key}


def test_forgetting_empties_it_and_capacity_zero_keeps_nothing() -> None:
    recent = RecentReferrals(capacity=10)
    recent.keep([record("a")])
    recent.forget()
    assert dict(recent.view()) == {}
    off = RecentReferrals(capacity=0)
    off.keep([record("a")])
    assert dict(off.view()) == {}


def test_commands_processed_here_are_held_oldest_out_and_forgotten_with_the_referrals() -> None:
    recent = RecentReferrals(capacity=2)
    a, b, c = CommandKey(None, "a"), CommandKey("t", "a"), CommandKey(None, "c")
    recent.keep_commands([a, b])
    assert recent.processed([b, c]) == {b}
    assert recent.processed([CommandKey("u", "a")]) == set()
    recent.keep_commands([c])  # a, the oldest, goes
    assert recent.processed([a]) == set()
    assert recent.processed([a, c]) == {c}
    recent.forget()
    assert recent.processed([b, c]) == set()
    off = RecentReferrals(capacity=0)
    off.keep_commands([a])
    assert off.processed([a]) == set()
