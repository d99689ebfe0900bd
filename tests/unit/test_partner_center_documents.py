"""Partner Center's own documentation payloads are accepted and come back as they were sent.

The corpus (tests/corpus/partner_center, sources in its README) holds the request and
response examples of the Partner Center Referrals REST pages. Each is accepted as a
create, and the referral in its event equals the document apart from what the service
owns; the PATCH example applies as a patch, the PUT example as a replace.
"""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from service.codec import encode_event
from service.jsonio import dumps, loads
from state import Applied, Command, CommandType, Policy, ReferralRecord, decide
from state.fields import parse_utc
from state.model import CANONICAL_KEYS
from state.owned import SERVICE_OWNED

CORPUS = Path(__file__).parent.parent / "corpus" / "partner_center"
DOCUMENTS = sorted(p for p in CORPUS.glob("*.json") if not p.name.startswith("patch-"))
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
#: Client timestamps compare as instants: the service writes them with seven digits.
TIMESTAMPS = {"expirationDateTime", "closingDateTime"}


def load(path: Path) -> Any:
    return loads(path.read_bytes())


def comparable(value: Any, key: str = "") -> Any:
    """Keys in their canonical spelling, numbers as decimals, timestamps as instants."""
    if isinstance(value, dict):
        return {
            CANONICAL_KEYS.get(k, k): comparable(v, CANONICAL_KEYS.get(k, k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if key in TIMESTAMPS and isinstance(value, str):
        return parse_utc(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def without_owned(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in SERVICE_OWNED}


def created(document: dict[str, Any], referral_id: str | None = None) -> Applied:
    referral_id = referral_id or str(document.get("id") or "pc-referral")
    command = Command(
        type=CommandType.CREATE, command_id=f"create-{referral_id}", referral_id=referral_id,
        data=document,
    )  # fmt: skip
    decision = decide(None, command, NOW)
    assert isinstance(decision, Applied), decision
    return decision


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.stem)
def test_a_documented_payload_is_accepted_as_a_create_and_comes_back_unchanged(
    path: Path,
) -> None:
    sent = load(path)
    decision = created(sent)
    back = decision.events[0].referral.to_document()

    expected = comparable(without_owned(sent))
    got = comparable(without_owned(back))
    if sent.get("expirationDateTime") is None:  # absent or null: the service's default applies
        expected.pop("expirationDateTime", None)
        assert got.pop("expirationDateTime") == NOW + Policy().default_expiry
    assert got == expected


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.stem)
def test_a_documented_payload_survives_the_wire_unchanged(path: Path) -> None:
    event = created(load(path)).events[0]
    record = encode_event(event, "referral-events", "urn:test", structured=False)
    assert record.value is not None
    assert loads(record.value)["referral"] == loads(dumps(event.referral.to_document()))


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


def test_the_documented_patch_applies_with_its_deal_value_sent_as_a_string() -> None:
    record = created(load(CORPUS / "create-shared-referral-request.json")).record
    patch = Command(type=CommandType.PATCH, command_id="p", referral_id=record.referral_id,
                    data=load(CORPUS / "patch-referral-request.json"))  # fmt: skip
    decision = decide(record, patch, NOW)
    assert isinstance(decision, Applied), decision
    document = decision.record.referral.to_document()
    assert document["details"]["dealValue"] == Decimal("10000")
    assert document["team"][-1]["email"] == "jane.doe@contoso.com"
    assert decision.events[0].changed_paths == ("/details/dealValue", "/team")


def test_the_documented_put_applies_as_a_replace_of_a_new_referral() -> None:
    sent = load(CORPUS / "update-referral-put-request.json")
    current: ReferralRecord = created({"name": "before"}, sent["id"]).record
    replace = Command(type=CommandType.REPLACE, command_id="u", referral_id=sent["id"],
                      data=sent, if_match=current.referral.e_tag)  # fmt: skip
    decision = decide(current, replace, NOW)
    assert isinstance(decision, Applied), decision
    back = decision.record.referral.to_document()
    assert (back["status"], back["substatus"], back["statusReason"]) == (
        "Closed", "Won", "Customer engagement was a success!",
    )  # fmt: skip
    assert comparable(without_owned(back)) == comparable(without_owned(sent))
