"""The read API against a large store: p50/p99 of filtered, ordered pages of 100.

Stores ``--count`` referrals (default 1,000,000) of one tenant in a SQLite file and in a
fresh PostgreSQL database, through the stores' own batch write (copies of the benchmark's
referral with varied state, qualification, country, engagement, team and times), then
serves the read API over each and times each query's first page and the pages its
``@odata.nextLink`` leads to, over real HTTP on this machine. Prints a Markdown table.

    python -m bench.read_api [--count N] [--queries N] [--pages N] [--sqlite PATH] [--only STORE]
"""

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from bench.postgres import admin_url, fresh_database
from bench.preload import BATCH, _template
from service.api.compose import read_api
from service.settings import Settings
from service.store import BatchWrite, ReferralWrite, Store, open_store
from state import ReferralRecord, ReferralStatus, ReferralSubstatus
from state.enums import ReferralQualification
from state.referral_schema import Member

TENANT = "org-bench"
KEY = "bench-key"
START = datetime(2026, 1, 1, tzinfo=UTC)
STATES = [
    (ReferralStatus.NEW, ReferralSubstatus.PENDING),
    (ReferralStatus.NEW, ReferralSubstatus.RECEIVED),
    (ReferralStatus.ACTIVE, ReferralSubstatus.ACCEPTED),
    (ReferralStatus.CLOSED, ReferralSubstatus.WON),
    (ReferralStatus.CLOSED, ReferralSubstatus.LOST),
]
QUALIFICATIONS = list(ReferralQualification)
COUNTRIES = ["US", "DE", "GB", "FR", "JP"]
#: The filtered, ordered lists measured (Partner Center's examples among them).
QUERIES: list[dict[str, str]] = [
    {"$filter": "status eq 'New' and qualification eq 'SalesQualified'",
     "$orderby": "createdDateTime desc"},
    {"$filter": "customerProfile/address/country eq 'US' and status ne 'Closed'",
     "$orderby": "updatedDateTime desc"},
    {"$filter": "createdDateTime ge 2026-01-06T00:00:00Z and substatus eq 'Won'",
     "$orderby": "createdDateTime"},
    {"$filter": "engagementId eq 'engagement-00042'", "$orderby": "createdDateTime desc"},
    {"$filter": "team/any(t:t/email eq 'member-7@partner.example')",
     "$orderby": "createdDateTime desc"},
    {"$orderby": "createdDateTime"},
]  # fmt: skip


def _referral(template: ReferralRecord, n: int) -> ReferralRecord:
    status, substatus = STATES[n % len(STATES)]
    created = START + timedelta(seconds=n)
    profile = template.referral.customer_profile
    assert profile is not None
    assert profile.address is not None
    address = profile.address.model_copy(update={"country": COUNTRIES[n % len(COUNTRIES)]})
    referral = template.referral.model_copy(
        update={
            "id": f"bench-{n:07d}",
            "status": status,
            "substatus": substatus,
            "qualification": QUALIFICATIONS[n % len(QUALIFICATIONS)],
            "engagement_id": f"engagement-{n % 20_000:05d}",
            "created_date_time": created,
            "updated_date_time": created + timedelta(hours=n % 48),
            "customer_profile": profile.model_copy(update={"address": address}),
            "team": [Member(email=f"member-{n % 1000}@partner.example")],
        }
    )
    return ReferralRecord(referral, TENANT)


async def store_referrals(store: Store, count: int) -> float:
    started = time.monotonic()
    template = _template()
    for start in range(0, count, BATCH):
        records = [_referral(template, n) for n in range(start, min(start + BATCH, count))]
        await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in records]))
        if start and start % 100_000 == 0:
            print(f"  stored {start:,}", file=sys.stderr, flush=True)
    return time.monotonic() - started


async def measure(store: Store, queries: int, pages: int) -> dict[str, list[float]]:
    """Milliseconds per request, by query: first pages and the pages after them."""
    settings = Settings(api_port=0, api_keys=SecretStr(json.dumps({KEY: TENANT})))
    server = read_api(settings, store)
    assert server is not None
    await server.start()
    timings: dict[str, list[float]] = {}
    try:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
            for params in QUERIES:
                name = params.get("$filter", "(no filter)")
                timings[name] = await _timed(http, params, queries, pages)
    finally:
        await server.stop()
    return timings


async def _timed(
    http: httpx.AsyncClient, params: dict[str, str], rounds: int, pages: int
) -> list[float]:
    spent: list[float] = []
    for _ in range(rounds):
        url: str | None = "/v1.0/engagements/referrals"
        query: dict[str, Any] | None = {**params, "$top": 100}
        for _ in range(pages):
            if url is None:
                break
            started = time.perf_counter()
            response = await http.get(url, params=query)
            spent.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            url, query = response.json().get("@odata.nextLink"), None
    return spent


def report(backend: str, timings: dict[str, list[float]]) -> str:
    rows = [f"| {backend} | `{name}` | {len(ms)} | {_p(ms, 50):.1f} | {_p(ms, 99):.1f} |"
            for name, ms in timings.items()]  # fmt: skip
    return "\n".join(rows)


def _p(values: list[float], percentile: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percentile - 1]


@contextlib.asynccontextmanager
async def _opened(url: str) -> AsyncIterator[Store]:
    store = open_store(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def run_backend(name: str, url: str, count: int, queries: int, pages: int) -> str:
    async with _opened(url) as store:
        print(f"{name}: storing {count:,} referrals", file=sys.stderr, flush=True)
        took = await store_referrals(store, count)
        print(f"{name}: stored in {took:.0f} s; measuring", file=sys.stderr, flush=True)
        if url.startswith("postgresql"):
            await _analyze(url)
        return report(name, await measure(store, queries, pages))


async def _analyze(url: str) -> None:
    """The planner's statistics, as autovacuum would gather them after a bulk load."""
    db = await asyncpg.connect(url)
    try:
        await db.execute("ANALYZE referrals")
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=30, help="rounds of each query")
    parser.add_argument("--pages", type=int, default=5, help="pages followed per round")
    parser.add_argument("--sqlite", type=Path, help="the SQLite file (default: a temporary one)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="measure one store")
    args = parser.parse_args()
    print("| store | $filter | requests | p50 ms | p99 ms |\n|---|---|---|---|---|", flush=True)
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as scratch:
            path = args.sqlite or Path(scratch) / "read-bench.db"
            path.unlink(missing_ok=True)
            url = f"sqlite:///{path}"
            print(asyncio.run(run_backend("SQLite", url, args.count, args.queries, args.pages)))
    if args.only != "sqlite":
        with fresh_database(admin_url()) as (_, url):
            print(asyncio.run(run_backend("PostgreSQL", url, args.count, args.queries, args.pages)))


if __name__ == "__main__":
    main()
