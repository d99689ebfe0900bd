"""Reference data the referral schema is validated against.

The tag catalogues (products, services, industries, solutions, customer sizes) come from
the Partner Center referral resources; country and currency codes are ISO 3166-1 alpha-2
and ISO 4217 as pycountry 26.2 has them (a dev-only test compares them with the installed
pycountry, so the next change of the standards fails CI). Everything here is plain data so
that validation needs no I/O.
"""

from collections.abc import Iterable

PRODUCTS = (
    "Azure", "EnterpriseMobilityAndSecurity", "Exchange", "DeveloperTools",
    "Dynamics365Business", "Dynamics365Enterprise", "DynamicsAX,GP,NAV,SL", "Microsoft365",
    "Office", "PowerBI", "Project", "SharePoint", "SkypeForBusiness", "Surface", "SurfaceHub",
    "SQL", "Teams", "Visio", "Windows", "Yammer",
)  # fmt: skip

SERVICES = (
    "ConsultingAndProfessional", "CustomSolution(ISV)", "DeploymentOrMigration", "Hardware",
    "Integration", "IPServices(ISV)", "LearningAndCertification", "Licensing",
    "ManagedServices", "ProjectServices",
)  # fmt: skip

INDUSTRIES = (
    "Agriculture, Forestry, & Fishing", "Communications & Media", "Education",
    "Financial Services", "Government", "Healthcare", "Hospitality", "Manufacturing",
    "Power & Utilities", "Public Safety and National Security", "Retail & Consumer Goods",
    "Services", "Travel & Transportation", "Wholesale & Distribution",
)  # fmt: skip

SOLUTIONS = (
    "AdvancedAnalytics", "ApplicationIntegration", "ArtificialIntelligence",
    "AzureSecurityOperationManagement", "AzureStack", "BackupDisasterRecovery", "BigData",
    "Blockchain", "Chatbot", "CloudDatabaseMigration", "CloudMigration", "CloudVoice",
    "CognitiveServices", "CompetitiveDatabaseMigration", "Containers", "DataWarehouse",
    "DatabaseonLinux", "DevelopmentandTest", "DevOps", "DigitalMedia",
    "Dynamics365forCustomerService", "Dynamics365forFieldService",
    "Dynamics365forFinanceOperations", "Dynamics365forRetail", "Dynamics365forSales",
    "Dynamics365forTalent", "DynamicsonAzure", "EnterpriseBusinessIntelligence", "Gaming",
    "HighPerformanceComputing", "HybridStorage", "IdentityandAccessManagement",
    "InformationManagement", "InternetofThings", "MachineLearning", "Microserviceapplications",
    "MobileApplications", "MySQLPostgresMigrationtoAzure", "Networking", "NoSQLMigration",
    "RedhatonAzure", "RegulatoryComplianceGDPR", "SAPonAzure", "ServerlessComputing",
    "SharepointonAzure", "SQLServerUpgrade", "ThreatProtection", "WebDevelopment",
)  # fmt: skip

CUSTOMER_SIZES = (
    "1to50employees", "51to500employees", "Morethan500employees", "1to9employees",
    "10to50employees", "51to250employees", "251to1000employees", "1001to5000employees",
    "5001to10000employees", "10001to20000employees", "Morethan20000employees",
)  # fmt: skip

COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()
)

CURRENCIES = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAD XAF XAG XAU
    XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG
    """.split()
)

#: Codes withdrawn from ISO 4217 since the table above was first written: a referral stored
#: with one still reads (a stored document is validated in the ``STORED`` context), but no
#: new document may use one.
WITHDRAWN_CURRENCIES = frozenset({"ANG", "CUC", "SLL", "ZWL"})


def canonical_lookup(values: Iterable[str]) -> dict[str, str]:
    """Map the case-folded spelling of each catalogue value to its canonical spelling."""
    return {value.casefold(): value for value in values}


def canonical(catalogue: dict[str, str], value: str, what: str) -> str:
    """The catalogue's spelling of ``value`` (matched case-insensitively), or a refusal."""
    found = catalogue.get(value.strip().casefold())
    if found is None:
        raise ValueError(f"not a known {what}")
    return found
