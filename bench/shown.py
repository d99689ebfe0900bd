"""What a report says of a run's settings and workload."""

import inspect
from typing import Any
from unittest import mock

from aiokafka import AIOKafkaProducer

from bench.options import Options
from bench.postgres import Server
from bench.report_model import LATENCY, THROUGHPUT, WARMUP
from bench.rounds import default_workers
from bench.workload import DUPLICATE_SHARE, REJECTED_SHARE, Record, summary
from service.kafka import make_producer
from service.settings import Settings
from service.workers.count import usable_cpus


def settings_shown(settings: Settings, server: Server | None, options: Options) -> dict[str, str]:
    if server is None:
        postgres = "not measured (`--no-postgres`)"
    else:
        postgres = (
            f"PostgreSQL {server.version} at {server.address}, a fresh database for each run, "
            f"dropped after it; pool of {settings.database_pool_size} connections "
            f"(database_pool_size) per process; server "
            f"synchronous_commit={server.synchronous_commit}, "
            f"fsync={server.fsync}"
        )
    return {
        "fetch_max_wait_ms": str(settings.fetch_max_wait_ms),
        "max_batch_size": f"{settings.max_batch_size} (records per getmany)",
        "topic_partitions": str(settings.topic_partitions),
        "workers": workers_shown(settings, options),
        "event_mode": settings.event_mode.value,
        "session_timeout_ms": str(settings.session_timeout_ms),
        "producer": f"{producer_shown(settings)} (service.kafka.make_producer)",
        "store (SQLite)": "a file in the run's temporary directory, WAL, synchronous=FULL "
        "(the service's embedded default)",
        "store (PostgreSQL)": postgres,
        "log_level": settings.log_level,
    }


def workers_shown(settings: Settings, options: Options) -> str:
    default = default_workers(settings.topic_partitions)
    return (
        f"{', '.join(options.workers)} (`--workers`); the default, 0, is {default} here: "
        f"{usable_cpus()} usable CPUs (service.workers.count), capped by "
        f"{settings.topic_partitions} "
        "partitions"
    )


def producer_shown(settings: Settings) -> str:
    """What ``make_producer`` passes to ``AIOKafkaProducer``, aiokafka's default otherwise:
    the options are caught on their way in, so the report follows the code."""
    passed: dict[str, Any] = {}

    def catch(**options: Any) -> None:
        passed.update(options)

    with mock.patch("service.kafka.AIOKafkaProducer", catch):
        make_producer(settings)
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(AIOKafkaProducer).parameters.items()
    }

    def option(name: str) -> Any:
        return passed.get(name, defaults.get(name))

    idempotence = "idempotent" if option("enable_idempotence") else "no idempotence"
    return (
        f"acks={option('acks')}, {idempotence}, linger_ms={option('linger_ms')},"
        f" max_batch_size={option('max_batch_size')} bytes"
    )


def workload_shown(streams: dict[str, list[Record]], options: Options) -> dict[str, str]:
    shown: dict[str, str] = {}
    for phase, stream in streams.items():
        counts = summary(stream)
        mean_bytes = counts["bytes"] / max(len(stream), 1)
        referrals = {
            WARMUP: options.warmup_referrals,
            THROUGHPUT: options.referrals,
            LATENCY: options.latency_referrals,
        }[phase]
        how = {
            WARMUP: "sent before measuring, not counted",
            THROUGHPUT: "queued as a backlog, then consumed",
            LATENCY: f"produced at {options.rate:g} commands/s",
        }[phase]
        shown[phase] = (
            f"{counts['commands']} commands over {referrals} referrals ({how}): "
            f"applied {counts['event']}, refused {counts['rejection']}, "
            f"duplicates {counts['duplicate']}; mean record {mean_bytes:.0f} B"
        )
    shown["mix"] = (
        f"per referral create, 2 patches, accept, win/lose/decline; ~{REJECTED_SHARE:.0%} "
        f"refused, ~{DUPLICATE_SHARE:.0%} duplicates; structured/binary 50/50; "
        f"{options.in_flight} referrals interleaved; seed {options.seed}"
    )
    return shown
