"""The decision accepts only what both stores hold, spelled one way (hypothesis).

Hostile families, generated: control characters in every string field and key (through
the JSON text too), strings at and around the indexed-string limit in any script, deal
values and timestamps in every spelling, JSON Pointer escapes and over-long array indexes.
Each is refused with ``invalidRequest`` and the pointer of the place, never with an
exception, and never quoting what was sent; what is accepted is kept exactly.
"""

import itertools
import json
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.jsonio import loads
from state import CommandType, ReferralRecord, Rejected, RejectionCode, decide
from state.commands import TextExtent
from state.limits import DEFAULT_LIMITS
from state.referral_schema import Referral
from tests.support.builders import NOW, applied, command, created, rejected

BOUNDED = settings(max_examples=150, deadline=None, derandomize=True, database=None)
LONGEST = DEFAULT_LIMITS.max_indexed_length

#: A document with a string at each place a referral holds one, by JSON Pointer.
STRING_FIELDS = {
    "/name": "Contoso",
    "/engagementId": "eng-1",
    "/externalReferenceId": "crm-1",
    "/direction": "Incoming",
    "/statusReason": "why",
    "/customerProfile/name": "Contoso Ltd",
    "/customerProfile/address/city": "Redmond",
    "/customerProfile/address/postalCode": "98052",
    "/customerProfile/team/0/firstName": "Alex",
    "/customerProfile/team/0/email": "alex@contoso.example",
    "/customerProfile/ids/duns": "123456789",
    "/details/notes": "notes",
    "/inviteContext/notes": "notes",
    "/inviteContext/invitedBy/organizationName": "Fabrikam",
    "/team/0/lastName": "Wilber",
    "/team/0/email": "alex@contoso.example",
    "/target/0/id": "target",
    "/anUnknownField": "kept",
    "/anUnknownObject/deeper/0": "kept",
}
INDEXED = ("/engagementId", "/externalReferenceId", "/direction", "/team/0/email")
#: C0 controls a string may not hold anywhere, and the three free text may.
FORBIDDEN = [chr(code) for code in range(0x20) if chr(code) not in "\t\n\r"]
LINE_BREAKS = ["\t", "\n", "\r"]
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12)


def document_with(pointer: str, value: Any) -> dict[str, Any]:
    """A valid document whose strings are the baseline's, with ``value`` at ``pointer``."""
    document: dict[str, Any] = {}
    for place, text in {**STRING_FIELDS, pointer: value}.items():
        node: Any = document
        parts = place.strip("/").split("/")
        for part, following in itertools.pairwise(parts):
            child: Any = [] if following == "0" else {}
            node = _slot(node, part, child)
        _put(node, parts[-1], text)
    return document


def _slot(node: Any, part: str, child: Any) -> Any:
    if isinstance(node, list):
        if not node:
            node.append(child)
        return node[0]
    return node.setdefault(part, child)


def _put(node: Any, part: str, value: Any) -> None:
    if isinstance(node, list):
        node[:] = [value]
    else:
        node[part] = value


def create(document: Any, **attributes: Any) -> Any:
    return decide(None, command(CommandType.CREATE, document, **attributes), NOW)


def problems_of(decision: Any) -> dict[str, str]:
    refusal = rejected(decision)
    assert refusal.code is RejectionCode.INVALID_REQUEST
    return {problem.target: problem.code for problem in refusal.details}


def quotes_nothing(refusal: Rejected, sent: str) -> bool:
    texts = [refusal.message, *(p.message for p in refusal.details)]
    return all(sent not in text for text in texts)


def test_the_baseline_document_is_accepted() -> None:
    assert applied(create(document_with("/name", "Contoso"))).record.referral.name == "Contoso"


# --- control characters ----------------------------------------------------------------


@BOUNDED
@given(st.sampled_from(sorted(STRING_FIELDS)), st.sampled_from(FORBIDDEN), texts, texts)
def test_a_control_character_in_any_string_is_refused_at_its_place(
    pointer: str, control: str, before: str, after: str
) -> None:
    sent = f"{before}{control}{after}"

    decision = create(document_with(pointer, sent))

    assert problems_of(decision) == {pointer: "controlCharacter"}
    assert quotes_nothing(rejected(decision), sent)


@BOUNDED
@given(st.sampled_from(sorted(STRING_FIELDS)), st.sampled_from(FORBIDDEN), texts)
def test_the_json_text_shortcut_never_lets_a_control_character_through(
    pointer: str, control: str, before: str
) -> None:
    text = json.dumps(document_with(pointer, before + control)).encode()
    read = replace(command(CommandType.CREATE, loads(text)), data_extent=TextExtent.of(text))

    assert problems_of(decide(None, read, NOW)) == {pointer: "controlCharacter"}


