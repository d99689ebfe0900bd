"""Partner Center's own documentation payloads are accepted and come back as they were sent.

The corpus (tests/corpus/partner_center, sources in its README) holds the request and
response examples of the Partner Center Referrals REST pages. Each document is accepted as
a create, and the referral in its event equals the document apart from what the service
owns: the owned fields carry the service's values, keys are written in camelCase and
client timestamps in their seven-digit form, exact to the 100 ns tick they came with.
The PATCH examples apply as patches, the PUT examples as replaces.
"""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from service.codec import encode_event
from service.jsonio import dumps, loads  # the codec's reader: JSON numbers as exact decimals
from state import Applied, Command, CommandType, Policy, ReferralRecord, decide
from state.fields import format_utc, parse_utc
from state.owned import SERVICE_OWNED
from state.referral_schema import CANONICAL_KEYS

CORPUS = Path(__file__).parent.parent / "corpus" / "partner_center"
DOCUMENTS = sorted(p for p in CORPUS.glob("*.json") if not p.name.startswith("patch-"))
PATCHES = sorted(CORPUS.glob("patch-*.json"))
PUTS = sorted(CORPUS.glob("update-*-put-request.json"))
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
STAMP = format_utc(NOW)
#: Timestamps a client sets; the service writes them with seven fractional digits.
CLIENT_TIMESTAMPS = ("expirationDateTime", "closingDateTime")


def load(path: Path) -> Any:
    return loads(path.read_bytes())


def canonical(value: Any) -> Any:
    """The document as the service writes it: camelCase keys, seven-digit client timestamps."""
    if isinstance(value, dict):
        named = {CANONICAL_KEYS.get(k, k): v for k, v in value.items()}
        return {
            k: format_utc(parse_utc(v)) if k in CLIENT_TIMESTAMPS and v else canonical(v)
            for k, v in named.items()
        }
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def without_owned(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in SERVICE_OWNED}


def expected_from(sent: dict[str, Any]) -> dict[str, Any]:
    expected = without_owned(canonical(sent))
    if not sent.get("expirationDateTime"):  # absent or null: the service's default applies
        expected["expirationDateTime"] = format_utc(NOW + Policy().default_expiry)
    return expected


def referral_id_of(document: dict[str, Any]) -> str:
    return str(document.get("id") or "pc-referral")


def created(document: dict[str, Any], referral_id: str | None = None) -> Applied:
    referral_id = referral_id or referral_id_of(document)
    command = Command(
        type=CommandType.CREATE, command_id=f"create-{referral_id}", referral_id=referral_id,
        data=document,
    )  # fmt: skip
    decision = decide(None, command, NOW)
    assert isinstance(decision, Applied), decision
    return decision


def as_json(document: dict[str, Any]) -> Any:
    """What a subscriber parses: decimals stay exact."""
    return loads(dumps(document))


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.stem)
def test_a_documented_payload_is_accepted_as_a_create_and_comes_back_as_it_was_sent(
    path: Path,
) -> None:
    sent = load(path)

    back = as_json(created(sent).events[0].referral.to_document())

    assert without_owned(back) == expected_from(sent)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.stem)
def test_a_documented_payload_gets_the_service_values_of_the_fields_the_service_owns(
    path: Path,
) -> None:
    sent = load(path)
    event = created(sent).events[0]

    back = event.referral.to_document()

    owned = {k: v for k, v in back.items() if k in SERVICE_OWNED}
    status = back["status"]
    assert owned == {
        "id": referral_id_of(sent),
        "createdDateTime": STAMP,
        "updatedDateTime": STAMP,
        "eTag": event.etag,
        "version": 1,
        **({"acceptedDateTime": STAMP} if status == "Active" else {}),
        **({"closedDateTime": STAMP} if status == "Closed" else {}),
    }
    assert (back["status"], back["substatus"]) == (
        sent.get("status", "New"), sent.get("substatus", sent.get("Substatus", "Pending")),
    )  # fmt: skip


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.stem)
def test_a_documented_payload_survives_the_wire_unchanged(path: Path, structured: bool) -> None:
    sent = load(path)
    event = created(sent).events[0]

    record = encode_event(event, "referral-events", "urn:test", structured=structured)

    assert record.value is not None
    value = loads(record.value)
    referral = value["data"]["referral"] if structured else value["referral"]
    assert referral == as_json(event.referral.to_document())
    assert without_owned(referral) == expected_from(sent)


