"""A patch validated where it lands: the scalar fields its JSON Pointers name in the schema.

A patch of ``/details/notes`` changes one string; validating all of ``details`` again (its
requirements, their catalogues) costs far more than the change. When every operation sets a
JSON scalar on a field whose type holds no model and no array, reached through fields that
each hold one model, each value is validated with its field's own type and written into
copies of the models and objects along its path; the rest is shared with the stored
referral, which was valid when stored. Anything else (an array index, an unknown field, a
spelling other than the wire name, a model whose validators read several fields, a value
its field refuses) is left to the caller, which validates the whole top-level field, so a
refusal reads the same whichever way the value came.
"""

import typing
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from state.patch import existing_key

_Model = TypeVar("_Model", bound=BaseModel)
#: ``Optional[X]`` and ``X | None`` (whose origin is the type of ``int | None``).
_UNIONS = (typing.Union, type(int | None))


class _Field(NamedTuple):
    name: str
    #: The model the field holds, when it holds exactly one (or nothing).
    nested: type[BaseModel] | None
    #: The field's own type, when it holds no model and no array (None: not a scalar field).
    scalar: TypeAdapter[Any] | None


def patched_fields(
    referral: BaseModel, document: dict[str, Any], operations: list[tuple[str, list[str], Any]]
) -> dict[str, Any] | None:
    """The top-level fields of ``referral`` the patch sets, by Python name, with the patched
    scalars validated; None if the patch is not of that kind.

    ``document`` is the patched document (from ``state.patch.apply``, so the objects along
    the paths are its own copies); each patched value in it is replaced by its field's
    serialization, as the referral's document would spell it.
    """
    leaves: dict[tuple[str, ...], _Leaf] = {}
    for _, segments, value in operations:
        if isinstance(value, (dict, list)):
            return None
        found = _leaf(referral, document, segments)
        if found is None:
            return None
        leaves[found[0]] = found[1]
    validated: list[tuple[tuple[str, ...], _Leaf, Any]] = []
    for names, leaf in leaves.items():
        try:
            validated.append((names, leaf, leaf.scalar.validate_python(leaf.node[leaf.key])))
        except ValidationError:
            return None  # the caller's validation reports it, as for any other patch
    updates: dict[str, Any] = {}
    for (top, *below), leaf, value in validated:
        leaf.node[leaf.key] = leaf.scalar.dump_python(value)
        if leaf.name not in leaf.owner.model_fields_set:
            _in_field_order(leaf.node, type(leaf.owner))  # a new key goes where models put it
        held = updates[top] if top in updates else getattr(referral, top)
        updates[top] = _with(held, tuple(below), value) if below else value
    return updates


class _Leaf(NamedTuple):
    """Where a patched scalar lands: the model and the object that hold it."""

    owner: BaseModel
    node: dict[str, Any]
    key: str
    scalar: TypeAdapter[Any]
    name: str


def _leaf(
    referral: BaseModel, document: dict[str, Any], segments: list[str]
) -> tuple[tuple[str, ...], _Leaf] | None:
    """The field names along the path and where it lands, if it names a scalar field
    through fields that each hold a model."""
    owner, node, names = referral, document, []
    for depth, segment in enumerate(segments):
        key = existing_key(node, segment)
        field = _fields(type(owner)).get(key)
        if field is None:
            return None
        names.append(field.name)
        if depth == len(segments) - 1:
            if field.scalar is None:
                return None
            return tuple(names), _Leaf(owner, node, key, field.scalar, field.name)
        child, child_node = getattr(owner, field.name), node.get(key)
        if field.nested is None or not isinstance(child, field.nested):
            return None
        if type(child_node) is not dict:
            return None
        owner, node = child, child_node
    return None


def _with(model: _Model, names: tuple[str, ...], value: Any) -> _Model:
    name = names[0]
    if len(names) > 1:
        value = _with(getattr(model, name), names[1:], value)
    return model.model_copy(update={name: value})


def _in_field_order(node: dict[str, Any], model: type[BaseModel]) -> None:
    fields = _fields(model)
    ordered = [key for key in fields if key in node]
    ordered += [key for key in node if key not in fields]
    items = {key: node[key] for key in ordered}
    node.clear()
    node.update(items)


@cache
def _fields(model: type[BaseModel]) -> dict[str, _Field]:
    """A model's fields by wire name, in the order its documents list them."""
    decorators = model.__pydantic_decorators__
    # Validators that see the other fields make a field's value depend on its siblings.
    joint = bool(decorators.field_validators or decorators.model_validators)
    fields: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        wire = info.serialization_alias or name
        nested = None if info.metadata else _one_model(info.annotation)
        scalar = None
        if not joint and _is_scalar(info.annotation):
            annotated: Any = (
                Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            )
            scalar = TypeAdapter(annotated, config=_scalar_config(model))
        fields[wire] = _Field(name, nested, scalar)
    return fields


def _scalar_config(model: type[BaseModel]) -> ConfigDict:
    # What of a model's configuration a scalar's validation reads.
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


def _is_scalar(annotation: object) -> bool:
    """Holds no model, no array and no object, through Optional, unions and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _is_scalar(typing.get_args(annotation)[0])
    if origin in _UNIONS:
        return all(_is_scalar(member) for member in typing.get_args(annotation))
    if origin is not None or not isinstance(annotation, type):
        return False
    return not issubclass(annotation, BaseModel | Mapping | list | tuple | set)
