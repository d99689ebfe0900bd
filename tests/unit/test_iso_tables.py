"""The embedded ISO 3166-1 and ISO 4217 tables are those of pycountry (a dev dependency):
when the standards change, this fails and the tables are brought in step."""

import pycountry
import pytest
from pydantic import ValidationError

from service.jsonio import dumps
from service.store.rows import referral_from_row
from state import Referral
from state.catalogues import COUNTRIES, CURRENCIES, WITHDRAWN_CURRENCIES


def test_the_country_table_is_iso_3166_alpha_2_as_pycountry_has_it() -> None:
    iso = {country.alpha_2 for country in pycountry.countries}
    assert {"extra": sorted(COUNTRIES - iso), "missing": sorted(iso - COUNTRIES)} == {
        "extra": [],
        "missing": [],
    }


def test_the_currency_table_is_iso_4217_as_pycountry_has_it() -> None:
    iso = {currency.alpha_3 for currency in pycountry.currencies}
    assert {"extra": sorted(CURRENCIES - iso), "missing": sorted(iso - CURRENCIES)} == {
        "extra": [],
        "missing": [],
    }


def test_a_withdrawn_currency_still_reads_from_the_store_but_no_new_document_may_use_it() -> None:
    document = {"name": "Curaçao deal", "details": {"dealValue": 10, "currency": "ANG"}}

    stored = referral_from_row(dumps(document), None)

    assert stored.referral.details is not None
    assert stored.referral.details.currency == "ANG"
    with pytest.raises(ValidationError, match="ISO 4217"):
        Referral.model_validate(document)
    assert WITHDRAWN_CURRENCIES.isdisjoint(CURRENCIES)
