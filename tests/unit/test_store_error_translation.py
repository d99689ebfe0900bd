"""What the PostgreSQL client raises when a session breaks under the service is an outage of
the store (retried, the connection dropped), never a refusal that could be blamed on a
record; what the server refuses for what a statement holds is a refusal."""

import asyncpg
import pytest

from service.errors import Component, StoreRefused, StoreUnavailable, is_outage, translate

BROKEN_SESSIONS = [
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
    asyncpg.exceptions.InternalClientError("cannot switch to state 15"),
    asyncpg.exceptions.ProtocolError("unexpected message"),
    asyncpg.exceptions.OutdatedSchemaCacheError("cached statement plan is invalid"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.SerializationError("could not serialize access"),
    ConnectionResetError("reset by peer"),
]


@pytest.mark.parametrize("error", BROKEN_SESSIONS, ids=lambda e: type(e).__name__)
def test_a_broken_session_is_an_outage_of_the_store(error: Exception) -> None:
    translated = translate(error, Component.STORE)
    assert isinstance(translated, StoreUnavailable)
    assert is_outage(translated)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.StringDataRightTruncationError("value too long"),
        asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_what_the_server_refuses_for_a_statement_s_values_is_a_refusal(error: Exception) -> None:
    assert isinstance(translate(error, Component.STORE), StoreRefused)
