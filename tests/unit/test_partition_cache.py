"""The publisher's partition cache answers as the producer's default partitioner does, for
any key, and stays bounded whatever keys come."""

from hypothesis import given, seed, settings
from hypothesis import strategies as st

from service.consume.partition_cache import _PARTITIONER, PartitionCache


@given(
    keys=st.lists(st.binary(max_size=300), max_size=50),
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=3),
)
@seed(20261206)
@settings(max_examples=200, deadline=None, database=None)
def test_the_cache_answers_as_the_partitioner(keys: list[bytes], counts: list[int]) -> None:
    cache = PartitionCache()
    for count in counts:  # a topic that grew partitions is asked again
        partitions = list(range(count))
        for key in keys + keys:
            assert cache.of("events", key, partitions) == _PARTITIONER(key, partitions, partitions)


def test_a_keyless_record_goes_to_one_of_the_partitions() -> None:
    assert PartitionCache().of("events", None, [0, 1, 2]) in {0, 1, 2}


def test_the_cache_holds_a_bounded_number_of_small_keys() -> None:
    cache = PartitionCache()
    for n in range(PartitionCache.ENTRIES + 10):
        cache.of("events", f"r{n}".encode(), [0, 1, 2, 3])
    cache.of("events", b"x" * (PartitionCache.LARGEST_KEY + 1), [0, 1, 2, 3])
    assert len(cache._known) <= PartitionCache.ENTRIES
    assert all(len(key) <= PartitionCache.LARGEST_KEY for _, _, key in cache._known)
