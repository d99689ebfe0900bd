"""Generic generators on ``/openapi.json``, as an integrator runs them: ``openapi-python-client``
makes a client whose classes are the document's named schemas, and that client reads real
stored referrals from the running API (SQLite file store) as typed objects and registers a
webhook, read back as one;
``datamodel-codegen`` makes the same models. Each generator runs once (about a second)."""

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

from service.jsonio import dumps, loads
from tests.support.read_api import Api, Signer
from tests.support.stored_referrals import BASE_TIME as T
from tests.support.stored_referrals import created, minutes, store_new

PACKAGE = "generated_referrals_client"
#: No formatting hook: the generated code is used as generated.
CONFIG = {"package_name_override": PACKAGE, "post_hooks": []}
#: A public address: registration judges it without a lookup (nothing is sent to it here).
WEBHOOK_URL = "https://93.184.215.14/hook"


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


async def _run(folder: Path, tool: str, *arguments: str) -> str:
    """Runs a generator's command in ``folder`` (bounded); what it printed."""
    child = await asyncio.create_subprocess_exec(
        _tool(tool),
        *arguments,
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    printed, _ = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode == 0, printed.decode()
    return printed.decode()


async def _served_document(api: Api, folder: Path) -> None:
    """The document the running API serves, written to ``folder/openapi.json``."""
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    (folder / "openapi.json").write_bytes(response.content)


@pytest.fixture
async def client_package(sqlite_api: Api, tmp_path: Path) -> AsyncIterator[ModuleType]:
    """The client generated from the document the running API serves, imported."""
    await _served_document(sqlite_api, tmp_path)
    (tmp_path / "config.json").write_bytes(dumps(CONFIG))
    printed = await _run(
        tmp_path, "openapi-python-client", "generate", "--path", "openapi.json", "--meta", "none",
        "--output-path", PACKAGE, "--config", "config.json",
    )  # fmt: skip
    assert "Warning" not in printed
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
            del sys.modules[name]


async def test_a_generated_client_reads_stored_referrals_as_typed_objects(
    sqlite_api: Api, client_package: ModuleType, tmp_path: Path
) -> None:
    one = created("contoso-1", at=T + minutes(1), customerProfile={"address": {"country": "US"}})
    two = created("contoso-2", at=T + minutes(2))
    await store_new(sqlite_api.store, one, two, created("theirs", tenant="org-b"))
    models = importlib.import_module(f"{PACKAGE}.models")
    # One class per named schema, none named after a path or a status.
    document = loads((tmp_path / "openapi.json").read_bytes())
    assert set(models.__all__) == set(document["components"]["schemas"])
    get_referral = importlib.import_module(f"{PACKAGE}.api.referrals.get_referral")
    list_referrals = importlib.import_module(f"{PACKAGE}.api.referrals.list_referrals")
    client = client_package.AuthenticatedClient(base_url=sqlite_api.server.url, token="key-org-a")
    async with client:
        answer = await get_referral.asyncio_detailed("contoso-1", client=client)
        page = await list_referrals.asyncio(client=client, top=1, count=True)
        missing = await get_referral.asyncio("nobody-has-this", client=client)

    referral = answer.parsed
    assert isinstance(referral, models.Referral)
    assert (referral.id, referral.status, referral.e_tag) == (
        "contoso-1",
        models.ReferralStatus.NEW,
        answer.headers["etag"],
    )
    assert referral.created_date_time == datetime.fromisoformat("2026-05-01T08:01:00+00:00")
    assert referral.customer_profile.address.country == "US"
    assert isinstance(page, models.ReferralPage)
    assert [type(item) for item in page.value] == [models.Referral]
    assert (page.value[0].id, page.odata_count) == ("contoso-1", 2)
    assert "$skiptoken=" in page.odata_next_link
    assert page.odata_context.endswith("/v1.0/engagements/$metadata#referrals")
    assert isinstance(missing, models.ErrorBody)
    assert missing.error.code == "itemNotFound"


async def test_a_generated_client_registers_a_webhook_and_reads_it_back_typed(
    sqlite_api: Api, client_package: ModuleType, signer: Signer
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    create = importlib.import_module(f"{PACKAGE}.api.webhooks.create_webhook_registration")
    show = importlib.import_module(f"{PACKAGE}.api.webhooks.get_webhook_registration")
    token = signer.token(tid="org-a", roles=["Referrals.ReadWrite"])
    client = client_package.AuthenticatedClient(base_url=sqlite_api.server.url, token=token)
    events = [models.WebhookEvent.REFERRAL_CREATED]
    asked = models.WebhookRegistrationRequest(webhook_url=WEBHOOK_URL, webhook_events=events)
    async with client:
        created = await create.asyncio_detailed(client=client, body=asked)
        again = await create.asyncio(client=client, body=asked)
        shown = await show.asyncio(client=client)

    assert created.status_code == 201
    assert isinstance(created.parsed, models.WebhookRegistrationWithSecret)
    assert created.parsed.signing_secret.startswith("whsec_")
    assert isinstance(again, models.ErrorBody)
    assert again.error.code == "conflict"
    assert isinstance(shown, models.WebhookRegistration)
    assert (shown.webhook_url, shown.webhook_events, shown.state) == (
        WEBHOOK_URL,
        events,
        models.WebhookRegistrationState.ACTIVE,
    )
    stored = await sqlite_api.store.registration("org-a")
    assert stored is not None
    assert stored.secret == created.parsed.signing_secret


async def test_datamodel_codegen_makes_the_named_models(sqlite_api: Api, tmp_path: Path) -> None:
    await _served_document(sqlite_api, tmp_path)
    await _run(
        tmp_path, "datamodel-codegen", "--input", "openapi.json", "--input-file-type", "openapi",
        "--output", "models.py", "--output-model-type", "pydantic_v2.BaseModel",
    )  # fmt: skip
    source = (tmp_path / "models.py").read_text()
    classes = {line.split("(")[0].removeprefix("class ") for line in source.splitlines()}
    assert {"Referral", "ReferralPage", "ErrorBody", "ErrorDetail"} <= classes
    assert "HTTPValidationError" not in source
