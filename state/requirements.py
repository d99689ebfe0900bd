"""What a referral's customer needs: industries, products, services and solutions.

Industry, product and service tags name a value of their catalogue, matched
case-insensitively and written back in the catalogue's spelling; a Category solution names
a value of the solutions catalogue.
"""

from typing import ClassVar

from pydantic import ValidationInfo, field_validator

from state.catalogues import (
    INDUSTRIES,
    PRODUCTS,
    SERVICES,
    SOLUTIONS,
    canonical,
    canonical_lookup,
)
from state.enums import SolutionType
from state.wire_keys import WireModel, alias


class Tag(WireModel):
    id: str | None = alias("id", "ID", "Id")


class _CatalogueTag(Tag):
    """A tag whose id must be a value of one catalogue (matched case-insensitively)."""

    catalogue: ClassVar[dict[str, str]]
    what: ClassVar[str]

    @field_validator("id")
    @classmethod
    def _known_id(cls, value: str | None) -> str | None:
        return None if value is None else canonical(cls.catalogue, value, cls.what)


class IndustryTag(_CatalogueTag):
    catalogue = canonical_lookup(INDUSTRIES)
    what = "industry"


class ProductTag(_CatalogueTag):
    catalogue = canonical_lookup(PRODUCTS)
    what = "product"


class ServiceTag(_CatalogueTag):
    catalogue = canonical_lookup(SERVICES)
    what = "service"


_SOLUTIONS = canonical_lookup(SOLUTIONS)


class SolutionTag(WireModel):
    """A solution; a Category solution names a value of the solutions catalogue.

    ``solutionType`` is declared first so the name and id checks can see it.
    """

    solution_type: SolutionType | None = None
    name: str | None = None
    id: str | None = alias("id", "ID", "Id")

    @field_validator("name")
    @classmethod
    def _category_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or info.data.get("solution_type") is not SolutionType.CATEGORY:
            return value
        return canonical(_SOLUTIONS, value, "solution category")

    @field_validator("id")
    @classmethod
    def _category_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        category = info.data.get("solution_type") is SolutionType.CATEGORY
        if value is None or not category or info.data.get("name") is not None:
            return value
        return canonical(_SOLUTIONS, value, "solution category")


class ReferralRequirements(WireModel):
    industries: list[IndustryTag] | None = None
    products: list[ProductTag] | None = None
    services: list[ServiceTag] | None = None
    solutions: list[SolutionTag] | None = None
