"""A patch validated where it lands decides exactly as the same patch validated whole.

``state.patched_fields`` validates the field that holds a patch's change with that field's own
type instead of the whole top-level field it sits in. Every patch here is decided twice,
once as the service decides it and once with that shortcut turned off, and the two
outcomes must be the same to the byte: the stored document, the event, the rejection. The
patches are generated from the schema itself (every field reachable through nested models
and the first item of every array of models, in the spellings a client may use, with
scalars, objects of the field's model with keys in other cases or unknown, and arrays of
them), on stored referrals made from Partner Center's documentation payloads and the
benchmark's document.
"""

import importlib
import random
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bench.workload import referral_document
from service.jsonio import dumps, loads
from state import Applied, Command, CommandType, ReferralRecord, decide
from state.json_patch import apply, validate_operations
from state.owned import SERVICE_OWNED
from state.patched_fields import patched_fields
from state.referral_schema import Referral

CORPUS = Path(__file__).parent.parent / "corpus" / "partner_center"
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
LATER = datetime(2026, 12, 1, 10, tzinfo=UTC)


def _command(kind: CommandType, referral_id: str, data: object) -> Command:
    return Command(
        type=kind, command_id=f"{kind}-{referral_id}", referral_id=referral_id, data=data
    )


def _stored(document: dict[str, Any], referral_id: str) -> ReferralRecord | None:
    command = _command(CommandType.CREATE, referral_id, document)
    decision = decide(None, command, NOW)
    return decision.record if isinstance(decision, Applied) else None


def _stored_referrals() -> list[ReferralRecord]:
    documents = [loads(path.read_bytes()) for path in sorted(CORPUS.glob("*.json"))]
    documents.append(loads(dumps(referral_document(random.Random(7), 7))))
    found = [_stored(d, f"ref-{n}") for n, d in enumerate(documents) if isinstance(d, dict)]
    return [record for record in found if record is not None]


STORED = _stored_referrals()
#: The module, not the function of the same name the package exports.
DECIDING = importlib.import_module("state.decide")


def _fields_below(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, object]]:
    """(pointer, the model a value there may be an object of) of every field, through
    fields holding models, and of the first item of every array of models."""
    for name, field in model.model_fields.items():
        pointer = f"{prefix}/{field.serialization_alias or name}"
        held = _models_in(field.annotation)
        yield pointer, held[0] if held else None
        for nested in held:
            in_list = "list[" in str(field.annotation)
            if in_list:
                yield f"{pointer}/-", nested
                yield f"{pointer}/0", nested
            yield from _fields_below(nested, f"{pointer}/0" if in_list else pointer)


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for argument in typing.get_args(annotation):
        found += [m for m in _models_in(argument) if m not in found]
    return found


PLACES = [
    (pointer, model)
    for pointer, model in dict(_fields_below(Referral)).items()
    if pointer.split("/")[1] not in SERVICE_OWNED
]


def _respelled(pointer: str, how: str) -> str:
    parts = pointer.split("/")[1:]
    if how == "pascal":
        parts = [part[:1].upper() + part[1:] for part in parts]
    elif how == "upper":
        parts = [part.upper() for part in parts]
    elif how == "array":
        parts = [*parts[:-1], "0", parts[-1]] if len(parts) > 1 else [*parts, "-"]
    elif how == "unknown":
        parts = [*parts[:-1], "x" + parts[-1]]
    return "/" + "/".join(parts)


_TEXT = st.sampled_from(
    ["", " ", "US", "us", "ZZ", "EUR", "eur", "XXX", "New", "active", "CLOSED", "won",
     "Accepted", "Independent", "shared", "SalesQualified", "1to50employees", "51TO250employees",
     "a@b.example", "not-mail", "2026-12-31T00:00:00Z", "2026-12-31T00:00:00.1234567Z",
     "2026-12-31T00:00:00+01:00", "2026-13-01T00:00:00Z", "10000", "-5", "1e3", "x" * 40,
     "Manufacturing", "Azure", "SQL", "DeploymentOrMigration", "Category", "SolutionProfile"]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    _TEXT,
    st.text(max_size=12),
)


def _objects(model: type[BaseModel] | None) -> st.SearchStrategy[Any]:
    """Objects a client might send for ``model``: its keys (now and then in another case,
    or unknown) with scalar values, alone or in an array."""
    if model is None:
        return _SCALARS
    names = [f.serialization_alias or n for n, f in model.model_fields.items()]
    keys = st.sampled_from(names).flatmap(
        lambda name: st.sampled_from([name, name, name, name.upper(), name.capitalize(), "x"])
    )
    one = st.dictionaries(keys, _SCALARS, max_size=4)
    return st.one_of(_SCALARS, one, st.lists(one, max_size=2))


