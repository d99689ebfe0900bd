"""``referrals dev`` starts fresh as a whole: the last run's SQLite file is put aside when it
holds referrals (never an empty one over a kept one), removed when it holds none, and a
PostgreSQL store holding referrals is refused with what to do."""

from pathlib import Path

import pytest

from service.cli.dev_state import FreshStart, start_fresh, stored_referrals
from service.cli.exits import CliError, ExitStatus
from service.store import open_store
from tests.support.stored_referrals import created, store_new


async def stored(url: str, *ids: str) -> None:
    store = open_store(url)
    await store.open()
    try:
        await store_new(store, *(created(referral_id) for referral_id in ids))
    finally:
        await store.close()


def kept_aside(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if "last-run" in path.name)


async def test_no_store_yet_is_a_fresh_start(tmp_path: Path) -> None:
    fresh = await start_fresh(f"sqlite:///{tmp_path}/dev.db")
    assert fresh == FreshStart()
    assert fresh.describe().startswith("state: fresh")


async def test_a_store_with_referrals_is_put_aside_and_an_empty_one_removed(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/dev.db"
    await stored(url, "a-1", "a-2")
    first = await start_fresh(url)
    aside = tmp_path / "dev.db.last-run"
    assert first == FreshStart(referrals=2, kept_aside=aside)
    assert "the last run's store, 2 referrals, was moved to " in first.describe()
    assert not (tmp_path / "dev.db").exists()

    await stored(url)  # a run that stored nothing
    assert await start_fresh(url) == FreshStart()
    assert kept_aside(tmp_path) == ["dev.db.last-run"]
    assert await stored_referrals(f"sqlite:///{aside}") == 2  # the kept one, not the empty


@pytest.mark.postgres
async def test_a_postgresql_store_with_referrals_is_refused(postgres_url: str) -> None:
    assert await start_fresh(postgres_url) == FreshStart()
    await stored(postgres_url, "p-1")
    with pytest.raises(CliError) as refused:
        await start_fresh(postgres_url)
    assert refused.value.status == ExitStatus.CONFIGURATION
    assert "REFERRALS_DATABASE_URL" in str(refused.value)
    assert await stored_referrals(postgres_url) == 1  # untouched
