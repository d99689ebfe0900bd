"""The referral schema as msgspec Structs: the canonical form of a document, read and
written in C.

Each Struct mirrors a pydantic model of ``state.referral_schema`` field for field: the same
Python names in the same order, the same wire names (taken from the models), and types that
accept a subset of what the model accepts: only the canonical spelling (camelCase keys,
exact enum and catalogue values, upper-case country and currency codes, ``Z`` timestamps
with four-digit years). Whatever falls outside that subset fails to decode here and is
judged by the models (``tests/unit/test_fast_schema.py`` holds the two together). Absent
fields are ``UNSET`` and never written, an explicit ``null`` is ``None`` and written, as the
models' ``exclude_unset`` dump does. Unknown keys are refused, so a document read here
holds no second spelling of a field. Solutions are left to the models (their checks read
two fields at once).

What a type cannot say is checked after decoding (``service.fast.validation``): a
timestamp is a real date, a deal value is plain notation within .NET's decimal.
"""

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias

import msgspec
from msgspec import UNSET, Meta, UnsetType
from pydantic import BaseModel

from state import referral_schema as models
from state import requirements
from state.catalogues import COUNTRIES, CURRENCIES, CUSTOMER_SIZES, INDUSTRIES, PRODUCTS, SERVICES
from state.enums import (
    ReferralQualification,
    ReferralStatus,
    ReferralSubstatus,
    ReferralType,
    TargetType,
)
from state.fields import EMAIL

#: A timestamp as Partner Center writes it: ``2026-01-31T09:30:00Z``, 0 to 7 digits of
#: fraction. ``\Z``: ``$`` would let a trailing line feed through.
TIMESTAMP_PATTERN: Final = r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z\Z"


def _one_of(values: Any) -> Any:
    """A ``Literal`` of the given values, built at run time (the type checker sees ``str``)."""
    return Literal[tuple(values)]


if TYPE_CHECKING:
    Country: TypeAlias = str
    Currency: TypeAlias = str
    Size: TypeAlias = str
    Industry: TypeAlias = str
    Product: TypeAlias = str
    Service: TypeAlias = str
    Status: TypeAlias = str
    Substatus: TypeAlias = str
    Kind: TypeAlias = str
    Qualification: TypeAlias = str
    TargetKind: TypeAlias = str
else:
    Country = _one_of(sorted(COUNTRIES))
    Currency = _one_of(sorted(CURRENCIES))
    Size = _one_of(("", *CUSTOMER_SIZES))
    Industry, Product, Service = _one_of(INDUSTRIES), _one_of(PRODUCTS), _one_of(SERVICES)
    Status = _one_of(member.value for member in ReferralStatus)
    Substatus = _one_of(member.value for member in ReferralSubstatus)
    Kind = _one_of(member.value for member in ReferralType)
    Qualification = _one_of(member.value for member in ReferralQualification)
    TargetKind = _one_of(member.value for member in TargetType)

Timestamp = Annotated[str, Meta(pattern=TIMESTAMP_PATTERN)]
Email = Annotated[str, Meta(pattern=EMAIL.pattern)]
#: A deal value: an integer or an exact decimal (``service.fast.validation`` checks more).
Amount = int | Decimal
Version = Annotated[int, Meta(ge=0)]


def wire_names(model: type[BaseModel]) -> dict[str, str]:
    """The wire name of each field of a model, by Python name."""
    return {name: info.serialization_alias or name for name, info in model.model_fields.items()}


def _options(model: type[BaseModel]) -> dict[str, Any]:
    return {"forbid_unknown_fields": True, "rename": wire_names(model), "gc": False}


class ContactPreference(msgspec.Struct, **_options(models.ContactPreference)):
    locale: str | UnsetType | None = UNSET
    disable_notifications: bool | UnsetType | None = UNSET


class Member(msgspec.Struct, **_options(models.Member)):
    first_name: str | UnsetType | None = UNSET
    last_name: str | UnsetType | None = UNSET
    phone_number: str | UnsetType | None = UNSET
    email: Email | UnsetType | None = UNSET
    contact_preference: ContactPreference | UnsetType | None = UNSET


class Address(msgspec.Struct, **_options(models.Address)):
    address_line1: str | UnsetType | None = UNSET
    address_line2: str | UnsetType | None = UNSET
    city: str | UnsetType | None = UNSET
    state: str | UnsetType | None = UNSET
    postal_code: str | UnsetType | None = UNSET
    country: Country | UnsetType | None = UNSET
    region: str | UnsetType | None = UNSET


class CustomerProfileType(msgspec.Struct, **_options(models.CustomerProfileType)):
    duns: str | UnsetType | None = UNSET
    external: str | UnsetType | None = UNSET


class CustomerProfileId(msgspec.Struct, **_options(models.CustomerProfileId)):
    profile_type: str | UnsetType | None = UNSET
    id: str | UnsetType | None = UNSET


