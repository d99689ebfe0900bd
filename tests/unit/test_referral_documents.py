"""Partner Center referral documents: round trips, exact decimals, timestamps and field errors."""

import copy
import json
import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from state import CommandType, Referral, RejectionCode, decide
from state.fields import format_utc, parse_utc
from state.wire_keys import WireModel
from tests.support.builders import NOW, command, rejected

ETAG = '"2800a4e8-0000-0800-0000-65a1f3c20000"'


def contoso_referral() -> dict[str, Any]:
    """A referral as Partner Center sends it, in canonical form, with undocumented fields."""
    return {
        "id": "5f0c6a3e-2b8d-4c1e-9a7f-3d2e1b0c9a84",
        "engagementId": "b3e2d1c0-9f8e-4d7c-8b6a-5e4f3d2c1b0a",
        "name": "Contoso - Azure landing zone and data platform",
        "externalReferenceId": "D365-OPP-0042117",
        "createdDateTime": "2026-01-12T09:15:02.1234560Z",
        "updatedDateTime": "2026-01-13T17:40:11.0000000Z",
        "expirationDateTime": "2026-01-26T09:15:02.1234560Z",
        "status": "New",
        "substatus": "Received",
        "statusReason": "",
        "type": "Independent",
        "qualification": "SalesQualified",
        "customerProfile": {
            "name": "Contoso Ltd",
            "address": {
                "addressLine1": "1 Contoso Way",
                "addressLine2": "Building 7",
                "city": "Redmond",
                "state": "WA",
                "postalCode": "98052",
                "country": "US",
                "region": "North America",
                "buildingCode": "B7-N",
            },
            "size": "1001to5000employees",
            "team": [
                {
                    "firstName": "Ana",
                    "lastName": "Silva",
                    "phoneNumber": "+1 425 555 0100",
                    "email": "ana.silva@contoso.com",
                    "contactPreference": {"locale": "en-US", "disableNotifications": False},
                    "jobTitle": "CIO",
                }
            ],
            "ids": {"duns": "081466849", "external": "CRM-ACCT-7781"},
            "segment": "Enterprise",
        },
        "consent": {"consentToToShareInfoWithOthers": True, "consentToContact": True},
        "details": {
            "notes": "Wants a landing zone before the fiscal year ends.",
            "dealValue": Decimal("1234567.89"),
            "currency": "USD",
            "closingDateTime": "2026-06-30T00:00:00.0000000Z",
            "requirements": {
                "industries": [{"id": "Financial Services"}],
                "products": [{"id": "Azure"}, {"id": "DynamicsAX,GP,NAV,SL"}],
                "services": [{"id": "DeploymentOrMigration"}, {"id": "CustomSolution(ISV)"}],
                "solutions": [
                    {"id": "sol-1", "name": "CloudMigration", "solutionType": "Category"},
                    {"id": "sol-2", "name": "Contoso Data Mesh", "solutionType": "Name"},
                ],
                "priority": "high",
            },
            "dealCategory": {"code": "STRAT", "weight": 3},
        },
        "team": [
            {
                "firstName": "Bo",
                "lastName": "Chen",
                "email": "bo.chen@fabrikam.example",
                "contactPreference": {"locale": "fr-FR", "disableNotifications": True},
            }
        ],
        "inviteContext": {
            "notes": "Please co-sell with us on the migration.",
            "invitedBy": {
                "organizationId": "3c9a1f2e-0d4b-4e8a-b7c6-1a2b3c4d5e6f",
                "organizationName": "Fabrikam Consulting",
                "tenantRegion": "EU",
            },
            "invitedOn": "2026-01-12T09:15:02Z",
        },
        "target": {"id": "target-88", "type": "SolutionProfile"},
        "eTag": ETAG,
        "trackingInfo": {"source": "marketplace", "campaign": {"code": "FY26-Q3", "wave": 2}},
        "lastModifiedBy": "svc-crm-sync",
        "tags": ["priority", {"kind": "region", "value": "NA"}],
    }


