"""The garbage collector as the service tunes it at start."""

import gc
from collections.abc import Iterator

import pytest

from service.runtime import YOUNG_COLLECTION_AFTER, tune_garbage_collection


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_start_up_objects_are_frozen_and_collections_are_rare(restored: None) -> None:

    tune_garbage_collection()

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_AFTER
