"""Child processes of the benchmark (the service and the passthrough) and their settings.

Both are configured the way production is: by ``REFERRALS_*`` environment variables.
Inherited ``REFERRALS_*`` variables are dropped (``Settings.child_environment``) so a run
depends only on its options.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from bench.process_tree import Sampler, TreeMemory, group_members


class Child:
    """A Python module run as a child process, its output in a log file.

    The child is started in a session of its own, so it and every process it starts (the
    service's workers) form a process group: pausing and resuming signal the whole group,
    while stopping sends SIGTERM to the child alone, which stops its own processes. The
    group's peak resident memory is sampled while it runs (``memory``)."""

    def __init__(
        self, name: str, args: Sequence[str], env: Mapping[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.args = [sys.executable, "-m", *args]
        self.env = dict(env)
        self.log_path = log_path
        self.memory: TreeMemory | None = None
        #: Processes of the group still there after the child exited (then killed).
        self.leftovers: list[int] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._sampler: Sampler | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.memory = TreeMemory(self._process.pid)
        self._sampler = Sampler(self.memory)
        self._sampler.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def members(self) -> list[int]:
        """The pids of the live processes of the child's group, sorted."""
        return group_members(self._process.pid) if self._process is not None else []

    def pause(self) -> None:
        """Freeze the child's whole group (SIGSTOP), so a backlog can be queued before it
        is measured."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def _signal_group(self, signum: int) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signum)

    def sample_memory(self) -> TreeMemory | None:
        """The group's peak memory so far, sampled now as well."""
        if self._sampler is not None:
            self._sampler.sample()
        return self.memory

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with status {self._process.returncode}:\n{self.tail()}"
            )

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM to the child alone (it stops its own processes), then SIGKILL to the
        whole group after ``grace`` seconds; returns the child's exit status. Processes of
        the group that outlive the child by ``grace`` are killed and kept in
        ``leftovers``."""
        process, self._process = self._process, None
        if process is None:
            return None
        if self._sampler is not None:
            self._sampler.sample()
            self._sampler.stop()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGCONT)  # a paused group cannot stop
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.leftovers = _reap_group(process.pid, grace)
        return process.returncode

    def tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _reap_group(pgid: int, within: float) -> list[int]:
    """Wait up to ``within`` seconds for group ``pgid`` to be empty; kill what is left and
    return its pids."""
    deadline = time.monotonic() + within
    while members := group_members(pgid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            return members
        time.sleep(0.05)  # polling /proc for processes with no parent of ours to wait on
    return []


async def http_get(port: int, path: str, within: float = 5.0) -> tuple[int, bytes] | None:
    """An HTTP/1.1 GET on 127.0.0.1; None when nothing answers."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), within)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        await asyncio.wait_for(writer.drain(), within)
        response = await asyncio.wait_for(reader.read(), within)
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ")[1]), body
    except (IndexError, ValueError):
        return None


async def wait_until(
    what: str, condition: Callable[[], Awaitable[bool]], child: Child, within: float
) -> None:
    """Poll ``condition`` until it holds; fail at once if the child exits meanwhile."""
    deadline = time.monotonic() + within
    while not await condition():
        child.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {within}s; {child.name} log:\n{child.tail()}")
        await asyncio.sleep(0.1)  # polling readiness, not a synchronisation