def fabrikam_referral_in_pascal_case() -> dict[str, Any]:
    return {
        "ID": "a1b2c3d4-0000-4000-8000-000000000001",
        "EngagementID": "e-0001",
        "Name": "Fabrikam Teams rollout",
        "ExternalReferenceID": "SF-0006Q00000X1",
        "CreatedDateTime": "2026-02-01T08:00:00Z",
        "Status": "active",
        "Substatus": "ACCEPTED",
        "StatusReason": "Qualified by phone",
        "ReferralType": "Shared",
        "Qualification": "marketingqualified",
        "CustomerProfile": {
            "Name": "Fabrikam Inc",
            "Address": {"AddressLine1": "Rue 1", "City": "Paris", "Country": "fr", "Floor": 3},
            "Size": "51to250EMPLOYEES",
            "Team": [{"FirstName": "Léa", "Email": "lea@fabrikam.fr", "Nickname": "L"}],
            "IDs": [],
        },
        "Consent": {"ConsentToToShareInfoWithOthers": False, "ConsentToContact": True},
        "Details": {
            "DealValue": "0.1",
            "Currency": "eur",
            "ClosingDateTime": "2026-09-30T23:59:59.5Z",
            "Requirements": {
                "Industries": [{"ID": "retail & consumer goods"}],
                "Products": [{"ID": "Teams"}, {"ID": "microsoft365"}],
                "Services": [{"ID": "ManagedServices"}],
                "Solutions": [{"ID": "s", "Name": "chatbot", "SolutionType": "Category"}],
            },
        },
        "InviteContext": {"InvitedBy": {"OrganizationID": "org-9", "OrganizationName": "Tailspin"}},
        "Target": {"ID": "t-1", "Type": "BusinessProfileLocation"},
        "ETag": '"0a1b"',
        "Version": 4,
        "PartnerScore": 87,
        "Audit": {"CreatedBy": "importer", "Trail": [1, 2, 3]},
    }


FABRIKAM_CANONICAL = {
    "id": "a1b2c3d4-0000-4000-8000-000000000001",
    "engagementId": "e-0001",
    "name": "Fabrikam Teams rollout",
    "externalReferenceId": "SF-0006Q00000X1",
    "createdDateTime": "2026-02-01T08:00:00.0000000Z",
    "status": "Active",
    "substatus": "Accepted",
    "statusReason": "Qualified by phone",
    "type": "Shared",
    "qualification": "MarketingQualified",
    "customerProfile": {
        "name": "Fabrikam Inc",
        "address": {"addressLine1": "Rue 1", "city": "Paris", "country": "FR", "Floor": 3},
        "size": "51to250employees",
        "team": [{"firstName": "Léa", "email": "lea@fabrikam.fr", "Nickname": "L"}],
        "ids": [],  # sent as "IDs": [], kept as a list
    },
    "consent": {"consentToToShareInfoWithOthers": False, "consentToContact": True},
    "details": {
        "dealValue": Decimal("0.1"),
        "currency": "EUR",
        "closingDateTime": "2026-09-30T23:59:59.5000000Z",
        "requirements": {
            "industries": [{"id": "Retail & Consumer Goods"}],
            "products": [{"id": "Teams"}, {"id": "Microsoft365"}],
            "services": [{"id": "ManagedServices"}],
            "solutions": [{"id": "s", "name": "Chatbot", "solutionType": "Category"}],
        },
    },
    "inviteContext": {"invitedBy": {"organizationId": "org-9", "organizationName": "Tailspin"}},
    "target": {"id": "t-1", "type": "BusinessProfileLocation"},
    "eTag": '"0a1b"',
    "version": 4,
    "PartnerScore": 87,
    "Audit": {"CreatedBy": "importer", "Trail": [1, 2, 3]},
}


def _round_trip(document: dict[str, Any]) -> dict[str, Any]:
    return Referral.model_validate(document).to_document()


def _as_json(document: dict[str, Any]) -> Any:
    """What a subscriber reading the JSON would see (decimals written as their exact text)."""
    return json.loads(json.dumps(document, default=str))


