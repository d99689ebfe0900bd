"""Child processes of the benchmark (the service and the passthrough) and their settings.

Both are configured the way production is: by ``REFERRALS_*`` environment variables.
Inherited ``REFERRALS_*`` variables are dropped so a run depends only on its options.
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

from service.settings import Settings


def environment(settings: Settings) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("REFERRALS_")}
    return {**inherited, **settings.environment()}


class Child:
    """A Python module run as a child process, its output in a log file."""

    def __init__(
        self, name: str, args: Sequence[str], env: Mapping[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.args = [sys.executable, "-m", *args]
        self.env = dict(env)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def pause(self) -> None:
        """Freeze the child (SIGSTOP), so a backlog can be queued before it is measured."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def peak_rss_mib(self) -> float | None:
        """The child's peak resident memory so far (VmHWM), in MiB; None when unknown."""
        if self._process is None:
            return None
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with status {self._process.returncode}:\n{self.tail()}"
            )

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode

    def tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


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
