"""Every exit status of the README's table, each error one line on stderr."""

import asyncio
import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.broker import free_port
from service.cli.exits import ExitStatus
from service.settings import Settings
from tests.support.cli_runner import PIPE, referrals, spawn
from tests.support.postgres import database_url, fresh_postgres_database
from tests.support.services import running

pytestmark = [pytest.mark.broker, pytest.mark.asyncio(loop_scope="module")]

EXAMPLES = Path(__file__).parents[2] / "examples"


async def test_version_and_usage_errors_need_no_broker(settings: Settings) -> None:
    version = await referrals(settings, "--version")
    assert version.status == 0
    assert version.stdout.startswith("referrals, version ")
    for args in (["frobnicate"], ["send", "--no-such-option"], ["events", "--topic", "x"]):
        ran = await referrals(settings, *args)
        assert ran.status == ExitStatus.USAGE, args
        ran.assert_one_error_line()


async def test_settings_that_cannot_work_are_a_configuration_error(settings: Settings) -> None:
    ran = await referrals(settings, "show", "anything", "-d", "mysql://db/referrals")
    assert ran.status == ExitStatus.CONFIGURATION
    assert "unsupported database URL scheme" in ran.assert_one_error_line()


async def test_dev_refuses_a_broker_port_in_use(settings: Settings) -> None:
    port = settings.kafka_bootstrap_servers.rsplit(":", 1)[1]  # the running test broker
    ran = await referrals(settings, "dev", "--port", port)
    assert ran.status == ExitStatus.CONFIGURATION
    assert "in use" in ran.assert_one_error_line()


async def test_input_that_is_not_json_is_a_data_error(settings: Settings) -> None:
    ran = await referrals(settings, "send", "-", stdin=b'{"name": ')
    assert ran.status == ExitStatus.BAD_INPUT
    assert "not JSON" in ran.assert_one_error_line()
    missing = await referrals(settings, "send", "/no/such/file.json")
    assert missing.status == ExitStatus.BAD_INPUT
    missing.assert_one_error_line()


async def test_an_option_that_contradicts_the_envelope_is_refused(settings: Settings) -> None:
    envelope = str(EXAMPLES / "create-command.json")
    for option in (["--subject", "someone-else"], ["--type", "referral.accept"]):
        ran = await referrals(settings, "send", envelope, *option)
        assert ran.status == ExitStatus.USAGE
        assert "envelope has" in ran.assert_one_error_line()


async def test_an_unreachable_broker_is_one_line(settings: Settings) -> None:
    dead = f"127.0.0.1:{free_port()}"
    for args in (["send", str(EXAMPLES / "referral.json")], ["events"], ["dlq", "list"]):
        ran = await referrals(settings, "-b", dead, *args)
        assert ran.status == ExitStatus.BROKER_UNREACHABLE, ran
        assert f"broker at {dead} is unreachable" in ran.assert_one_error_line()
    debugged = await referrals(settings, "--debug", "-b", dead, "events")
    assert debugged.status != ExitStatus.OK
    assert "Traceback" in debugged.stderr
    assert "KafkaConnectionError" in debugged.stderr


@pytest.mark.postgres
async def test_show_refuses_a_store_that_does_not_exist(settings: Settings, tmp_path: Path) -> None:
    typo = f"sqlite:///{tmp_path}/refferals.db"
    ran = await referrals(settings, "show", "anything", "-d", typo)
    assert ran.status == ExitStatus.STORE_UNAVAILABLE
    assert "no SQLite store" in ran.assert_one_error_line()
    assert not (tmp_path / "refferals.db").exists()
    no_database = database_url("referrals_no_such_database")
    ran = await referrals(settings, "show", "anything", "-d", no_database)
    assert ran.status == ExitStatus.STORE_UNAVAILABLE
    assert "does not exist" in ran.assert_one_error_line()


