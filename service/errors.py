"""Errors of the service shell, the one table that translates foreign errors into them,
and how long to wait before trying again.

- ``ServiceError``: the root.
  - ``StoreUnavailable`` (retriable): the database could not be reached, or failed in a way
    that says nothing about the data (locked, out of space, shutting down, I/O).
  - ``StoreRefused`` (not an outage): the database refused what it was asked to hold (a
    value it cannot store, a limit, a constraint). Possibly caused by one record.
  - ``BrokerUnavailable`` (retriable): Kafka did not acknowledge a publish or a commit.
  - ``BrokerRefused`` (retried, not an outage): Kafka refused one record for what it is
    (too large, invalid). The outbox publisher reroutes a record refused repeatedly to the
    dead-letter topic, so retrying always ends.
  - ``StaleWrite`` (retriable after reloading): a referral's stored version moved on
    since it was loaded, i.e. another replica wrote it; the batch is decided again.
  - ``ConfigurationError`` (fatal): the settings cannot work, e.g. an unknown database URL.
- ``RecordFailed``: what a stage of the consume side raises when processing failed for a
  reason that is not an outage, with the ``Stage`` it failed in (``failing_as``); its
  records get isolated.

Domain refusals are not errors here: they are ``state.Rejected`` values. Records that are
not commands raise ``service.codec.Undecodable``. Driver and client exceptions become
service errors only through ``translated()``. The consume loop alone decides what to
retry, reject or dead-letter: it retries outages, and isolates a record when anything
else goes wrong (see ``service.consume``).
"""

import contextlib
import random
import sqlite3
import traceback
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Final, TypeGuard

import asyncpg
from aiokafka import errors as kafka


class Component(StrEnum):
    """A dependency a failure is of, and what a retrying batch waits for (the ``component``
    label of retries)."""

    STORE = "store"
    BROKER = "broker"
    CONFLICT = "conflict"  # another replica wrote the same referral: not an outage


#: PostgreSQL error classes (SQLSTATE's first two characters) that mean an outage:
#: connection, transaction rollback, object in use, insufficient resources, operator
#: intervention, system error, read-only transaction.
_POSTGRES_OUTAGE_CLASSES = frozenset({"08", "25", "40", "53", "55", "57", "58", "XX"})
#: Kafka errors that refuse one record for what it is, not the broker being away.
_KAFKA_RECORD_REFUSALS = (
    kafka.MessageSizeTooLargeError,
    kafka.RecordListTooLargeError,
    kafka.RecordTooLargeError,
    kafka.CorruptRecordException,
    kafka.InvalidMessageError,
    kafka.InvalidTimestampError,
)


class ServiceError(Exception):
    retriable = False


class StoreUnavailable(ServiceError):
    retriable = True


class StoreRefused(ServiceError):
    pass


class BrokerUnavailable(ServiceError):
    retriable = True


class BrokerRefused(ServiceError):
    retriable = True


class StaleWrite(ServiceError):
    retriable = True


class WorkersFailing(ServiceError):
    """The worker processes of ``referrals run`` keep ending: the parent gives up."""


class ConfigurationError(ServiceError):
    pass


def is_outage(error: BaseException) -> TypeGuard[ServiceError]:
    """Whether ``error`` is an outage, to be retried as it is; any other failure may be a
    record's."""
    return isinstance(error, ServiceError) and error.retriable


class Stage(StrEnum):
    """The stage of a batch a record failed in (the ``stage`` label of poison records)."""

    DECODE = "decode"
    DECIDE = "decide"
    STORE = "store"
    PUBLISH = "publish"

    @property
    def deterministic(self) -> bool:
        """Whether the same input fails the same way here: no retry can help."""
        return self in (Stage.DECODE, Stage.DECIDE)


