"""Every field the referral schema names, where it sits, found from the pydantic models.

A place is the path to the object holding the field (keys, and ``0`` for a list's first
item) and the field's camelCase wire name; the tests build documents from these places.
"""

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel

from state import Referral


@dataclass(frozen=True)
class Place:
    parent: tuple[str | int, ...]
    name: str
    spellings: frozenset[str]

    @property
    def path(self) -> tuple[str | int, ...]:
        return (*self.parent, self.name)


def places(
    model: type[BaseModel] = Referral, parent: tuple[str | int, ...] = ()
) -> Iterator[Place]:
    for field in model.model_fields.values():
        assert field.serialization_alias is not None
        choices = field.validation_alias
        spellings = set(choices.choices) if isinstance(choices, AliasChoices) else set()
        name = field.serialization_alias
        yield Place(parent, name, frozenset(str(s) for s in spellings | {name}))
        for nested, in_list in _nested(field.annotation):
            yield from places(nested, (*parent, name, *((0,) if in_list else ())))


def _nested(annotation: Any, in_list: bool = False) -> Iterator[tuple[type[BaseModel], bool]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, in_list
        return
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        yield from _nested(arguments[0], in_list)
        return
    for argument in arguments:
        yield from _nested(argument, in_list or origin is list)


def nest(path: tuple[str | int, ...], leaf: dict[str, Any]) -> Any:
    """A document holding ``leaf`` as the object at ``path``."""
    node: Any = leaf
    for step in reversed(path):
        node = [node] if isinstance(step, int) else {step: node}
    return node


PLACES = sorted(set(places()), key=lambda place: repr(place.path))
