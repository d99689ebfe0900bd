"""The referral schema of Partner Center as pydantic models.

Documents are read in Partner Center's JSON (camelCase keys, PascalCase accepted too) and
written back in camelCase. Fields the schema does not name are kept as they came, because
Partner Center payloads carry many undocumented fields. The service-owned fields
(timestamps, ``eTag``, ``version``) are part of the document so subscribers see them.
"""

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    Discriminator,
    Field,
)
from pydantic import Tag as UnionTag

from state.catalogues import (
    CUSTOMER_SIZES,
    canonical,
    canonical_lookup,
)
from state.enums import (
    ReferralQualification,
    ReferralStatus,
    ReferralSubstatus,
    ReferralType,
    TargetType,
)
from state.fields import (
    CountryCode,
    CurrencyCode,
    EmailAddress,
    NonNegativeDecimal,
    UtcTimestamp,
)
from state.owned import SERVICE_OWNED
from state.requirements import (
    ReferralRequirements,
    SolutionTag,
    Tag,
)
from state.wire_keys import WireModel, alias

_CUSTOMER_SIZES = canonical_lookup(CUSTOMER_SIZES)


def _customer_size(value: str) -> str:
    # Partner Center sends "" for a size nobody filled in.
    return value if not value.strip() else canonical(_CUSTOMER_SIZES, value, "customer size")


class ContactPreference(WireModel):
    locale: str | None = None
    disable_notifications: bool | None = None


class Member(WireModel):
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None
    email: EmailAddress | None = None
    contact_preference: ContactPreference | None = None


class Address(WireModel):
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: CountryCode | None = None
    region: str | None = None


def _form(value: object) -> str:
    # The tags carry brackets, which error pointers leave out like pydantic's own markers.
    return "list[]" if isinstance(value, list) else "one[]"


#: An object or a list of them, chosen by the input's shape so a refusal names one form.
_BY_FORM = Discriminator(_form)
_ONE, _LIST = UnionTag("one[]"), UnionTag("list[]")


class CustomerProfileType(WireModel):
    """External ids of the customer, as the reference table names them."""

    duns: str | None = None
    external: str | None = None


class CustomerProfileId(WireModel):
    """One external id in the list form Partner Center sends: ``{"profileType", "id"}``."""

    profile_type: str | None = None
    id: str | None = alias("id", "ID", "Id")


class CustomerProfile(WireModel):
    name: str | None = None
    address: Address | None = None
    size: Annotated[str, AfterValidator(_customer_size)] | None = None
    team: list[Member] | None = None
    # The table names one object; Partner Center also sends a list, kept as it came.
    ids: (
        Annotated[
            Annotated[CustomerProfileType, _ONE] | Annotated[list[CustomerProfileId], _LIST],
            _BY_FORM,
        ]
        | None
    ) = alias("ids", "IDs", "Ids")


class Consent(WireModel):
    consent_to_to_share_info_with_others: bool | None = None
    consent_to_contact: bool | None = None


class InvitedBy(WireModel):
    organization_id: str | None = alias("organizationId", "OrganizationID", "OrganizationId")
    organization_name: str | None = None


class InviteContext(WireModel):
    notes: str | None = None
    invited_by: InvitedBy | None = None


class ReferralDetails(WireModel):
    notes: str | None = None
    deal_value: NonNegativeDecimal | None = None
    currency: CurrencyCode | None = None
    closing_date_time: UtcTimestamp | None = None
    requirements: ReferralRequirements | None = None


class Target(WireModel):
    id: str | None = alias("id", "ID", "Id")
    type: TargetType | None = None