def _set(document: dict[str, Any], pointer: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = pointer.strip("/").split("/")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


def _problems(document: dict[str, Any]) -> dict[str, str]:
    decision = rejected(decide(None, command(CommandType.CREATE, document, referral_id=None), NOW))
    assert decision.code is RejectionCode.INVALID_REQUEST
    return {problem.target: problem.message for problem in decision.details}


# --- round trips ---------------------------------------------------------------------------


def test_a_canonical_partner_center_document_round_trips_unchanged() -> None:
    document = contoso_referral()

    assert _round_trip(document) == document


def test_a_round_trip_is_stable() -> None:
    once = _round_trip(contoso_referral())

    assert _round_trip(once) == once


def test_unknown_fields_survive_at_the_top_level_and_nested() -> None:
    out = _round_trip(contoso_referral())

    assert out["trackingInfo"] == {
        "source": "marketplace",
        "campaign": {"code": "FY26-Q3", "wave": 2},
    }
    assert out["lastModifiedBy"] == "svc-crm-sync"
    assert out["tags"] == ["priority", {"kind": "region", "value": "NA"}]
    assert out["customerProfile"]["segment"] == "Enterprise"
    assert out["customerProfile"]["address"]["buildingCode"] == "B7-N"
    assert out["customerProfile"]["team"][0]["jobTitle"] == "CIO"
    assert out["details"]["dealCategory"] == {"code": "STRAT", "weight": 3}
    assert out["details"]["requirements"]["priority"] == "high"
    assert out["inviteContext"]["invitedOn"] == "2026-01-12T09:15:02Z"
    assert out["inviteContext"]["invitedBy"]["tenantRegion"] == "EU"


def test_a_pascal_case_document_is_written_back_in_camel_case() -> None:
    out = _round_trip(fabrikam_referral_in_pascal_case())

    assert out == FABRIKAM_CANONICAL


def test_a_pascal_case_document_keeps_its_unknown_fields_as_they_came() -> None:
    out = _round_trip(fabrikam_referral_in_pascal_case())

    assert out["PartnerScore"] == 87
    assert out["Audit"] == {"CreatedBy": "importer", "Trail": [1, 2, 3]}
    assert out["customerProfile"]["address"]["Floor"] == 3


def test_the_referral_type_is_the_json_key_type() -> None:
    referral = Referral.model_validate({"type": "Shared"})

    assert referral.to_document() == {"type": "Shared"}
    assert Referral.model_validate({"referralType": "Independent"}).to_document() == {
        "type": "Independent"
    }


def test_consent_to_share_keeps_its_two_tos() -> None:
    out = _round_trip({"consent": {"consentToToShareInfoWithOthers": True}})

    assert out == {"consent": {"consentToToShareInfoWithOthers": True}}


def test_the_etag_is_kept_as_a_quoted_string() -> None:
    out = _round_trip(contoso_referral())

    assert out["eTag"] == ETAG
    assert _as_json(out)["eTag"].startswith('"')


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ({"status": "closed", "substatus": "won"}, {"status": "Closed", "substatus": "Won"}),
        ({"qualification": "SALESQUALIFIED"}, {"qualification": "SalesQualified"}),
        ({"type": "independent"}, {"type": "Independent"}),
        ({"target": {"type": "solutionprofile"}}, {"target": {"type": "SolutionProfile"}}),
        (
            {"customerProfile": {"size": "MORETHAN20000EMPLOYEES"}},
            {"customerProfile": {"size": "Morethan20000employees"}},
        ),
    ],
)
def test_enum_values_are_written_in_pascal_case_whatever_case_they_came_in(
    raw: dict[str, Any], canonical: dict[str, Any]
) -> None:
    assert _as_json(_round_trip(raw)) == canonical


@pytest.mark.parametrize("ids", [[], {}])
def test_customer_profile_ids_may_be_an_empty_array_or_an_empty_object_kept_as_sent(
    ids: Any,
) -> None:
    out = _round_trip({"customerProfile": {"name": "Contoso", "ids": ids}})

    assert out["customerProfile"]["ids"] == ids


def test_customer_profile_ids_as_a_list_of_profile_ids_are_read_and_kept_as_a_list() -> None:
    sent = [{"profileType": "Duns", "id": "081466849"}, {"ProfileType": "External", "ID": "CRM-1"}]
    referral = Referral.model_validate({"customerProfile": {"IDs": sent}})

    assert referral.customer_profile is not None
    assert isinstance(referral.customer_profile.ids, list)
    assert [i.id for i in referral.customer_profile.ids] == ["081466849", "CRM-1"]
    assert referral.to_document()["customerProfile"]["ids"] == [
        {"profileType": "Duns", "id": "081466849"},
        {"profileType": "External", "id": "CRM-1"},
    ]


# --- exact decimals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "exact"),
    [
        ("1234567.89", Decimal("1234567.89")),
        (1234567.89, Decimal("1234567.89")),
        (0.1, Decimal("0.1")),
        ("0.1", Decimal("0.1")),
        (0.3, Decimal("0.3")),
        (1500, Decimal("1500")),
        ("0", Decimal("0")),
        (Decimal("98765432109876543210.0123456789"), Decimal("98765432109876543210.0123456789")),
    ],
)
def test_deal_value_is_held_as_an_exact_decimal(raw: Any, exact: Decimal) -> None:
    value = _round_trip({"details": {"dealValue": raw}})["details"]["dealValue"]

    assert isinstance(value, Decimal)
    assert value == exact
    assert str(value) == str(exact)


