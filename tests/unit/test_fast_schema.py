"""The fast path's Structs mirror the referral models field for field.

The same Python names in the same order, the same wire names, and enumerations and
catalogues of the same values: a field added to a model, renamed or given another
spelling fails here until the Struct follows (or the field is named as left to the models).
"""

import typing

import msgspec
import pytest
from pydantic import BaseModel

from service.fast import schema
from state import ReferralQualification, ReferralStatus, ReferralSubstatus, ReferralType, TargetType
from state.catalogues import COUNTRIES, CURRENCIES, CUSTOMER_SIZES, INDUSTRIES, PRODUCTS, SERVICES


@pytest.mark.parametrize(("struct", "model"), schema.MIRRORS, ids=lambda t: t.__name__)
def test_each_struct_has_the_models_fields_in_order_with_its_wire_names(
    struct: type[msgspec.Struct], model: type[BaseModel]
) -> None:
    left = schema.LEFT_TO_THE_MODELS.get(model, frozenset())
    expected = [name for name in model.model_fields if name not in left]
    assert list(struct.__struct_fields__) == expected
    wire = schema.wire_names(model)
    assert list(struct.__struct_encode_fields__) == [wire[name] for name in expected]


def test_every_model_of_the_referral_has_a_struct() -> None:
    mirrored = {model for _, model in schema.MIRRORS}
    left = {name for names in schema.LEFT_TO_THE_MODELS.values() for name in names}
    found: set[type[BaseModel]] = set()
    stack: list[type[BaseModel]] = [schema.models.Referral]
    while stack:
        model = stack.pop()
        found.add(model)
        for name, info in model.model_fields.items():
            if name in left:
                continue
            for inner in _models_in(info.annotation):
                if inner not in found:
                    stack.append(inner)
    assert found <= mirrored


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for argument in typing.get_args(annotation) for m in _models_in(argument)]


def _literal_values(struct: type[msgspec.Struct], name: str) -> set[str]:
    hint = typing.get_type_hints(struct, include_extras=True)[name]
    for member in typing.get_args(hint):
        if typing.get_origin(member) is typing.Literal:
            return set(typing.get_args(member))
    raise AssertionError(f"{struct.__name__}.{name} is not a closed set")


@pytest.mark.parametrize(
    ("struct", "name", "values"),
    [
        (schema.Referral, "status", {m.value for m in ReferralStatus}),
        (schema.Referral, "substatus", {m.value for m in ReferralSubstatus}),
        (schema.Referral, "type", {m.value for m in ReferralType}),
        (schema.Referral, "qualification", {m.value for m in ReferralQualification}),
        (schema.Target, "type", {m.value for m in TargetType}),
        (schema.Address, "country", set(COUNTRIES)),
        (schema.ReferralDetails, "currency", set(CURRENCIES)),
        (schema.CustomerProfile, "size", {"", *CUSTOMER_SIZES}),
        (schema.IndustryTag, "id", set(INDUSTRIES)),
        (schema.ProductTag, "id", set(PRODUCTS)),
        (schema.ServiceTag, "id", set(SERVICES)),
    ],
)
def test_closed_sets_take_exactly_the_canonical_spellings(
    struct: type[msgspec.Struct], name: str, values: set[str]
) -> None:
    assert _literal_values(struct, name) == values