class Referral(WireModel):
    id: str | None = alias("id", "ID", "Id")
    engagement_id: str | None = alias("engagementId", "EngagementID", "EngagementId")
    name: str | None = None
    external_reference_id: str | None = alias(
        "externalReferenceId", "ExternalReferenceID", "ExternalReferenceId"
    )
    created_date_time: UtcTimestamp | None = None
    updated_date_time: UtcTimestamp | None = None
    expiration_date_time: UtcTimestamp | None = None
    accepted_date_time: UtcTimestamp | None = None
    closed_date_time: UtcTimestamp | None = None
    status: ReferralStatus | None = None
    substatus: ReferralSubstatus | None = None
    status_reason: str | None = None
    type: ReferralType | None = alias("type", "Type", "referralType", "ReferralType")
    qualification: ReferralQualification | None = None
    customer_profile: CustomerProfile | None = None
    consent: Consent | None = None
    details: ReferralDetails | None = None
    team: list[Member] | None = None
    invite_context: InviteContext | None = None
    # The table names one target; Partner Center sends a list. Either is kept as it came.
    target: Annotated[Annotated[Target, _ONE] | Annotated[list[Target], _LIST], _BY_FORM] | None = (
        None
    )
    e_tag: str | None = alias("eTag", "ETag", "etag")
    version: int | None = Field(default=None, ge=0)
    # The document and its encoding are derived once (a referral is never changed in place,
    # only copied) and kept in pydantic's slot for private state, set up on first use:
    # declared private attributes would cost every validation a Python call to set them up.

    def to_document(self) -> dict[str, Any]:
        """The camelCase document, with exact decimals and unknown fields as they came.

        Shared by every caller (events, the store, the next change): never modify it.
        """
        derived = self._derived()
        document: dict[str, Any] | None = derived.get("document")
        if document is None:
            document = derived["document"] = self._serialized()
        return document

    def encoded(self, encode: Callable[[Mapping[str, Any]], bytes]) -> bytes:
        """The document as ``encode`` writes it, encoded once per encoder."""
        derived = self._derived()
        kept: tuple[Callable[[Mapping[str, Any]], bytes], bytes] | None = derived.get("encoded")
        if kept is None or kept[0] is not encode:
            kept = derived["encoded"] = (encode, encode(self.to_document()))
        return kept[1]

    def worked_out(self, name: str, compute: Callable[["Referral"], Any]) -> Any:
        """``compute(self)``, worked out once per referral and kept under ``name``: a
        referral is never changed once made (a change makes another)."""
        derived = self._derived()
        if name not in derived:
            derived[name] = compute(self)
        return derived[name]

    def _derived(self) -> dict[str, Any]:
        derived: dict[str, Any] | None = self.__pydantic_private__
        if derived is None:
            derived = {}
            object.__setattr__(self, "__pydantic_private__", derived)
        return derived

    def _serialized(self) -> dict[str, Any]:
        document = self.model_dump(by_alias=True, exclude_unset=True)
        # The service clears a service-owned field by setting it to None; don't write it.
        return {k: v for k, v in document.items() if v is not None or k not in _SERVICE_FIELDS}

    def __eq__(self, other: object) -> bool:
        # The derived document is a cache, not part of the value.
        if not isinstance(other, Referral):
            return NotImplemented
        return (
            self.__dict__ == other.__dict__ and self.__pydantic_extra__ == other.__pydantic_extra__
        )

    __hash__ = None  # type: ignore[assignment]  # mutable model, as pydantic's own

    @staticmethod
    def revision(part: "Referral") -> dict[str, Any]:
        """The top-level fields ``part`` sets, by Python name (unknown ones by their key)."""
        extra = part.__pydantic_extra__ or {}
        fields = part.model_fields_set
        return {name: extra[name] if name in extra else getattr(part, name) for name in fields}

    def with_document(self, document: dict[str, Any], in_order: bool = False) -> Self:
        """This referral, knowing its document already (computed by the caller, and its
        from now on). Unless ``in_order`` says they are, the keys are put in the order
        ``to_document`` writes them, so the bytes are the same."""
        if not in_order:
            named = [key for key in _WIRE_ORDER if key in document]
            extra = [key for key in document if key not in _WIRE_KEYS]
            document = {key: document[key] for key in (*named, *extra)}
        object.__setattr__(self, "__pydantic_private__", {"document": document})
        return self


#: The wire name of each of the referral's own fields, in the order a document lists them.
WIRE_NAMES = {
    name: field.serialization_alias or name for name, field in Referral.model_fields.items()
}
_WIRE_ORDER = tuple(WIRE_NAMES.values())
_WIRE_KEYS = frozenset(_WIRE_ORDER)
#: Owned fields the service clears by setting None (the id is never cleared).
_SERVICE_FIELDS = SERVICE_OWNED - {"id"}


def _canonical_names(*models: type[BaseModel]) -> dict[str, str]:
    names: dict[str, str] = {}
    for model in models:
        for field in model.model_fields.values():
            choices = field.validation_alias
            if isinstance(choices, AliasChoices) and field.serialization_alias is not None:
                for choice in choices.choices:
                    if isinstance(choice, str):
                        names[choice] = field.serialization_alias
    return names


#: Every accepted spelling of a known key, mapped to its camelCase wire name.
CANONICAL_KEYS = _canonical_names(
    ContactPreference,
    Member,
    Address,
    CustomerProfileType,
    CustomerProfileId,
    CustomerProfile,
    Consent,
    InvitedBy,
    InviteContext,
    Tag,
    SolutionTag,
    ReferralRequirements,
    ReferralDetails,
    Target,
    Referral,
)
