"""A patch validated where it lands: the deepest field of the schema that holds its change.

A patch of ``/details/notes`` changes one string; validating all of ``details`` again (its
requirements, their catalogues) costs far more than the change. Each operation's path is
followed through fields that each hold one model, as far as it goes: the field it ends
at, or the field whose value it reaches into (an array, a field of two forms, an object
the referral did not have yet). That field's whole new value is validated with the
field's own type and written into copies of the models and objects along the path; the
rest is shared with the stored referral, which was valid when stored. A patch that fits
no such field (an unknown field, a spelling other than the wire name, a model whose
validators read several fields, one operation's field inside another's), or whose value
is refused or spells a field twice, is left to the caller, which validates the whole
top-level field, so the refusal reads the same whichever way the value came.
"""

import typing
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from state.json_patch import existing_key
from state.variants import field_case_variants

_Model = TypeVar("_Model", bound=BaseModel)
#: ``Optional[X]`` and ``X | None`` (whose origin is the type of ``int | None``).
_UNIONS = (typing.Union, type(int | None))


class _Field(NamedTuple):
    name: str
    #: The model the field holds, when it holds exactly one (or nothing).
    nested: type[BaseModel] | None
    #: The field's own type.
    own: TypeAdapter[Any]


class _Leaf(NamedTuple):
    """Where an operation's change is held: the field, and the model and object holding it."""

    owner: BaseModel
    node: dict[str, Any]
    key: str
    field: _Field
    #: The wire keys from the document down to ``key``.
    path: tuple[str, ...]


def patched_fields(
    referral: BaseModel, document: dict[str, Any], operations: list[tuple[str, list[str], Any]]
) -> dict[str, Any] | None:
    """The top-level fields of ``referral`` the patch sets, by Python name, each patched
    field's value validated; None if the patch is not of that kind.

    ``document`` is the patched document (from ``state.json_patch.apply``, so the objects along
    the paths are its own copies); each patched field's value in it is replaced by its
    serialization, as the referral's document would spell it.
    """
    leaves: dict[tuple[str, ...], _Leaf] = {}
    for _, segments, _ in operations:
        found = _leaf(referral, document, segments)
        if found is None:
            return None
        leaves[found[0]] = found[1]
    if _nested_in_another(leaves):
        return None
    validated: list[tuple[tuple[str, ...], _Leaf, Any]] = []
    for names, leaf in leaves.items():
        try:
            value = leaf.field.own.validator.validate_python(leaf.node[leaf.key])
        except ValidationError:
            return None  # the caller's validation reports it, as for any other patch
        if field_case_variants(value, type(leaf.owner), leaf.path):
            return None  # and the second spelling, the same way
        validated.append((names, leaf, value))
    updates: dict[str, Any] = {}
    for (top, *below), leaf, value in validated:
        dumped = leaf.field.own.serializer.to_python(value, by_alias=True, exclude_unset=True)
        leaf.node[leaf.key] = dumped
        if leaf.field.name not in leaf.owner.model_fields_set:
            _in_field_order(leaf.node, type(leaf.owner))  # a new key goes where models put it
        held = updates[top] if top in updates else getattr(referral, top)
        updates[top] = _with(held, tuple(below), value) if below else value
    return updates


def _leaf(
    referral: BaseModel, document: dict[str, Any], segments: list[str]
) -> tuple[tuple[str, ...], _Leaf] | None:
    """The field names down to the field holding the operation's change, and that field."""
    owner, node = referral, document
    names: list[str] = []
    keys: list[str] = []
    for depth, segment in enumerate(segments):
        fields = _fields(type(owner))
        key = existing_key(node, segment)
        field = fields.get(key) if fields is not None else None
        if field is None:
            return None
        names.append(field.name)
        keys.append(key)
        child, child_node = getattr(owner, field.name), node.get(key)
        if (
            depth == len(segments) - 1
            or field.nested is None
            or not isinstance(child, field.nested)
            or type(child_node) is not dict
        ):
            return tuple(names), _Leaf(owner, node, key, field, tuple(keys))
        owner, node = child, child_node
    return None


def _nested_in_another(leaves: Mapping[tuple[str, ...], _Leaf]) -> bool:
    return any(
        len(inner) > len(outer) and inner[: len(outer)] == outer
        for inner in leaves
        for outer in leaves
    )


def _with(model: _Model, names: tuple[str, ...], value: Any) -> _Model:
    name = names[0]
    if len(names) > 1:
        value = _with(getattr(model, name), names[1:], value)
    return model.model_copy(update={name: value})


def _in_field_order(node: dict[str, Any], model: type[BaseModel]) -> None:
    fields = _fields(model) or {}
    ordered = [key for key in fields if key in node]
    ordered += [key for key in node if key not in fields]
    items = {key: node[key] for key in ordered}
    node.clear()
    node.update(items)


@cache
def _fields(model: type[BaseModel]) -> dict[str, _Field] | None:
    """A model's fields by wire name, in the order its documents list them; None if its
    validators read several fields (a field's value then depends on its siblings)."""
    decorators = model.__pydantic_decorators__
    if decorators.field_validators or decorators.model_validators:
        return None
    fields: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        wire = info.serialization_alias or name
        nested = None if info.metadata else _one_model(info.annotation)
        own: Any = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        fields[wire] = _Field(name, nested, TypeAdapter(own, config=_config(model)))
    return fields


def _config(model: type[BaseModel]) -> ConfigDict:
    # What of a model's configuration its fields' own validation reads (models inside a
    # field bring their own).
    config = model.model_config
    return ConfigDict(
        allow_inf_nan=config.get("allow_inf_nan", True), strict=config.get("strict", False)
    )


def _one_model(annotation: object) -> type[BaseModel] | None:
    """The model of an ``Optional[Model]`` annotation."""
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in _UNIONS and len(members) == 1:
        annotation = members[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
