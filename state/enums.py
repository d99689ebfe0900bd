"""The enumerations of the referral schema, with Partner Center's PascalCase values.

Input is matched case-insensitively ("won" reads as Won); output is always the canonical
spelling.
"""

from enum import StrEnum


class _PascalCaseEnum(StrEnum):
    @classmethod
    def _missing_(cls, value: object) -> "_PascalCaseEnum | None":
        if isinstance(value, str):
            folded = value.casefold()
            for member in cls:
                if member.value.casefold() == folded:
                    return member
        return None


class ReferralStatus(_PascalCaseEnum):
    NONE = "None"
    NEW = "New"
    ACTIVE = "Active"
    CLOSED = "Closed"


class ReferralSubstatus(_PascalCaseEnum):
    NONE = "None"
    PENDING = "Pending"
    RECEIVED = "Received"
    ACCEPTED = "Accepted"
    WON = "Won"
    LOST = "Lost"
    DECLINED = "Declined"
    EXPIRED = "Expired"


class ReferralType(_PascalCaseEnum):
    SHARED = "Shared"
    INDEPENDENT = "Independent"


class ReferralQualification(_PascalCaseEnum):
    NONE = "None"
    DIRECT = "Direct"
    MARKETING_QUALIFIED = "MarketingQualified"
    SALES_QUALIFIED = "SalesQualified"


class SolutionType(_PascalCaseEnum):
    NONE = "None"
    CATEGORY = "Category"
    NAME = "Name"


class TargetType(_PascalCaseEnum):
    NONE = "None"
    BUSINESS_PROFILE_LOCATION = "BusinessProfileLocation"
    SOLUTION_PROFILE = "SolutionProfile"
