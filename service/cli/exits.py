"""Exit statuses of the ``referrals`` command, and the one place errors become them.

Outcomes of a command sent (rejected, dead-lettered, no outcome in time) and a referral
not found have small numbers; errors of the command line itself follow the BSD sysexits
convention, so a script tells "the service refused my command" from "I called it wrong"
and from "the broker is down". Every error is one line on stderr: ``referrals: ...``.
"""

import errno
import sqlite3
from enum import IntEnum

import asyncpg
import click
import pydantic
import pydantic_settings
from aiokafka import errors as kafka

from service.broker import BrokerError
from service.errors import (
    BrokerRefused,
    BrokerUnavailable,
    ConfigurationError,
    StoreRefused,
    StoreUnavailable,
    WorkersFailing,
)


class ExitStatus(IntEnum):
    OK = 0
    REJECTED = 2  # the service rejected a command (a rejection event)
    DEAD_LETTERED = 3  # a record went to the dead-letter topic
    TIMED_OUT = 4  # no outcome within --timeout
    NOT_FOUND = 5  # no such referral or dead letter
    SKIPPED = 6  # bulk redrive: some dead letters cannot be sent as they are; the rest went
    USAGE = 64  # EX_USAGE: unknown option, missing argument, conflicting options
    BAD_INPUT = 65  # EX_DATAERR: the input file is not what the command needs
    INTERNAL = 70  # EX_SOFTWARE: a bug; --debug shows the traceback
    BROKER_UNREACHABLE = 69  # EX_UNAVAILABLE: the Kafka broker did not answer
    STORE_UNAVAILABLE = 74  # EX_IOERR: the store is missing, did not answer, or refused
    CONFIGURATION = 78  # EX_CONFIG: the settings or the data (a schema not this one's) cannot work
    INTERRUPTED = 130  # Ctrl-C outside `dev` and `run`
    BROKEN_PIPE = 141  # the reader of stdout went away (as SIGPIPE would end it)


class CliError(Exception):
    """An error the command line reports as one line, with its exit status."""

    def __init__(self, status: ExitStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_BY_TYPE: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], ExitStatus], ...] = (
    (ConfigurationError, ExitStatus.CONFIGURATION),
    (WorkersFailing, ExitStatus.INTERNAL),
    ((BrokerUnavailable, BrokerRefused, BrokerError), ExitStatus.BROKER_UNREACHABLE),
    (
        (StoreUnavailable, StoreRefused, sqlite3.Error, asyncpg.PostgresError),
        ExitStatus.STORE_UNAVAILABLE,
    ),
)


def classify(error: BaseException, bootstrap_servers: str | None) -> tuple[ExitStatus, str]:
    """The exit status and what is said on stderr: the help when a command was not chosen,
    else one line, ``referrals: ...``."""
    if isinstance(error, click.exceptions.NoArgsIsHelpError):
        return ExitStatus.USAGE, error.format_message()  # the help: what to choose from
    status, message = _classified(error, bootstrap_servers)
    return status, f"referrals: {message}"


def _classified(error: BaseException, bootstrap_servers: str | None) -> tuple[ExitStatus, str]:
    if isinstance(error, CliError):
        return error.status, error.message
    if isinstance(error, click.UsageError):
        return ExitStatus.USAGE, f"{error.format_message()} (see --help)"
    if isinstance(error, pydantic.ValidationError):
        return ExitStatus.CONFIGURATION, f"invalid settings: {_first_problem(error)}"
    if isinstance(error, pydantic_settings.SettingsError):  # a value that is not even JSON
        return ExitStatus.CONFIGURATION, f"invalid settings: {error}"
    if isinstance(error, kafka.KafkaError):
        where = f" at {bootstrap_servers}" if bootstrap_servers else ""
        if isinstance(error, kafka.KafkaConnectionError | kafka.KafkaTimeoutError):
            return ExitStatus.BROKER_UNREACHABLE, f"the Kafka broker{where} is unreachable"
        return ExitStatus.BROKER_UNREACHABLE, f"the Kafka broker{where} failed: {error}"
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return ExitStatus.CONFIGURATION, f"{error.strerror or error} (another process has it)"
    for kinds, status in _BY_TYPE:
        if isinstance(error, kinds):
            return status, str(error) or type(error).__name__
    return ExitStatus.INTERNAL, f"unexpected {type(error).__name__}: {error} (--debug shows more)"


def _first_problem(error: pydantic.ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}" if where else str(problem["msg"])