_OPERATION = st.sampled_from(PLACES).flatmap(
    lambda place: st.builds(
        lambda op, how, value: {"op": op, "path": _respelled(place[0], how), "value": value},
        st.sampled_from(["add", "replace"]),
        st.sampled_from(["wire", "wire", "wire", "pascal", "upper", "array", "unknown"]),
        _objects(place[1]),
    )
)


def _decided_whole(record: ReferralRecord, command: Command) -> object:
    original = DECIDING.patched_fields
    DECIDING.patched_fields = lambda *_: None  # type: ignore[assignment]
    try:
        return decide(record, command, LATER)
    finally:
        DECIDING.patched_fields = original


def _wire(decision: object) -> object:
    """What a decision puts on the wire and in the store, byte for byte."""
    if not isinstance(decision, Applied):
        return decision
    referral = decision.record.referral
    events = [(e.type, e.version, e.changed_paths, e.etag) for e in decision.events]
    return dumps(referral.to_document()), events, decision.record.tenant_id


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(range(len(STORED))), st.lists(_OPERATION, min_size=1, max_size=2))
def test_a_patch_decides_as_the_same_patch_validated_whole(
    which: int, operations: list[dict[str, Any]]
) -> None:
    record = STORED[which]
    command = _command(CommandType.PATCH, record.referral_id, operations)

    decided = decide(record, command, LATER)

    assert _wire(decided) == _wire(_decided_whole(record, command))
    if isinstance(decided, Applied):
        # The referral's fields say what its document says.
        referral = decided.record.referral
        assert dumps(referral.model_copy().to_document()) == dumps(referral.to_document())


def _fast(record: ReferralRecord, operations: list[dict[str, Any]]) -> dict[str, Any] | None:
    parsed = validate_operations(operations)
    document = apply(record.referral.to_document(), parsed)
    return patched_fields(record.referral, document, parsed)


@pytest.mark.parametrize(
    ("path", "value"),
    [("/details/notes", "call notes"), ("/details/dealValue", "10000"), ("/name", "Contoso"),
     ("/status", "Active"), ("/customerProfile/size", "51to250employees"),
     ("/customerProfile/address/city", "Bonn"), ("/Details/Notes", "an existing key's spelling"),
     ("/details/closingDateTime", "2026-12-24T00:00:00.1234567Z"),
     ("/team/-", {"firstName": "Adele", "email": "adele@partner.example"}),  # Partner Center's
     ("/team/0/email", "a@b.example"),  # into an array: the array is validated
     ("/customerProfile/team/0/contactPreference/locale", "de-DE"),
     ("/details/requirements/products/-", {"id": "azure"}),
     ("/details/requirements/industries/0", {"id": "manufacturing"}),
     ("/customerProfile/ids/external", "CRM-2"),  # a field of two forms
     ("/inviteContext/notes", "a field of an object the referral did not have"),
     ("/consent", {"consentToContact": False})],
)  # fmt: skip
def test_a_patch_is_validated_at_the_field_that_holds_it(path: str, value: object) -> None:
    record = STORED[-1]  # the benchmark's document: every one of these objects is present
    command = _command(CommandType.PATCH, record.referral_id, [_op(path, value)])

    assert _fast(record, [_op(path, value)]) is not None
    assert isinstance(decide(record, command, LATER), Applied)


def _op(path: str, value: object) -> dict[str, Any]:
    return {"op": "replace" if path == "/status" else "add", "path": path, "value": value}


@pytest.mark.parametrize(
    "operations",
    [
        [_op("/customerProfile/address/Region", "a key spelled as no existing one")],
        [_op("/details/dealValue", "-5")],  # refused: the whole validation says why
        [_op("/somethingElse", "an unknown field")],
        [_op("/team/-", {"firstName": "A", "FirstName": "B"})],  # spelled twice
        [_op("/details/requirements/products/-", {"id": "not a product"})],
        [_op("/details", {"notes": "n"}), _op("/details/currency", "EUR")],  # one in another
    ],
)
def test_other_patches_are_left_to_the_whole_validation(operations: list[dict[str, Any]]) -> None:
    record = STORED[-1]
    document_before = dumps(record.referral.to_document())

    assert _fast(record, operations) is None
    assert dumps(record.referral.to_document()) == document_before


def test_a_new_key_takes_the_place_the_model_writes_it_in() -> None:
    document = loads(dumps(referral_document(random.Random(7), 7)))
    del document["name"], document["details"]["notes"]
    record = _stored(document, "unnamed")
    assert record is not None
    operations = [
        {"op": "add", "path": "/details/notes", "value": "first call"},
        {"op": "add", "path": "/name", "value": "Cloud migration"},
    ]
    command = _command(CommandType.PATCH, record.referral_id, operations)
    assert _fast(record, operations) is not None

    decided = decide(record, command, LATER)

    assert isinstance(decided, Applied)
    written = decided.record.referral.to_document()
    assert list(written)[:2] == ["id", "name"]
    assert next(iter(written["details"])) == "notes"
    assert _wire(decided) == _wire(_decided_whole(record, command))