def test_target_keeps_the_form_it_came_in() -> None:
    as_list = created({"target": [{"type": "SolutionProfile", "id": "SOL-1"}]})
    as_object = created({"target": {"type": "BusinessProfileLocation", "id": "msft"}})
    assert as_list.events[0].referral.to_document()["target"] == [
        {"type": "SolutionProfile", "id": "SOL-1"}
    ]
    assert as_object.events[0].referral.to_document()["target"] == {
        "type": "BusinessProfileLocation", "id": "msft",
    }  # fmt: skip


def test_a_target_of_an_unknown_type_is_still_refused_at_its_place() -> None:
    command = Command(
        type=CommandType.CREATE, command_id="c", referral_id="r",
        data={"target": [{"type": "Somewhere", "id": "x"}]},
    )  # fmt: skip
    decision = decide(None, command, NOW)
    assert not isinstance(decision, Applied)
    assert {d.target for d in decision.details} == {"/target/0/type"}


def test_a_client_timestamp_with_seven_digits_comes_back_exactly() -> None:
    sent = {"expirationDateTime": "2026-12-01T10:21:39.4263417Z"}

    back = created(sent).events[0].referral.to_document()

    assert back["expirationDateTime"] == "2026-12-01T10:21:39.4263417Z"


def value_at(document: Any, pointer: str) -> Any:
    """The value a JSON Pointer names; ``-`` names the last item, as after an ``add``."""
    node = document
    for part in pointer.strip("/").split("/"):
        if isinstance(node, list):
            node = node[-1] if part == "-" else node[int(part)]
        else:
            node = node[part]
    return node


@pytest.mark.parametrize("path", PATCHES, ids=lambda path: path.stem)
def test_a_documented_patch_applies_to_a_created_referral(path: Path) -> None:
    record = created(load(CORPUS / "create-shared-referral-request.json")).record
    operations = load(path)
    patch = Command(type=CommandType.PATCH, command_id="p", referral_id=record.referral_id,
                    data=operations)  # fmt: skip

    decision = decide(record, patch, NOW)

    assert isinstance(decision, Applied), decision
    document = as_json(decision.record.referral.to_document())
    for operation in operations:
        value = operation["value"]
        exact = Decimal(value) if operation["path"].endswith("/dealValue") else value
        assert value_at(document, operation["path"]) == exact
    named = {op["path"].removesuffix("/-") for op in operations}
    changed = set(decision.events[0].changed_paths)
    assert named <= changed
    assert {path.lstrip("/") for path in changed - named} <= SERVICE_OWNED  # e.g. closedDateTime


def test_the_documented_patch_reads_its_deal_value_string_as_an_exact_number() -> None:
    record = created(load(CORPUS / "create-shared-referral-request.json")).record
    patch = Command(type=CommandType.PATCH, command_id="p", referral_id=record.referral_id,
                    data=load(CORPUS / "patch-referral-request.json"))  # fmt: skip

    decision = decide(record, patch, NOW)

    assert isinstance(decision, Applied), decision
    value = decision.record.referral.to_document()["details"]["dealValue"]
    assert (type(value), str(value)) == (Decimal, "10000")


@pytest.mark.parametrize("path", PUTS, ids=lambda path: path.stem)
def test_a_documented_put_applies_as_a_replace_of_a_new_referral(path: Path) -> None:
    sent = load(path)
    current: ReferralRecord = created({"name": "before"}, sent["id"]).record
    replace = Command(type=CommandType.REPLACE, command_id="u", referral_id=sent["id"],
                      data=sent, if_match=current.referral.e_tag)  # fmt: skip

    decision = decide(current, replace, NOW)

    assert isinstance(decision, Applied), decision
    back = as_json(decision.record.referral.to_document())
    assert (back["status"], back["substatus"], back["statusReason"]) == (
        "Closed", "Won", "Customer engagement was a success!",
    )  # fmt: skip
    assert without_owned(back) == without_owned(canonical(sent))