@pytest.mark.parametrize(
    ("sent", "exact"),
    [("10000", "10000"), ("250.50", "250.50"), ("0", "0"), ("0.5", "0.5"), ("9" * 29, "9" * 29)],
)
def test_a_deal_value_sent_as_a_string_is_read_as_the_exact_number_it_spells(
    sent: str, exact: str
) -> None:
    value = _round_trip({"details": {"dealValue": sent}})["details"]["dealValue"]

    assert (type(value), str(value)) == (Decimal, exact)


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ("-0.01", "must be 0 or more"),
        (-5, "must be 0 or more"),
        ("a lot", "not a decimal number such as 10000 or 1234.56"),
        ("10,000", "not a decimal number such as 10000 or 1234.56"),
        ("10_000", "not a decimal number such as 10000 or 1234.56"),
        ("\u0661\u0660", "not a decimal number such as 10000 or 1234.56"),
        ("NaN", "not a decimal number such as 10000 or 1234.56"),
        ("", "not a decimal number such as 10000 or 1234.56"),
        # Plain notation only: no spaces, no plus sign, no bare point, no exponent, no -0.
        (" 250.50 ", "not a decimal number such as 10000 or 1234.56"),
        ("+5", "not a decimal number such as 10000 or 1234.56"),
        (".5", "not a decimal number such as 10000 or 1234.56"),
        ("5.", "not a decimal number such as 10000 or 1234.56"),
        ("007", "not a decimal number such as 10000 or 1234.56"),
        ("1e3", "not a decimal number such as 10000 or 1234.56"),
        ("1e999999999", "not a decimal number such as 10000 or 1234.56"),
        ("Infinity", "not a decimal number such as 10000 or 1234.56"),
        ("-0", "must be 0 or more"),
        (Decimal("-0.00"), "must be 0 or more"),
        (Decimal("1E+3"), "not a decimal number such as 10000 or 1234.56"),
        (Decimal("1E+999999999"), "not a decimal number such as 10000 or 1234.56"),
        (Decimal("NaN"), "not a decimal number such as 10000 or 1234.56"),
        (float("inf"), "not a decimal number such as 10000 or 1234.56"),
        # Bounded as .NET's decimal, and counted before anything is converted.
        ("1" * 30, "more than 29 digits before the point or 28 after"),
        ("0." + "1" * 29, "more than 29 digits before the point or 28 after"),
        ("9" * 5000, "more than 29 digits before the point or 28 after"),
        (10**29, "more than 29 digits before the point or 28 after"),
        pytest.param(10**5000, "more than 29 digits before the point or 28 after", id="10**5000"),
        (Decimal("1" * 30), "more than 29 digits before the point or 28 after"),
    ],
)
def test_a_negative_or_non_numeric_deal_value_is_refused_with_a_clear_message(
    sent: Any, message: str
) -> None:
    problems = _problems({"details": {"dealValue": sent}})

    assert problems == {"/details/dealValue": message}


def test_deal_values_read_from_json_floats_add_up_exactly() -> None:
    first, second = (
        _round_trip(json.loads(text))["details"]["dealValue"]
        for text in ('{"details": {"dealValue": 0.1}}', '{"details": {"dealValue": 0.2}}')
    )

    assert first + second == Decimal("0.3")


def test_deal_value_parsed_from_json_text_as_decimal_keeps_every_digit() -> None:
    text = '{"details": {"dealValue": 98765432109876543210.0123456789, "currency": "JPY"}}'

    out = _round_trip(json.loads(text, parse_float=Decimal))

    assert out["details"]["dealValue"] == Decimal("98765432109876543210.0123456789")


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize("digits", range(8))
def test_timestamps_with_zero_to_seven_fraction_digits_are_written_with_seven(digits: int) -> None:
    fraction = "1234560"[:digits]
    text = f"2026-01-12T09:15:02{'.' + fraction if digits else ''}Z"

    out = _round_trip({"createdDateTime": text})["createdDateTime"]

    assert out == f"2026-01-12T09:15:02.{fraction.ljust(7, '0')}Z"


