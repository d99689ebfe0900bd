"""Keys that differ only by case from a field the schema names.

A document may spell a known field in camelCase or PascalCase (``status``, ``Status``);
the model reads one spelling and would keep any other key as an unknown field. A snapshot
carrying ``"status": "New"`` beside ``"Status": "Closed"``, or a forged ``"ETAG"``, would
fool a subscriber that reads Partner Center JSON case-insensitively, so such keys are
refused. The referral is checked as the service would write it (the fields the model read
in their camelCase names, the service's own fields stamped), at the top level and inside
every object the schema names: any key left there that equals a field's name but for case
is a second spelling or one the model does not read. Keys that match no field are kept.
"""

import typing
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel

from state.errors import FieldProblem
from state.json_patch import escape_key, is_object

#: For one model: the (case-folded) wire name of each field -> (wire name, the merged
#: fields of the models nested in it, or None).
_Fields = dict[str, tuple[str, "_Fields | None"]]
#: Where a node is: None for the document, else (the parent's place, the key or index).
_Place = tuple[Any, str] | None


def case_variants(document: Mapping[str, Any], model: type[BaseModel]) -> list[FieldProblem]:
    """Every key of ``document`` that differs only by case from a field of its object.

    The check as defined above, over a whole document; the decision asks the cheaper
    ``model_case_variants``, which the tests hold to this one."""
    problems = _variants(document, _merged((model,)))
    return sorted(problems, key=lambda problem: problem.target)


def model_case_variants(model: BaseModel) -> list[FieldProblem]:
    """``case_variants`` of the model's document, read from the model itself.

    A key the model read is written under its wire name, so only the keys it kept unread
    (its extras) can be second spellings, and only the objects it holds as models hold
    any: the walk skips the rest of the document.
    """
    problems: list[FieldProblem] = []
    _model_variants(model, _merged((type(model),)), None, problems)
    return sorted(problems, key=lambda problem: problem.target)


def field_case_variants(
    value: object, model: type[BaseModel], path: tuple[str, ...]
) -> list[FieldProblem]:
    """``model_case_variants`` of a value validated for a field of ``model``, the one at
    the document's ``path`` (wire keys, ending with the field's)."""
    nested = _fields(model)[path[-1]][1]
    if nested is None:
        return []
    place: _Place = None
    for key in path:
        place = (place, key)
    problems: list[FieldProblem] = []
    _held_variants(value, nested, place, problems)
    return problems


def _model_variants(
    node: BaseModel, fields: _Fields, place: _Place, problems: list[FieldProblem]
) -> None:
    # Recursion is bounded by how deep the schema nests its models.
    if node.__pydantic_extra__:
        problems += _variants(node.__pydantic_extra__, fields, place)
    for name, wire in _holding_models(type(node)):
        value = node.__dict__[name]
        if value is not None:
            _held_variants(value, fields[wire][1] or {}, (place, wire), problems)


def _held_variants(
    value: object, fields: _Fields, place: _Place, problems: list[FieldProblem]
) -> None:
    """Of what a field holding models holds: a model, or an array of them."""
    if type(value) is list:
        for index, item in enumerate(value):
            if isinstance(item, BaseModel):
                _model_variants(item, fields, (place, str(index)), problems)
    elif isinstance(value, BaseModel):
        _model_variants(value, fields, place, problems)


def _variants(root: object, root_fields: _Fields, root_place: _Place = None) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    # A node's place is kept as (parent's place, key) and spelled out only for a problem.
    stack: list[tuple[object, _Fields, _Place]] = [(root, root_fields, root_place)]
    while stack:
        node, fields, place = stack.pop()
        if isinstance(node, list):
            stack.extend((item, fields, (place, str(i))) for i, item in enumerate(node))
            continue
        if not is_object(node):
            continue
        for key, value in node.items():
            known = fields.get(key) or fields.get(key.casefold())  # the exact name is usual
            if known is None:
                continue
            name, nested = known
            if key != name:
                message = f"differs only by case from {name}; send the field once, as {name}"
                problems.append(FieldProblem(_pointer((place, key)), "caseVariant", message))
            elif nested is not None and isinstance(value, (dict, list)):
                stack.append((value, nested, (place, key)))
    return problems


def _pointer(place: _Place) -> str:
    keys: list[str] = []
    while place is not None:
        place, key = place
        keys.append(escape_key(key))
    return "".join(f"/{key}" for key in reversed(keys))


@cache
def _holding_models(model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(Python name, wire name) of each field of ``model`` that may hold models."""
    return tuple(
        (name, field.serialization_alias or name)
        for name, field in model.model_fields.items()
        if _models_in(field.annotation)
    )


@cache
def _merged(models: tuple[type[BaseModel], ...]) -> _Fields:
    merged: _Fields = {}
    for model in models:
        merged |= _fields(model)
    return merged


@cache
def _fields(model: type[BaseModel]) -> _Fields:
    fields: _Fields = {}
    for name, field in model.model_fields.items():
        wire = field.serialization_alias or name
        models = _models_in(field.annotation)
        # Under its exact wire name too, so most keys are found without case-folding them.
        fields[wire] = fields[wire.casefold()] = (wire, _merged(models) if models else None)
    return fields


def _models_in(annotation: object) -> tuple[type[BaseModel], ...]:
    """The models an annotation names, through Optional, unions, lists and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation,)
    if typing.get_origin(annotation) is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    found: tuple[type[BaseModel], ...] = ()
    for argument in typing.get_args(annotation):  # a union's members, a list's items
        found += tuple(m for m in _models_in(argument) if m not in found)
    return found
