"""The baseline: consume and re-produce each record unchanged, with the service's settings.

Reads the same ``REFERRALS_*`` settings as the service and builds its consumer and
producer with the service's own factories (same group semantics, ``fetch_max_wait_ms``,
``max_batch_size`` records per ``getmany``, acks=all without idempotence). Per batch it
sends every record to the events topic, waits for all acknowledgements, then commits the
batch's offsets: the service's loop with the decoding, the store and the state machine
taken out.

Run by the benchmark as ``python -m bench.passthrough --ready-file PATH``; the file
appears once partitions are assigned. SIGTERM stops it.
"""

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from service.kafka import ensure_topics, make_consumer, make_producer
from service.settings import Settings


async def passthrough(settings: Settings, ready_file: Path, stop: asyncio.Event) -> None:
    await asyncio.wait_for(ensure_topics(settings), 30)
    consumer, producer = make_consumer(settings), make_producer(settings)
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
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in polled.items()})
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 15)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 15)


async def _main(ready_file: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await passthrough(Settings(), ready_file, stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.passthrough", description=__doc__)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_main(args.ready_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
