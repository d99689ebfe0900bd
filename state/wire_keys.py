"""The base of every model of the referral schema: how keys are spelled on the wire.

Keys are read in camelCase or PascalCase and written in camelCase; a field whose wire name
is not the camelCase of its Python name lists its spellings. Unknown keys are kept.
"""

from collections.abc import Mapping
from typing import Any, Self

from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel, to_pascal


def _camel_or_pascal(field_name: str) -> AliasChoices:
    return AliasChoices(to_camel(field_name), to_pascal(field_name))


def alias(camel: str, *others: str) -> Any:
    """A field whose wire name is not the plain camelCase of its Python name."""
    return Field(
        default=None, validation_alias=AliasChoices(camel, *others), serialization_alias=camel
    )


class WireModel(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        alias_generator=AliasGenerator(
            validation_alias=_camel_or_pascal, serialization_alias=to_camel
        ),
        populate_by_name=True,
        validate_default=False,
        allow_inf_nan=False,
    )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """pydantic's copy, the shallow one without its generic steps (every change copies
        the models along its path). What a model derives from its fields (kept in pydantic's
        slot for private state, since no model declares private attributes) starts over."""
        if deep:
            copied = super().model_copy(update=update, deep=deep)
            object.__setattr__(copied, "__pydantic_private__", None)  # derived anew
            return copied
        fields, extra = dict(self.__dict__), self.__pydantic_extra__
        extra = None if extra is None else dict(extra)
        fields_set, known = set(self.__pydantic_fields_set__), type(self).__pydantic_fields__
        update = update or {}
        if known.keys() >= update.keys():  # the usual case, at C speed
            fields.update(update)
        else:
            for name, value in update.items():
                if name in known:
                    fields[name] = value
                else:
                    extra = {} if extra is None else extra
                    extra[name] = value
        fields_set.update(update)
        copied = object.__new__(type(self))
        object.__setattr__(copied, "__dict__", fields)
        object.__setattr__(copied, "__pydantic_extra__", extra)
        object.__setattr__(copied, "__pydantic_fields_set__", fields_set)
        object.__setattr__(copied, "__pydantic_private__", None)  # what it derives, anew
        return copied