@BOUNDED
@given(st.sampled_from(FORBIDDEN), texts)
def test_a_control_character_in_a_key_is_refused_at_the_object_holding_it(
    control: str, key: str
) -> None:
    decision = create({"name": "Contoso", "details": {f"{key}{control}": 1}})

    assert problems_of(decision) == {"/details": "controlCharacter"}


@BOUNDED
@given(
    st.sampled_from(sorted(set(STRING_FIELDS) - set(INDEXED))),
    st.sampled_from(LINE_BREAKS),
    texts,
)
def test_tab_line_feed_and_return_are_kept_in_free_text(
    pointer: str, line_break: str, text: str
) -> None:
    if pointer.endswith("/email"):
        return  # an e-mail holds no white space at all
    sent = f"{text}{line_break}{text}"

    document = applied(create(document_with(pointer, sent))).record.referral.to_document()

    assert _at(document, pointer) == sent


@BOUNDED
@given(st.sampled_from(INDEXED), st.sampled_from(LINE_BREAKS), texts)
def test_an_indexed_string_holds_no_control_character_at_all(
    pointer: str, line_break: str, text: str
) -> None:
    decision = create(document_with(pointer, f"a{text}{line_break}b@c.example"))

    # An e-mail's own rule refuses white space first.
    code = "value_error" if pointer.endswith("/email") else "invalidValue"
    assert problems_of(decision) == {pointer: code}


@BOUNDED
@given(st.sampled_from(FORBIDDEN), st.sampled_from(["/name", "/details/notes", "/team"]))
def test_a_patch_value_holding_a_control_character_is_refused_at_its_place(
    control: str, path: str
) -> None:
    value: Any = f"a{control}" if path != "/team" else [{"firstName": f"a{control}"}]
    patch = [{"op": "add", "path": path, "value": value}]

    decision = decide(created(), command(CommandType.PATCH, patch), NOW)

    expected = "/0/value" if path != "/team" else "/0/value/0/firstName"
    assert problems_of(decision) == {expected: "controlCharacter"}