def test_timestamps_are_read_as_utc() -> None:
    referral = Referral.model_validate(
        {
            "createdDateTime": "2026-01-12T09:15:02.5Z",
            "details": {"closingDateTime": "2026-06-30T00:00:00+00:00"},
        }
    )

    assert referral.created_date_time == datetime(2026, 1, 12, 9, 15, 2, 500000, tzinfo=UTC)
    assert referral.details is not None
    assert referral.details.closing_date_time == datetime(2026, 6, 30, tzinfo=UTC)
    assert referral.to_document()["details"]["closingDateTime"] == "2026-06-30T00:00:00.0000000Z"


@pytest.mark.parametrize(
    ("pointer", "timestamp"),
    [
        ("/expirationDateTime", "2026-01-12T09:15:39.4263417Z"),
        ("/createdDateTime", "2026-01-12T09:15:02.8234527Z"),
        ("/details/closingDateTime", "9999-12-31T23:59:59.9999999Z"),
    ],
)
def test_a_seventh_fraction_digit_comes_back_exactly(pointer: str, timestamp: str) -> None:
    document = _set({"details": {}}, pointer, timestamp)

    out = _round_trip(_round_trip(document))

    assert out == document


def test_a_timestamp_keeps_its_seventh_digit_through_a_copy_and_a_pickle() -> None:
    instant = parse_utc("2026-01-12T09:15:39.4263417Z")

    for copied in (copy.copy(instant), copy.deepcopy(instant), pickle.loads(pickle.dumps(instant))):
        assert format_utc(copied) == "2026-01-12T09:15:39.4263417Z"


def test_a_timestamp_with_a_seventh_digit_is_still_a_utc_datetime_to_the_microsecond() -> None:
    instant = parse_utc("2026-01-12T09:15:39.4263417Z")

    assert instant == datetime(2026, 1, 12, 9, 15, 39, 426341, tzinfo=UTC)
    assert instant + timedelta(days=1) == datetime(2026, 1, 13, 9, 15, 39, 426341, tzinfo=UTC)


# --- invalid documents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pointer", "value", "target"),
    [
        ("/customerProfile/address/country", "XX", "/customerProfile/address/country"),
        ("/details/currency", "ABC", "/details/currency"),
        (
            "/customerProfile/team/0/email",
            "ana.silva(at)contoso.com",
            "/customerProfile/team/0/email",
        ),
        ("/team/0/email", "bo chen@fabrikam", "/team/0/email"),
        ("/details/dealValue", -1, "/details/dealValue"),
        ("/details/dealValue", "-0.01", "/details/dealValue"),
        ("/details/dealValue", "a lot", "/details/dealValue"),
        (
            "/details/requirements/products/0/id",
            "AzureStackEdge",
            "/details/requirements/products/0/id",
        ),
        (
            "/details/requirements/industries/0/id",
            "Mining",
            "/details/requirements/industries/0/id",
        ),
        ("/details/requirements/services/0/id", "Catering", "/details/requirements/services/0/id"),
        ("/customerProfile/size", "5000plus", "/customerProfile/size"),
        ("/qualification", "Lukewarm", "/qualification"),
        ("/type", "Exclusive", "/type"),
        ("/status", "Open", "/status"),
        ("/target/type", "Person", "/target/type"),
        (
            "/details/requirements/solutions/1/solutionType",
            "Other",
            "/details/requirements/solutions/1/solutionType",
        ),
        ("/details/closingDateTime", "2026-01-01T10:00:00+02:00", "/details/closingDateTime"),
        ("/expirationDateTime", "2026-01-01T10:00:00", "/expirationDateTime"),
        ("/expirationDateTime", "next tuesday", "/expirationDateTime"),
        ("/expirationDateTime", "2026-02-30T00:00:00Z", "/expirationDateTime"),
        ("/consent/consentToContact", "maybe", "/consent/consentToContact"),
    ],
)
def test_an_invalid_field_is_rejected_with_a_pointer_to_it(
    pointer: str, value: Any, target: str
) -> None:
    problems = _problems(_set(contoso_referral(), pointer, value))

    assert list(problems) == [target]


@pytest.mark.parametrize(
    "timestamp", ["2026-01-01T10:00:00+02:00", "2026-01-01T10:00:00", "garbage", "2026-01-01"]
)
def test_a_timestamp_that_is_not_utc_iso_8601_is_refused_with_a_reason(timestamp: str) -> None:
    problems = _problems({"details": {"closingDateTime": timestamp}})

    assert "timestamp" in problems["/details/closingDateTime"]
    assert timestamp not in problems["/details/closingDateTime"]


