"""The baseline: consume and re-produce each record unchanged, with the service's settings.

Reads the same ``REFERRALS_*`` settings as the service and builds its consumer and
producer with the service's own factories (same group semantics, ``fetch_max_wait_ms``,
``max_batch_size`` records per ``getmany``, acks=all without idempotence). Per batch it
sends every record to the events topic, waits for all acknowledgements, then commits the
batch's offsets: the service's loop with the decoding, the store and the state machine
taken out.

``--stored-first URL`` (a store's URL as the service takes it, SQLite or PostgreSQL) makes
it the floor of any design with the service's guarantee, that what a batch changed is
stored before its events go: each batch's records are inserted in one transaction
committed durably (SQLite ``synchronous=FULL`` on a thread of its own, PostgreSQL a
synchronous commit), one round trip, before they are sent. ``--round-trips 4`` gives it
the service's pattern on PostgreSQL with trivial statements: a read of the batch's keys
before the insert, then a transaction begun with a row lock before the sends and ended
with a delete after them.

Run by the benchmark as ``python -m bench.passthrough --ready-file PATH``; the file
appears once partitions are assigned. SIGTERM stops it.
"""

import argparse
import asyncio
import contextlib
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import asyncpg

from service.kafka import ensure_topics, make_consumer, make_producer
from service.settings import Settings
from service.store.sqlite_connection import sqlite_path

_TABLE = "CREATE TABLE IF NOT EXISTS passed (key BYTEA, value BYTEA)"


Rows = list[tuple[bytes | None, bytes | None]]
#: The statements of the service's pattern around the insert (PostgreSQL): the read before
#: it, the publish's transaction begun with a row lock, and its delete with the commit.
_READ = "SELECT 1 FROM passed WHERE key = ANY($1::bytea[])"
_LOCK = "BEGIN; SET LOCAL synchronous_commit = off; SELECT 1 FROM passed WHERE key = '' FOR UPDATE"
_DELETE = "DELETE FROM passed WHERE key = ''; COMMIT"


class Storing(Protocol):
    async def store(self, rows: Rows) -> None: ...

    async def sent(self) -> None:
        """After the batch's records are acknowledged."""

    async def close(self) -> None: ...


class SqliteStoring:
    """One connection on a thread of its own, as the service's writer."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(_TABLE.replace("BYTEA", "BLOB"))

    def _insert(self, rows: Rows) -> None:
        with self.db:
            self.db.executemany("INSERT INTO passed VALUES (?, ?)", rows)

    async def store(self, rows: Rows) -> None:
        await asyncio.to_thread(self._insert, rows)

    async def sent(self) -> None:
        pass

    async def close(self) -> None:
        self.db.close()


class PostgresStoring:
    """One connection; one statement a batch, its commit waiting for the WAL's flush
    (``pattern``: with the service's three other round trips around it)."""

    def __init__(self, connection: asyncpg.Connection, pattern: bool) -> None:
        self.connection, self.pattern = connection, pattern

    @classmethod
    async def connect(cls, url: str, pattern: bool) -> "PostgresStoring":
        connection = await asyncpg.connect(url)
        await connection.execute(_TABLE)
        return cls(connection, pattern)

    async def store(self, rows: Rows) -> None:
        keys, values = [key for key, _ in rows], [value for _, value in rows]
        if self.pattern:
            await self.connection.fetch(_READ, keys)
        await self.connection.execute(
            "INSERT INTO passed SELECT * FROM unnest($1::bytea[], $2::bytea[])", keys, values
        )
        if self.pattern:
            await self.connection.execute(_LOCK)

    async def sent(self) -> None:
        if self.pattern:
            await self.connection.execute(_DELETE)

    async def close(self) -> None:
        await self.connection.close()


async def storing(url: str | None, round_trips: int = 1) -> Storing | None:
    if url is None:
        return None
    if url.startswith("postgresql://"):
        return await PostgresStoring.connect(url, round_trips == 4)
    return SqliteStoring(str(sqlite_path(url)))


async def passthrough(
    settings: Settings,
    ready_file: Path,
    stop: asyncio.Event,
    stored_first: str | None = None,
    round_trips: int = 1,
) -> None:
    await asyncio.wait_for(ensure_topics(settings), 30)
    consumer, producer = make_consumer(settings), make_producer(settings)
    store = await storing(stored_first, round_trips)
    await asyncio.wait_for(producer.start(), 30)
    try:
        consumer.subscribe([settings.commands_topic])
        await asyncio.wait_for(consumer.start(), 30)
        announced = False
        while not stop.is_set():
            polled = await consumer.getmany(timeout_ms=500, max_records=settings.max_batch_size)
            if not announced and consumer.assignment():
                await asyncio.to_thread(ready_file.touch)
                announced = True
            if not polled:
                continue
            if store is not None:
                await store.store([(r.key, r.value) for rs in polled.values() for r in rs])
            acks = [
                await producer.send(
                    settings.events_topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                )
                for records in polled.values()
                for record in records
            ]
            await asyncio.gather(*acks)
            if store is not None:
                await store.sent()
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in polled.items()})
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 15)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 15)
        if store is not None:
            await store.close()


async def _main(ready_file: Path, stored_first: str | None, round_trips: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await passthrough(Settings(), ready_file, stop, stored_first, round_trips)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.passthrough", description=__doc__)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument(
        "--stored-first",
        metavar="URL",
        help="store each batch durably before sending it, in the store at this URL (SQLite or"
        " PostgreSQL)",
    )
    parser.add_argument(
        "--round-trips",
        type=int,
        choices=(1, 4),
        default=1,
        help="with --stored-first on PostgreSQL: the insert alone (1), or the service's"
        " pattern of trivial statements around it (4)",
    )
    args = parser.parse_args(argv)
    asyncio.run(_main(args.ready_file, args.stored_first, args.round_trips))
    return 0


if __name__ == "__main__":
    sys.exit(main())