def _at(document: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


# --- indexed strings -------------------------------------------------------------------

#: Characters of one to four bytes in UTF-8: the limit counts characters, whatever the script.
wide_characters = st.sampled_from(["a", "é", "中", "\U0001f600", "\U0010fffd"])


@BOUNDED
@given(st.sampled_from(INDEXED), wide_characters, st.integers(LONGEST - 2, LONGEST + 2))
def test_an_indexed_string_is_accepted_up_to_the_limit_and_refused_beyond(
    pointer: str, character: str, length: int
) -> None:
    suffix = "@c.example" if pointer.endswith("/email") else ""
    sent = character * (length - len(suffix)) + suffix

    decision = create(document_with(pointer, sent))

    if length <= LONGEST:
        stored = applied(decision).record.referral.to_document()
        assert _at(stored, pointer) == sent
    else:
        assert problems_of(decision) == {pointer: "tooLong"}
        assert quotes_nothing(rejected(decision), sent)


def test_an_indexed_string_the_stored_referral_already_has_does_not_block_other_changes() -> None:
    # Stored before the rule (on a store that took it): left alone, not refused again.
    long_id = "x" * (LONGEST + 50)
    stored = created({"name": "Contoso"})
    document = {**stored.referral.to_document(), "engagementId": long_id}
    old = ReferralRecord(Referral.model_validate(document), stored.tenant_id)
    patch = [{"op": "replace", "path": "/name", "value": "Fabrikam"}]

    changed = applied(decide(old, command(CommandType.PATCH, patch), NOW)).record.referral

    assert (changed.name, changed.engagement_id) == ("Fabrikam", long_id)


# --- deal values -----------------------------------------------------------------------

plain_digits = st.from_regex(r"(0|[1-9][0-9]{0,28})(\.[0-9]{1,28})?", fullmatch=True)
spaces = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2003"])


@st.composite
def misspelled_deal_values(draw: st.DrawFn) -> Any:
    plain = draw(plain_digits)
    family = draw(st.integers(0, 7))
    if family == 0:
        return draw(spaces) + plain if draw(st.booleans()) else plain + draw(spaces)
    if family == 1:
        return draw(st.sampled_from(["+", "-"])) + plain  # -0 and -0.0 among them
    if family == 2:
        exponent = draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"]))
        return plain + exponent + str(draw(st.integers(0, 10**12)))
    if family == 3:
        return draw(st.sampled_from(["NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN"]))
    if family == 4:
        return "." + plain.replace(".", "") if draw(st.booleans()) else plain.split(".")[0] + "."
    if family == 5:
        return "0" + plain if plain != "0" else "00"
    if family == 6:
        return "1" * draw(st.integers(30, 5000))
    return "0." + "1" * draw(st.integers(29, 5000))


def _published_deal_value_pattern() -> str:
    schema = Referral.model_json_schema(by_alias=True)["$defs"]["ReferralDetails"]
    (text,) = (s for s in schema["properties"]["dealValue"]["anyOf"] if s["type"] == "string")
    # JSON Schema's "$" ends the text; Python's would also match before a final newline.
    return str(text["pattern"]).removesuffix("$") + r"\Z"


PUBLISHED_PATTERN = _published_deal_value_pattern()


@BOUNDED
@given(misspelled_deal_values())
def test_a_deal_value_not_in_plain_bounded_notation_is_refused(sent: str) -> None:
    decision = create({"details": {"dealValue": sent, "currency": "USD"}})

    assert problems_of(decision) == {"/details/dealValue": "value_error"}
    assert re.search(PUBLISHED_PATTERN, sent) is None  # the contract says so too


@BOUNDED
@given(plain_digits, st.booleans())
def test_a_deal_value_in_plain_notation_is_kept_exactly(sent: str, as_number: bool) -> None:
    value: Any = Decimal(sent) if as_number else sent

    stored = applied(create({"details": {"dealValue": value, "currency": "USD"}})).record

    kept = stored.referral.to_document()["details"]["dealValue"]
    assert kept.as_tuple() == Decimal(sent).as_tuple()  # every digit, and the scale
    assert re.search(PUBLISHED_PATTERN, sent) is not None


@pytest.mark.parametrize("text", ["1e3", "1E+3", "1e999999999", "-0.0", "1" * 30, "0." + "1" * 29])
def test_a_deal_value_read_from_json_text_is_held_to_the_same_rule(text: str) -> None:
    data = loads(f'{{"details": {{"dealValue": {text}, "currency": "USD"}}}}')

    assert problems_of(create(data)) == {"/details/dealValue": "value_error"}


# --- timestamps ------------------------------------------------------------------------

TIMESTAMP_FIELDS = ("/expirationDateTime", "/details/closingDateTime")
timestamps = st.datetimes(
    min_value=NOW.replace(tzinfo=None), max_value=NOW.replace(tzinfo=None, year=2030)
).map(lambda moment: moment.isoformat(timespec="microseconds") + "Z")


@st.composite
def misspelled_timestamps(draw: st.DrawFn) -> str:
    text = draw(timestamps)
    family = draw(st.integers(0, 2))
    if family == 0:
        return text.replace("T", "t") if draw(st.booleans()) else text.replace("Z", "z")
    if family == 1:
        return text + draw(spaces)
    return draw(spaces) + text


@BOUNDED
@given(st.sampled_from(TIMESTAMP_FIELDS), misspelled_timestamps())
def test_a_timestamp_spelled_otherwise_is_refused_at_its_field(pointer: str, sent: str) -> None:
    document = document_with(pointer, sent)

    assert problems_of(create(document)) == {pointer: "value_error"}


@BOUNDED
@given(st.sampled_from(TIMESTAMP_FIELDS), timestamps)
def test_a_timestamp_spelled_exactly_is_accepted(pointer: str, sent: str) -> None:
    stored = applied(create(document_with(pointer, sent))).record.referral.to_document()

    assert _at(stored, pointer) == sent[:-1] + "0Z"  # written with seven digits


# --- patch paths -----------------------------------------------------------------------


@BOUNDED
@given(
    texts,
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="01"),
    texts,
)
def test_a_pointer_escape_other_than_tilde_0_or_1_is_refused(
    before: str, escaped: str, after: str
) -> None:
    path = f"/details/{before.replace('~', '~0')}~{escaped}{after.replace('~', '~0')}"
    patch = [{"op": "add", "path": path, "value": "x"}]

    decision = decide(created(), command(CommandType.PATCH, patch), NOW)

    assert problems_of(decision) == {"/0/path": "invalidValue"}


def test_the_two_pointer_escapes_name_tilde_and_slash() -> None:
    patch = [{"op": "add", "path": "/odd~1key~0name", "value": "x"}]

    document = applied(decide(created(), command(CommandType.PATCH, patch), NOW)).record

    assert document.referral.to_document()["odd/key~name"] == "x"


@pytest.mark.parametrize("digits", [2, 20, 4300, 4301, 30_000])
def test_an_array_index_too_long_to_name_an_item_is_refused_without_converting_it(
    digits: int,
) -> None:
    stored = created({"team": [{"firstName": "Alex"}]})
    patch = [{"op": "replace", "path": f"/team/{'1' * digits}/firstName", "value": "x"}]

    decision = decide(stored, command(CommandType.PATCH, patch), NOW)

    assert problems_of(decision) == {"/0/path": "invalidValue"}