def test_a_document_with_several_problems_lists_all_of_them() -> None:
    document = contoso_referral()
    document["customerProfile"]["address"]["country"] = "XX"
    document["customerProfile"]["team"][0]["email"] = "not-an-email"
    document["customerProfile"]["size"] = "huge"
    document["details"]["currency"] = "ABC"
    document["details"]["dealValue"] = "-5"
    document["details"]["closingDateTime"] = "2026-01-01T10:00:00+02:00"
    document["createdDateTime"] = "2026-01-01T10:00:00"
    document["expirationDateTime"] = "garbage"
    document["qualification"] = "Hot"

    problems = _problems(document)

    assert set(problems) == {
        "/customerProfile/address/country",
        "/customerProfile/team/0/email",
        "/customerProfile/size",
        "/details/currency",
        "/details/dealValue",
        "/details/closingDateTime",
        "/createdDateTime",
        "/expirationDateTime",
        "/qualification",
    }


def test_the_problems_of_a_pascal_case_document_are_pointed_at_in_camel_case() -> None:
    document = fabrikam_referral_in_pascal_case()
    document["CustomerProfile"]["Address"]["Country"] = "XX"
    document["Details"]["DealValue"] = -1
    document["Details"]["Currency"] = "ABC"
    document["InviteContext"]["InvitedBy"]["OrganizationID"] = 42

    problems = _problems(document)

    assert set(problems) == {
        "/customerProfile/address/country",
        "/details/dealValue",
        "/details/currency",
        "/inviteContext/invitedBy/organizationId",
    }


def test_a_rejection_message_names_the_rule_never_the_bad_value() -> None:
    problems = _problems(
        {"customerProfile": {"address": {"country": "XQ"}}, "details": {"currency": "ABQ"}}
    )

    assert problems["/customerProfile/address/country"] == "not an ISO 3166-1 alpha-2 country code"
    assert problems["/details/currency"] == "not an ISO 4217 currency code"


def test_a_year_below_1000_is_written_with_four_digits_and_the_old_unpadded_form_still_reads() -> (
    None
):
    early = Referral.model_validate({"details": {"closingDateTime": "0999-12-31T23:59:59Z"}})
    assert early.to_document()["details"]["closingDateTime"] == "0999-12-31T23:59:59.0000000Z"
    legacy = Referral.model_validate({"details": {"closingDateTime": "1-01-01T00:00:00.0000000Z"}})
    assert legacy.to_document()["details"]["closingDateTime"] == "0001-01-01T00:00:00.0000000Z"


@pytest.mark.parametrize(
    "update",
    [{}, {"status_reason": "partner asked"}, {"x-note": "an unknown field"}, {"name": None}],
)
def test_a_referral_copies_as_pydantic_copies_it_and_derives_its_document_anew(
    update: dict[str, Any],
) -> None:
    # The referral's own shallow copy must keep pydantic's meaning: fields, unknown fields
    # and which fields are set; only the derived document is not carried over.
    original = Referral.model_validate(contoso_referral())
    original.to_document()

    copied = original.model_copy(update=update)
    expected = BaseModel.model_copy(original, update=update)

    assert copied.__dict__ == expected.__dict__
    assert copied.__pydantic_extra__ == expected.__pydantic_extra__
    assert copied.model_fields_set == expected.model_fields_set
    assert copied.__pydantic_extra__ is not original.__pydantic_extra__
    assert copied.to_document() is not original.to_document()
    assert copied.to_document() == copied._serialized()
    assert (copied.to_document() == original.to_document()) == (not update)


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    return [model, *(m for sub in model.__subclasses__() for m in _models(sub))]


def test_no_model_declares_private_attributes_so_every_copy_starts_with_none() -> None:
    # WireModel.model_copy sets pydantic's private slot to None; a declared private
    # attribute would then be missing on every copy.
    assert [m.__name__ for m in _models(WireModel) if m.__private_attributes__] == []


def test_a_copy_derives_its_document_anew_and_keeps_what_was_set() -> None:
    referral = Referral.model_validate(contoso_referral())
    document = referral.to_document()

    renamed = referral.model_copy(update={"name": "Fabrikam", "newField": 1})

    assert renamed.to_document()["name"] == "Fabrikam"
    assert renamed.to_document()["newField"] == 1
    assert document["name"] == contoso_referral()["name"]
    assert renamed.model_fields_set == referral.model_fields_set | {"name", "newField"}
    assert copy.deepcopy(renamed).to_document() == renamed.to_document()
    assert pickle.loads(pickle.dumps(renamed)) == renamed
