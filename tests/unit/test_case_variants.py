"""A key that differs only by case from a schema field is refused, with its pointer.

Generated over every field the schema names, at the top level and in every nested object
it names, with every kind of case variant, through create, replace and patch.
"""

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.jsonio import loads
from state import Applied, CommandType, Referral, RejectionCode, decide
from state.errors import Refused
from state.json_patch import escape_key
from state.validation import validate_referral
from state.variants import case_variants, model_case_variants
from tests.support.builders import NOW, REFERRAL_ID, applied, command, created, rejected
from tests.support.schema_fields import PLACES, Place, nest


def _case_variants(name: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
    return flips.map(
        lambda flip: "".join(c.swapcase() if f else c for c, f in zip(name, flip, strict=True))
    ).filter(lambda variant: variant != name)


variants = st.sampled_from(PLACES).flatmap(
    lambda place: st.tuples(st.just(place), _case_variants(place.name))
)


def _pointer(place: Place, key: str) -> str:
    return "".join(f"/{escape_key(str(step))}" for step in (*place.parent, key))


def _beside(place: Place, variant: str) -> dict[str, Any]:
    """A document with the field and its variant in the same object."""
    document = nest(place.parent, {place.name: None, variant: REFERRAL_ID})
    assert isinstance(document, dict)
    return document


def _assert_refused_at(decision: Any, pointer: str) -> None:
    refusal = rejected(decision)
    assert refusal.code is RejectionCode.INVALID_REQUEST
    assert [(p.target, p.code) for p in refusal.details] == [(pointer, "caseVariant")]


FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@FUZZ
@given(variants)
def test_a_create_with_a_field_and_its_case_variant_is_refused_at_the_variant(
    found: tuple[Place, str],
) -> None:
    place, variant = found

    decision = decide(None, command(CommandType.CREATE, _beside(place, variant)), NOW)

    _assert_refused_at(decision, _pointer(place, variant))


@FUZZ
@given(variants)
def test_a_replace_with_a_field_and_its_case_variant_is_refused_at_the_variant(
    found: tuple[Place, str],
) -> None:
    place, variant = found
    stored = created()
    replace = command(CommandType.REPLACE, _beside(place, variant), if_match=stored.referral.e_tag)

    _assert_refused_at(decide(stored, replace, NOW), _pointer(place, variant))


@FUZZ
@given(variants.filter(lambda found: found[0].parent != ()))
def test_a_patch_adding_an_object_with_a_field_and_its_case_variant_is_refused(
    found: tuple[Place, str],
) -> None:
    place, variant = found
    top, *below = place.parent
    value = nest(tuple(below), {place.name: None, variant: REFERRAL_ID})
    patch = [{"op": "add", "path": f"/{top}", "value": value}]

    _assert_refused_at(
        decide(created(), command(CommandType.PATCH, patch), NOW), _pointer(place, variant)
    )


@FUZZ
@given(variants.filter(lambda found: found[1] not in found[0].spellings))
def test_a_variant_the_schema_does_not_read_is_refused_even_alone(
    found: tuple[Place, str],
) -> None:
    place, variant = found

    decision = decide(
        None, command(CommandType.CREATE, nest(place.parent, {variant: REFERRAL_ID})), NOW
    )

    _assert_refused_at(decision, _pointer(place, variant))


@FUZZ
@given(variants.filter(lambda found: found[0].parent == ()))
def test_a_patch_naming_a_top_level_field_in_another_case_never_leaves_a_variant(
    found: tuple[Place, str],
) -> None:
    place, variant = found
    patch = [{"op": "add", "path": f"/{escape_key(variant)}", "value": None}]

    decision = decide(created(), command(CommandType.PATCH, patch), NOW)

    if isinstance(decision, Applied):
        for event in decision.events:
            keys = event.referral.to_document()
            assert [k for k in keys if k.casefold() == place.name.casefold()] in ([], [place.name])


def test_the_reported_snapshot_case_is_refused_status_etag_version_and_id() -> None:
    forged = {"status": "New", "Status": "Closed", "eTag": '"a"', "ETag": '"forged"',
              "version": 1, "Version": 999, "id": REFERRAL_ID, "Id": "other"}  # fmt: skip

    refusal = rejected(decide(None, command(CommandType.CREATE, forged), NOW))

    assert {p.target for p in refusal.details} == {"/Status", "/ETag", "/Version", "/Id"}


def test_a_patch_add_of_status_in_another_case_changes_the_status_itself() -> None:
    patch = [{"op": "add", "path": "/Status", "value": "Closed"},
             {"op": "add", "path": "/SubStatus", "value": "Lost"}]  # fmt: skip

    (event,) = applied(decide(created(), command(CommandType.PATCH, patch), NOW)).events

    document = event.referral.to_document()
    assert (document["status"], document["substatus"]) == ("Closed", "Lost")
    assert "Status" not in document
    assert "SubStatus" not in document


def test_unknown_fields_that_match_no_schema_field_are_kept() -> None:
    document = {"name": "x", "statusOfDeal": "open", "Etags": ["a"], "customerProfile": {"nick": 1}}

    created_referral = applied(decide(None, command(CommandType.CREATE, document), NOW))

    kept = created_referral.record.referral.to_document()
    assert (kept["statusOfDeal"], kept["Etags"], kept["customerProfile"]) == (
        "open",
        ["a"],
        {"nick": 1},
    )
    assert Referral.model_validate(kept).model_extra == {"statusOfDeal": "open", "Etags": ["a"]}


_CORPUS = Path(__file__).parent.parent / "corpus" / "partner_center"
_DOCUMENTS = [loads(p.read_bytes()) for p in sorted(_CORPUS.glob("*.json"))]
_BASES = [d for d in _DOCUMENTS if isinstance(d, dict)]


def _grafted(node: Any, path: tuple[str | int, ...], leaf: dict[str, Any]) -> Any:
    """``node`` with the keys of ``leaf`` added to the object at ``path`` (made if absent)."""
    if not path:
        return {**node, **leaf} if isinstance(node, dict) else dict(leaf)
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        items = node if isinstance(node, list) and node else [{}]
        return [_grafted(items[0], rest, leaf), *items[1:]]
    node = node if isinstance(node, dict) else {}
    return {**node, step: _grafted(node.get(step), rest, leaf)}


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(range(len(_BASES))), st.lists(variants, max_size=3), st.booleans())
def test_the_walk_over_the_models_finds_what_the_walk_over_the_document_finds(
    base: int, found: list[tuple[Place, str]], beside: bool
) -> None:
    document: Any = _BASES[base]
    for place, variant in found:
        leaf = {place.name: None, variant: "x"} if beside else {variant: "x"}
        document = _grafted(document, place.parent, leaf)
    try:
        referral = validate_referral(document)
    except Refused:
        return

    assert model_case_variants(referral) == case_variants(referral.to_document(), Referral)
