"""``referrals webhooks``: a failing endpoint's parked deliveries are listed and shown, and
a replay makes them due again with the registration active."""

from pathlib import Path

from pydantic import SecretStr

from service.codec import OutgoingRecord
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, SqliteStore
from service.store.webhooks import Registration
from tests.support.cli_runner import referrals


async def test_parked_deliveries_are_shown_and_replayed(tmp_path: Path) -> None:
    database = tmp_path / "r.db"
    store = SqliteStore(database)
    await store.open()
    await store.save_registration(
        Registration("org-a", "https://a.example/h", ("referral-created",), "s")
    )
    headers = (("ce_tenantid", b"org-a"), ("ce_time", b"2026-12-06T10:00:00Z"))
    record = OutgoingRecord("events", b"r1", b"{}", headers, "referral.created")
    await store.write(BatchWrite(outbox=[OutboxEntry(0, record)]))
    await store.park("org-a", "HTTP 503")
    await store.close()
    settings = Settings(database_url=SecretStr(f"sqlite:///{database}"))

    listed = await referrals(settings, "--json", "webhooks", "list")
    shown = await referrals(settings, "--json", "webhooks", "show", "org-a")
    replayed = await referrals(settings, "--json", "webhooks", "replay", "org-a")
    after = await referrals(settings, "--json", "webhooks", "list")

    assert [(r["tenant"], r["state"]) for r in listed.json_lines()] == [("org-a", "failing")]
    assert [(r["referralId"], r["state"], r["lastError"]) for r in shown.json_lines()] == [
        ("r1", "parked", "HTTP 503")
    ]
    assert replayed.json_lines() == [{"tenant": "org-a", "replayed": 1}]
    assert [r["state"] for r in after.json_lines()] == ["active"]
