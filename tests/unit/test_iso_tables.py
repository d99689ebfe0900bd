"""The embedded ISO 3166-1 and ISO 4217 tables are those of pycountry (a dev dependency):
when the standards change, this fails and the tables are brought in step."""

import pycountry

from state.catalogues import COUNTRIES, CURRENCIES


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
