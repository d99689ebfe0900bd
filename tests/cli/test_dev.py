"""``referrals dev`` stopped with Ctrl-C as a terminal sends it (to the whole process group),
with SIGTERM or SIGHUP, with its stderr gone; and its broker never outlives it, even killed."""

import asyncio
import contextlib
import json
import os
import shlex
import signal
import socket
from asyncio.subprocess import DEVNULL
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from service.api.compose import DEV_WARNING
from service.broker import free_port
from service.cli.dev_state import stored_referrals
from service.cli.serve import STOPPING
from service.settings import Settings
from service.store import open_store
from service.workers.count import worker_count
from tests.support.cli_runner import PIPE, Ran, referrals, spawn
from tests.support.http_probes import wait_ready

pytestmark = pytest.mark.broker

EXAMPLES = Path(__file__).parents[2] / "examples"
_COMPOSE = '"logger":"service.api.compose"'
#: How long a stop may take: the batch in flight, the commits, the group left, the broker.
STOP_BOUND_SECONDS = 30.0


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("sig", "to_group"),
    [(signal.SIGINT, True), (signal.SIGHUP, False)],
    ids=["ctrl-c-to-the-group", "terminal-closed"],
)
async def test_a_signal_stops_the_service_then_the_broker_cleanly(
    tmp_path: Path, sig: signal.Signals, to_group: bool
) -> None:
    port = free_port()
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{port}",
        http_port=free_port(),
        api_port=free_port(),
        database_url=SecretStr(f"sqlite:///{tmp_path}/dev.db"),
        fetch_max_wait_ms=20,
        session_timeout_ms=6000,
    )
    dev = await spawn(
        settings,
        "dev",
        stdout=PIPE,
        stderr=PIPE,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    try:
        await wait_ready(settings.http_port)
        referral = json.loads((EXAMPLES / "referral.json").read_text())
        lines = "\n".join(json.dumps({**referral, "id": f"dev-{n}"}) for n in range(50))
        sent = await referrals(settings, "send", "--ndjson", "-", stdin=lines.encode())
        assert sent.status == 0, sent
        api = f"http://127.0.0.1:{settings.api_port}/v1.0/engagements/referrals"
        async with httpx.AsyncClient(timeout=10) as http:  # development mode: no credentials
            read = await http.get(f"{api}/dev-0")
            written = await http.post(api, json={**referral, "id": "dev-rest"})
        assert (read.status_code, read.json()["id"]) == (200, "dev-0")
        assert (written.status_code, written.json()["id"]) == (201, "dev-rest")
        # Ctrl-C in a terminal signals the foreground group; a closing terminal's shell
        # hangs up the jobs it knows, so the process it started.
        (os.killpg if to_group else os.kill)(dev.pid, sig)
        _out, err = await asyncio.wait_for(dev.communicate(), 60)
    finally:
        if dev.returncode is None:
            os.killpg(dev.pid, signal.SIGKILL)
            await dev.wait()
    errors = err.decode()
    assert dev.returncode == 0, errors
    assert errors.count(STOPPING) == 1
    assert f"{api}/<referral id>" in errors  # the banner gives the read API's URL
    assert "Traceback" not in errors
    assert "Unclosed" not in errors
    assert '"level":"error"' not in errors
    # The one warning of a clean run: the read API checks no one in development mode.
    assert DEV_WARNING in errors
    assert '"level":"warning"' not in errors.replace(f'"level":"warning",{_COMPOSE}', "")
    assert not listening(port)  # the broker went with it
    store = open_store(settings.database_url.get_secret_value())
    await store.open()
    try:
        assert sum((await store.count_by_state()).values()) == 51
        assert await store.outbox_backlog() == 0  # every event was published before the stop
    finally:
        await store.close()


def dev_settings(tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        http_port=free_port(),
        api_port=free_port(),
        database_url=SecretStr(f"sqlite:///{tmp_path}/dev.db"),
        fetch_max_wait_ms=20,
        session_timeout_ms=6000,
    )


async def dev_with_stderr_gone(settings: Settings) -> asyncio.subprocess.Process:
    """``referrals dev`` without a terminal, ready, its stderr a pipe nobody reads any more
    (``make run | tee`` after tee ended)."""
    reader, writer = os.pipe()
    dev = await spawn(
        settings, "dev", stdin=DEVNULL, stdout=DEVNULL, stderr=writer, start_new_session=True
    )
    os.close(writer)
    try:
        await wait_ready(settings.http_port)
    finally:
        os.close(reader)
    return dev


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


async def gone_within(pid: int, seconds: float) -> bool:
    """Whether the process ends within ``seconds`` (a pidfd becomes readable when it does)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(handle, ended.set)
    try:
        await asyncio.wait_for(ended.wait(), seconds)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(handle)
        os.close(handle)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
async def test_a_signal_stops_dev_even_when_its_stderr_is_gone(
    tmp_path: Path, sig: signal.Signals
) -> None:
    settings = dev_settings(tmp_path)
    dev = await dev_with_stderr_gone(settings)
    children = children_of(dev.pid)
    assert len(children) == 1 + _workers(settings)
    try:
        dev.send_signal(sig)
        await asyncio.wait_for(dev.wait(), STOP_BOUND_SECONDS)
        assert dev.returncode == 0
        for child in children:
            assert await gone_within(child, STOP_BOUND_SECONDS)
    finally:
        if dev.returncode is None:
            os.killpg(dev.pid, signal.SIGKILL)
            await dev.wait()
        _kill_all(children)


async def test_the_broker_dies_with_dev_even_when_dev_is_killed_outright(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    dev = await dev_with_stderr_gone(settings)
    children = children_of(dev.pid)
    assert len(children) == 1 + _workers(settings)
    try:
        dev.kill()
        await dev.wait()
        for child in children:
            assert await gone_within(child, 10.0)
    finally:
        _kill_all(children)


def _workers(settings: Settings) -> int:
    """The worker processes dev starts beside the broker (none: the loop in its own)."""
    count = worker_count(settings.workers, settings.topic_partitions)
    return 0 if count == 1 else count


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def readme_sends() -> list[list[str]]:
    """The ``referrals send`` commands of the README's "Two commands", as written there."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Two commands") : readme.index("## The lifecycle rules")]
    lines = (line.split("  #")[0] for line in section.splitlines())
    return [shlex.split(line)[1:] for line in lines if line.startswith("referrals send ")]


async def run_dev_until_ctrl_c(settings: Settings, *commands: list[str]) -> tuple[str, list[Ran]]:
    """``referrals dev`` started, ``commands`` sent to it in turn, then a Ctrl-C; its stderr
    and the commands' results."""
    dev = await spawn(settings, "dev", stdout=DEVNULL, stderr=PIPE, start_new_session=True)
    try:
        await wait_ready(settings.http_port)
        ran = [await referrals(settings, *command) for command in commands]
        os.killpg(dev.pid, signal.SIGINT)
        _out, err = await asyncio.wait_for(dev.communicate(), STOP_BOUND_SECONDS)
    finally:
        if dev.returncode is None:
            os.killpg(dev.pid, signal.SIGKILL)
            await dev.wait()
    assert dev.returncode == 0, err.decode()
    return err.decode(), ran


async def test_make_run_after_make_run_takes_the_readme_commands_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES.parent)  # the README's paths are the checkout's
    settings = dev_settings(tmp_path)
    create, *later = readme_sends()
    assert create[:2] == ["send", "examples/referral.json"]
    assert [command[:3] for command in later] == [
        ["send", "--type", "referral.accept"],
        ["send", "--type", "referral.win"],
    ]

    first_banner, (created,) = await run_dev_until_ctrl_c(settings, create)
    assert created.status == 0, created
    assert "state: fresh" in first_banner
    assert "the last run's" not in first_banner

    second_banner, answers = await run_dev_until_ctrl_c(settings, create, *later)
    assert "state: fresh" in second_banner
    assert "the last run's store, 1 referral, was moved to " in second_banner
    events = [answer.stdout.split()[1:3] for answer in answers]
    assert [answer.status for answer in answers] == [0, 0, 0], answers
    assert events == [
        [f"referral.{event}", "contoso-001"] for event in ("created", "accepted", "won")
    ]
    kept = tmp_path / "dev.db.last-run"
    assert await stored_referrals(f"sqlite:///{kept}") == 1  # put aside, not lost
