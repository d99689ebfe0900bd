"""The OData ``$metadata`` a list's ``@odata.context`` names, over real HTTP: a CSDL 4.0
document of the ``referrals`` entity set, which pyodata (an OData client) connects to.

pyodata reads the entity set, the entity type and its properties, and its query of the
entity set is the API's list route, answered with the referrals asked for. pyodata
reads OData 2.0 JSON bodies only (``{"d": {"results": [...]}}``): the API answers OData
4.0's ``{"value": [...]}``, so pyodata itself cannot turn that answer into entities.
"""

import asyncio
from typing import Any
from urllib.parse import urljoin

import pyodata
import pytest
import requests

from service.store.query import FIELDS, ORDER_FIELDS
from tests.support.read_api import REFERRALS, Api
from tests.support.stored_referrals import BASE_TIME as T
from tests.support.stored_referrals import created, minutes, store_new

SERVICE_ROOT = "/v1.0/engagements/"


async def test_the_context_of_a_list_names_the_metadata_document(sqlite_api: Api) -> None:
    listed = await sqlite_api.get(REFERRALS)
    context = listed.json()["@odata.context"]
    url, _, entity_set = urljoin(sqlite_api.server.url, context).partition("#")
    assert entity_set == "referrals"
    response = await sqlite_api.client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["odata-version"] == "4.0"
    assert response.content.startswith(b"<?xml")
    for name in ORDER_FIELDS:
        assert f"<PropertyPath>{name}</PropertyPath>".encode() not in response.content


def _connect(url: str, answers: list[requests.Response] | None = None) -> Any:
    """pyodata's client of the service root (blocking: run in a thread); the answers it
    gets to its queries are put in ``answers``."""
    session = requests.Session()
    session.headers["Authorization"] = "Bearer key-org-a"
    hook = answers.append if answers is not None else None
    return pyodata.Client(url, session, response_hook=hook)


async def test_pyodata_connects_and_sees_the_entity_set_and_its_properties(
    sqlite_api: Api,
) -> None:
    client = await asyncio.to_thread(_connect, urljoin(sqlite_api.server.url, SERVICE_ROOT))
    entity_set = client.schema.entity_set("referrals")
    referral = client.schema.entity_type("Referral")
    assert entity_set.entity_type is referral
    assert [key.name for key in referral.key_proprties] == ["id"]
    properties = {prop.name: prop.typ.name for prop in referral.proprties()}
    assert set(properties) == {name.split("/")[0] for name in FIELDS} | {"team"}
    assert properties["createdDateTime"] == "Edm.DateTimeOffset"
    assert properties["status"] == "Edm.String"
    profile = client.schema.complex_type("CustomerProfile").proprty("address")
    assert profile.typ.proprty("country").typ.name == "Edm.String"


async def test_pyodatas_query_of_the_entity_set_is_the_list_route(sqlite_api: Api) -> None:
    await store_new(
        sqlite_api.store,
        created("contoso-1", at=T + minutes(1)),
        created("contoso-2", at=T + minutes(2)),
    )
    answers: list[requests.Response] = []
    root = urljoin(sqlite_api.server.url, SERVICE_ROOT)
    client = await asyncio.to_thread(_connect, root, answers)
    query = client.entity_sets.referrals.get_entities().filter("id eq 'contoso-2'").top(1)
    # pyodata's reader wants OData 2.0's {"d": ...}; the API answers OData 4.0's "value".
    with pytest.raises(KeyError, match="'d'"):
        await asyncio.to_thread(query.execute)
    [answer] = answers
    assert answer.url.startswith(urljoin(sqlite_api.server.url, REFERRALS) + "?")
    assert answer.status_code == 200
    assert [referral["id"] for referral in answer.json()["value"]] == ["contoso-2"]
