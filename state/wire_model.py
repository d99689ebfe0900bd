"""The base of every model of the referral schema: how keys are spelled on the wire.

Keys are read in camelCase or PascalCase and written in camelCase; a field whose wire name
is not the camelCase of its Python name lists its spellings. Unknown keys are kept.
"""

from typing import Any

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


def canonical(catalogue: dict[str, str], value: str, what: str) -> str:
    found = catalogue.get(value.strip().casefold())
    if found is None:
        raise ValueError(f"not a known {what}")
    return found