async def test_each_outcome_has_its_status(shared_service: Settings) -> None:
    created = await referrals(
        shared_service, "send", str(EXAMPLES / "referral.json"), "--subject", "r1"
    )
    assert created.status == ExitStatus.OK, created
    assert "referral.created" in created.stdout
    again = await referrals(shared_service, "send", "--type", "referral.accept", "--subject", "r1")
    assert again.status == ExitStatus.OK
    noop = await referrals(shared_service, "send", "--type", "referral.accept", "--subject", "r1")
    assert (noop.status, "changed nothing" in noop.stdout) == (ExitStatus.OK, True)
    rejected = await referrals(
        shared_service, "send", "--type", "referral.accept", "--subject", "nope"
    )
    assert rejected.status == ExitStatus.REJECTED
    assert "itemNotFound" in rejected.stdout
    unknown = json.dumps(
        {
            "specversion": "1.0",
            "id": "u1",
            "type": "referral.frob",
            "source": "urn:t",
            "subject": "r1",
        }
    )
    dead = await referrals(shared_service, "send", "-", stdin=unknown.encode())
    assert dead.status == ExitStatus.DEAD_LETTERED
    assert "unknown-type" in dead.stdout
    shown = await referrals(shared_service, "--json", "show", "r1")
    assert (shown.status, shown.json_lines()[0]["status"]) == (ExitStatus.OK, "Active")
    missing = await referrals(shared_service, "show", "nobody")
    assert missing.status == ExitStatus.NOT_FOUND
    missing.assert_one_error_line()


async def test_json_output_is_one_object_per_line(shared_service: Settings) -> None:
    ran = await referrals(shared_service, "--json", "send", str(EXAMPLES / "referral.json"))
    [outcome] = ran.json_lines()
    assert outcome["outcome"] == "applied"
    assert [event["type"] for event in outcome["events"]] == ["referral.created"]
    assert outcome["events"][0]["causationid"] == outcome["command"]
    subject = outcome["events"][0]["subject"]
    won = await referrals(
        shared_service, "send", "--json", "--type", "referral.win", "--subject", subject
    )
    assert won.json_lines()[0]["outcome"] == "applied"
    back = await referrals(
        shared_service, "send", "--json", "--type", "referral.accept", "--subject", subject
    )
    assert back.json_lines()[0]["outcome"] == "rejected"
    assert back.json_lines()[0]["code"] == "illegalTransition"


async def test_no_outcome_in_time_is_a_timeout(settings: Settings) -> None:
    # Nothing consumes the commands topic: the command is sent, and no outcome comes.
    ran = await referrals(
        settings, "send", "--type", "referral.accept", "--subject", "r", "--timeout", "1"
    )
    assert ran.status == ExitStatus.TIMED_OUT
    assert "no outcome" in ran.assert_one_error_line()


async def test_a_closed_output_pipe_ends_quietly(shared_service: Settings) -> None:
    await referrals(shared_service, "send", str(EXAMPLES / "referral.json"), "--subject", "p0")
    read_end, write_end = os.pipe()
    child = await spawn(
        shared_service, "events", "--follow", "--from-beginning", stdout=write_end, stderr=PIPE
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as output:
        first = await asyncio.wait_for(asyncio.to_thread(output.readline), 30)
        assert b"referral." in first
    # The reader is gone (as `| head -1` goes); the next event written ends the command.
    await referrals(shared_service, "send", "--type", "referral.accept", "--subject", "p0")
    assert await asyncio.wait_for(child.wait(), 30) == ExitStatus.BROKEN_PIPE
    assert child.stderr is not None
    assert (await child.stderr.read()) == b""


@pytest.mark.postgres
async def test_show_reads_a_postgresql_store_by_url(settings: Settings) -> None:
    async with fresh_postgres_database() as url:
        on_postgres = settings.model_copy(update={"database_url": SecretStr(url)})
        async with running(on_postgres):
            sent = await referrals(
                on_postgres, "send", str(EXAMPLES / "referral.json"), "--subject", "pg-1"
            )
            assert sent.status == ExitStatus.OK, sent
        shown = await referrals(settings, "--json", "show", "pg-1", "-d", url)
        assert shown.status == ExitStatus.OK, shown
        assert shown.json_lines()[0]["id"] == "pg-1"