class CustomerProfile(msgspec.Struct, **_options(models.CustomerProfile)):
    name: str | UnsetType | None = UNSET
    address: Address | UnsetType | None = UNSET
    size: Size | UnsetType | None = UNSET
    team: list[Member] | UnsetType | None = UNSET
    ids: CustomerProfileType | list[CustomerProfileId] | UnsetType | None = UNSET


class Consent(msgspec.Struct, **_options(models.Consent)):
    consent_to_to_share_info_with_others: bool | UnsetType | None = UNSET
    consent_to_contact: bool | UnsetType | None = UNSET


class InvitedBy(msgspec.Struct, **_options(models.InvitedBy)):
    organization_id: str | UnsetType | None = UNSET
    organization_name: str | UnsetType | None = UNSET


class InviteContext(msgspec.Struct, **_options(models.InviteContext)):
    notes: str | UnsetType | None = UNSET
    invited_by: InvitedBy | UnsetType | None = UNSET


class IndustryTag(msgspec.Struct, **_options(requirements.IndustryTag)):
    id: Industry | UnsetType | None = UNSET


class ProductTag(msgspec.Struct, **_options(requirements.ProductTag)):
    id: Product | UnsetType | None = UNSET


class ServiceTag(msgspec.Struct, **_options(requirements.ServiceTag)):
    id: Service | UnsetType | None = UNSET


class ReferralRequirements(msgspec.Struct, **_options(requirements.ReferralRequirements)):
    industries: list[IndustryTag] | UnsetType | None = UNSET
    products: list[ProductTag] | UnsetType | None = UNSET
    services: list[ServiceTag] | UnsetType | None = UNSET


class ReferralDetails(msgspec.Struct, **_options(models.ReferralDetails)):
    notes: str | UnsetType | None = UNSET
    deal_value: Amount | UnsetType | None = UNSET
    currency: Currency | UnsetType | None = UNSET
    closing_date_time: Timestamp | UnsetType | None = UNSET
    requirements: ReferralRequirements | UnsetType | None = UNSET


class Target(msgspec.Struct, **_options(models.Target)):
    id: str | UnsetType | None = UNSET
    type: TargetKind | UnsetType | None = UNSET


class Referral(msgspec.Struct, **_options(models.Referral)):
    id: str | UnsetType | None = UNSET
    engagement_id: str | UnsetType | None = UNSET
    name: str | UnsetType | None = UNSET
    external_reference_id: str | UnsetType | None = UNSET
    created_date_time: Timestamp | UnsetType | None = UNSET
    updated_date_time: Timestamp | UnsetType | None = UNSET
    expiration_date_time: Timestamp | UnsetType | None = UNSET
    accepted_date_time: Timestamp | UnsetType | None = UNSET
    closed_date_time: Timestamp | UnsetType | None = UNSET
    status: Status | UnsetType | None = UNSET
    substatus: Substatus | UnsetType | None = UNSET
    status_reason: str | UnsetType | None = UNSET
    type: Kind | UnsetType | None = UNSET
    qualification: Qualification | UnsetType | None = UNSET
    customer_profile: CustomerProfile | UnsetType | None = UNSET
    consent: Consent | UnsetType | None = UNSET
    details: ReferralDetails | UnsetType | None = UNSET
    team: list[Member] | UnsetType | None = UNSET
    invite_context: InviteContext | UnsetType | None = UNSET
    target: Target | list[Target] | UnsetType | None = UNSET
    e_tag: str | UnsetType | None = UNSET
    version: Version | UnsetType | None = UNSET


#: Each Struct beside the model it mirrors, for the test that holds them together.
MIRRORS: Final[tuple[tuple[type[msgspec.Struct], type[BaseModel]], ...]] = (
    (ContactPreference, models.ContactPreference),
    (Member, models.Member),
    (Address, models.Address),
    (CustomerProfileType, models.CustomerProfileType),
    (CustomerProfileId, models.CustomerProfileId),
    (CustomerProfile, models.CustomerProfile),
    (Consent, models.Consent),
    (InvitedBy, models.InvitedBy),
    (InviteContext, models.InviteContext),
    (IndustryTag, requirements.IndustryTag),
    (ProductTag, requirements.ProductTag),
    (ServiceTag, requirements.ServiceTag),
    (ReferralRequirements, requirements.ReferralRequirements),
    (ReferralDetails, models.ReferralDetails),
    (Target, models.Target),
    (Referral, models.Referral),
)
#: Fields of a model its Struct leaves to the model (a document with one is not canonical).
LEFT_TO_THE_MODELS: Final = {requirements.ReferralRequirements: frozenset({"solutions"})}

DECODE_REFERRAL: Final = msgspec.json.Decoder(Referral).decode
#: Decimals as JSON numbers, written as ``str(Decimal)`` spells them, as the models' encoder.
ENCODE: Final = msgspec.json.Encoder(decimal_format="number").encode