class RecordFailed(Exception):
    """Processing failed for a reason that is not an outage; its records get isolated."""

    def __init__(self, stage: Stage, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__} in the {stage} stage")
        self.stage = stage
        self.error = error

    def describe(self) -> str:
        """Class names and the place it happened; no message, so no data from the record."""
        names = [type(self.error).__name__]
        if self.error.__cause__ is not None:
            names.append(type(self.error.__cause__).__name__)
        frames = traceback.extract_tb(self.error.__traceback__)
        where = f" at {Path(frames[-1].filename).stem}.{frames[-1].name}" if frames else ""
        return f"{' from '.join(names)} in the {self.stage} stage{where}"


@contextlib.contextmanager
def failing_as(stage: Stage) -> Iterator[None]:
    """Raise what fails in the block as the RecordFailed of ``stage``, unless it is an outage
    (raised as it is, to be retried) or already a RecordFailed."""
    try:
        yield
    except RecordFailed:
        raise
    except Exception as error:
        if is_outage(error):
            raise
        raise RecordFailed(stage, error) from error


#: The SQLSTATE the store's own statements raise when another replica wrote first
#: (service.store.migrations: ``referrals_stale_write``).
STALE_WRITE_SQLSTATE: Final = "RL409"


def _postgres(error: BaseException) -> ServiceError:
    sqlstate = str(getattr(error, "sqlstate", "") or "")
    if sqlstate == STALE_WRITE_SQLSTATE:
        return StaleWrite(str(getattr(error, "message", "") or error))
    outage = sqlstate[:2] in _POSTGRES_OUTAGE_CLASSES
    return (StoreUnavailable if outage else StoreRefused)(f"PostgreSQL failed: {error}")


_Kinds = type[BaseException] | tuple[type[BaseException], ...]
_Make = Callable[[BaseException], ServiceError]

#: Driver and client exception -> the service error it means; the first matching row wins.
_TABLE: tuple[tuple[_Kinds, _Make], ...] = (
    ((sqlite3.OperationalError, sqlite3.InternalError),
     lambda e: StoreUnavailable(f"SQLite failed: {e}")),
    (sqlite3.Error, lambda e: StoreRefused(f"SQLite refused: {e}")),
    (asyncpg.exceptions._base.DataError, lambda e: StoreRefused(f"PostgreSQL refused: {e}")),
    (asyncpg.PostgresError, _postgres),
    (asyncpg.InterfaceError, lambda e: StoreUnavailable(f"PostgreSQL failed: {e}")),
    # The client's own state with the server broke (a session the server ended while idle
    # in a transaction, a message out of turn): the connection is dropped, the work retried.
    (asyncpg.exceptions._base.InternalClientError,
     lambda e: StoreUnavailable(f"PostgreSQL connection broken: {e}")),
    (_KAFKA_RECORD_REFUSALS, lambda e: BrokerRefused(f"Kafka refused the record: {e}")),
    (kafka.KafkaError, lambda e: BrokerUnavailable(f"Kafka failed: {e}")),
)  # fmt: skip
#: Network errors that carry no driver name: an outage of whichever part was being used.
_UNREACHABLE: dict[Component, type[ServiceError]] = {
    Component.STORE: StoreUnavailable,
    Component.BROKER: BrokerUnavailable,
}


def translate(error: BaseException, component: Component) -> ServiceError | None:
    """The service error a driver or client exception means; None for any other exception."""
    if isinstance(error, ServiceError):
        return error
    for kinds, make in _TABLE:
        if isinstance(error, kinds):
            return make(error)
    if isinstance(error, OSError | TimeoutError):
        return _UNREACHABLE[component](f"the {component} is unreachable: {error}")
    return None


@contextlib.contextmanager
def translated(component: Component) -> Iterator[None]:
    """Re-raise driver and client exceptions as service errors; let anything else through."""
    try:
        yield
    except ServiceError:
        raise
    except Exception as error:
        service_error = translate(error, component)
        if service_error is None:
            raise
        raise service_error from error


def backoff(initial: float, maximum: float) -> Iterator[float]:
    """Delays before each retry: doubling up to ``maximum``, with jitter so that replicas
    failing together do not retry together."""
    delay = initial
    while True:
        yield delay * random.uniform(0.5, 1.0)
        delay = min(delay * 2, maximum)
