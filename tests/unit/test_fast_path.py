"""The fast path decides as the models do, byte for byte, or hands the command back.

Streams of commands of every kind (creates, patches, replaces, moves; refusals, duplicates,
tenants, both CloudEvents modes in and out, and the near misses of the canonical form:
another spelling, a space, an escape, a key twice, a value the models read otherwise) are
decided both ways; every outgoing record, stored document, outcome and processed command
must be the same. Seeded and bounded (hypothesis); the streams are
``tests/support/command_streams.py``'s.
"""

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bench.workload import command_stream
from service.codec import command_envelope, command_record
from service.fast.referral import FastRecord, model_record
from service.jsonio import dumps
from service.kafka import PolledRecord
from service.settings import EventMode, Settings
from service.store.columns import read_values
from service.store.postgres_writes import _as_is as postgres_time
from service.store.rows import (
    expiration_moment,
    expiration_of,
    read_row,
    referral_document,
    time_text,
)
from tests.support.command_streams import (
    BASE,
    NOW,
    TENANCY,
    canonical_commands,
    seed_creates,
    streams,
)
from tests.support.two_paths import both_ways, same_traces, stored_records

PROPERTY = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@seed(20261206)
@given(
    stream=streams(),
    mode=st.sampled_from(list(EventMode)),
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4),
)
def test_both_paths_leave_the_same_bytes(
    stream: list[PolledRecord], mode: EventMode, sizes: list[int]
) -> None:
    models, fast = both_ways(stream, Settings(event_mode=mode), NOW, sizes, TENANCY)
    assert models.fast == 0
    assert fast.comparable() == models.comparable()
    assert same_traces(models, fast)


@PROPERTY
@seed(20261207)
@given(data=st.data(), mode=st.sampled_from(list(EventMode)))
def test_canonical_commands_are_decided_by_the_fast_path_as_by_the_models(
    data: st.DataObject, mode: EventMode
) -> None:
    seeds = [
        PolledRecord(topic, 0, index, 0, None, value, headers)
        for index, (topic, value, headers) in enumerate(data.draw(seed_creates()))
    ]
    size = data.draw(st.integers(1, 10))
    stream = seeds + [data.draw(canonical_commands(len(seeds) + n)) for n in range(size)]
    models, fast = both_ways(stream, Settings(event_mode=mode), NOW, (2,), TENANCY)
    assert fast.fast == len(stream)
    assert fast.decided_fast == len(stream)
    assert fast.comparable() == models.comparable()
    assert same_traces(models, fast)


def test_the_bench_mix_takes_the_fast_path_whole_and_leaves_the_same_bytes() -> None:
    stream = command_stream(20261206, 120, "fast")
    polled = [
        PolledRecord("commands", 0, offset, 0, r.key, r.value, r.headers)
        for offset, r in enumerate(stream)
    ]
    for mode in EventMode:
        models, fast = both_ways(polled, Settings(event_mode=mode), NOW, (500, 37))
        assert fast.fast == len(polled)
        duplicates = sum(1 for _, outcome, _ in models.outcomes if outcome == "duplicate")
        assert fast.decided_fast == len(polled) - duplicates
        assert fast.comparable() == models.comparable()
        assert same_traces(models, fast)
        assert len(models.records) > 500


def test_canonical_commands_of_every_kind_take_the_fast_path() -> None:
    create = command_envelope("referral.create", "c-1", "urn:t", "r-1", BASE, tenantid="org-a")
    patch = command_envelope(
        "referral.patch",
        "c-2",
        "urn:t",
        "r-1",
        [
            {"op": "replace", "path": "/details/notes", "value": "n"},
            {"op": "add", "path": "/status", "value": "Active"},
        ],
    )
    move = command_envelope("referral.win", "c-3", "urn:t", "r-1", {"statusReason": "Won it"})
    polled = [
        PolledRecord("commands-a", 0, n, 0, None, r.value, r.headers)
        for n, r in enumerate(
            command_record(envelope, structured=structured)
            for envelope in (create, patch, move)
            for structured in (True,)
        )
    ]
    models, fast = both_ways(polled, Settings(), NOW, (1,), TENANCY)
    assert fast.fast == fast.decided_fast == 3
    assert [outcome for _, outcome, _ in fast.outcomes] == ["applied"] * 3
    assert fast.comparable() == models.comparable()
    assert same_traces(models, fast)
    assert dumps(BASE)  # the document the stream was made from encodes


def test_a_referral_in_either_form_makes_the_same_store_row() -> None:
    stream = command_stream(20261206, 40, "rows")
    polled = [
        PolledRecord("commands", 0, offset, 0, r.key, r.value, r.headers)
        for offset, r in enumerate(stream)
    ]
    records = stored_records(polled)
    assert records
    assert all(isinstance(record, FastRecord) for record in records)
    for record in records:
        model = model_record(record)
        for time in (time_text, postgres_time):
            fast_row = read_row(read_values(record.referral), time)
            assert fast_row == read_row(read_values(model.referral), time)
        assert expiration_of(record) == expiration_of(model)
        assert expiration_moment(record) == expiration_moment(model)
        assert referral_document(record) == referral_document(model)
        assert record.state == model.state
        assert record.version == model.version


def _stream_of(patch_value: str) -> list[PolledRecord]:
    """A create of ``r-1`` and a patch of one of its text leaves to ``patch_value``."""
    leaf = [{"op": "add", "path": "/customerProfile/address/addressLine2", "value": patch_value}]
    records = (
        command_record(command_envelope("referral.create", "c-1", "urn:test", "r-1", BASE)),
        command_record(command_envelope("referral.patch", "c-2", "urn:test", "r-1", leaf)),
    )
    return [
        PolledRecord("commands", 0, n, 0, r.key, r.value, list(r.headers))
        for n, r in enumerate(records)
    ]


@pytest.mark.parametrize("mode", list(EventMode))
@pytest.mark.parametrize("text", ["\\b", "\\f", "\\u", "\\u0041", "a\\\\b", "\\\\\\f", "\\"])
def test_an_escaped_backslash_before_b_f_or_u_is_no_escape_and_is_decided_fast(
    text: str, mode: EventMode
) -> None:
    stream = _stream_of(text)
    assert b"\\\\" in stream[1].value  # the backslash written as an escape of its own

    models, fast = both_ways(stream, Settings(event_mode=mode), NOW, (2,), TENANCY)

    assert fast.decided_fast == len(stream)
    assert fast.comparable() == models.comparable()


@pytest.mark.parametrize("text", ["\b", "\f", "\x01", "a\\\b", "\\\\\f"])
def test_a_control_character_s_escape_is_handed_to_the_models(text: str) -> None:
    stream = _stream_of(text)

    models, fast = both_ways(stream, Settings(), NOW, (2,), TENANCY)

    assert fast.decided_fast == 1  # the create; the patch's refusal is the models'
    assert fast.comparable() == models.comparable()
