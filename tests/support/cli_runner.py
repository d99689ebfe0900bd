"""The real ``referrals`` command as a child process, configured by environment."""

import asyncio
import os
import pty
import sys
from dataclasses import dataclass
from typing import Any

from service.jsonio import loads
from service.settings import Settings

PIPE = asyncio.subprocess.PIPE


@dataclass(frozen=True)
class Ran:
    status: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[Any]:
        return [loads(line) for line in self.stdout.splitlines() if line.strip()]

    def assert_one_error_line(self) -> str:
        """The error is one line on stderr, no traceback; returns it."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("referrals: "), self.stderr
        assert "Traceback" not in self.stderr
        return lines[0]


def cli_environment(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.environment()}


async def spawn(settings: Settings, *args: str, **streams: Any) -> asyncio.subprocess.Process:
    """Start ``referrals ARGS`` configured like the service; ``streams`` as for subprocesses."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli", *args, env=cli_environment(settings), **streams
    )


async def referrals(
    settings: Settings, *args: str, stdin: bytes | None = None, within: float = 60.0
) -> Ran:
    """Run ``referrals ARGS`` to its end (at most ``within`` seconds)."""
    child = await spawn(settings, *args, stdin=PIPE, stdout=PIPE, stderr=PIPE)
    try:
        out, err = await asyncio.wait_for(child.communicate(stdin), within)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise
    assert child.returncode is not None
    return Ran(child.returncode, out.decode(), err.decode())


async def referrals_with_terminal(
    settings: Settings, *args: str, stdin: bytes, within: float = 60.0
) -> Ran:
    """As ``referrals``, with stderr on a pseudo-terminal (what a person at a shell has)."""
    controller, terminal = pty.openpty()
    child = await spawn(settings, *args, stdin=PIPE, stdout=PIPE, stderr=terminal)
    os.close(terminal)
    seen = asyncio.create_task(asyncio.to_thread(_read_all, controller))
    out, _ = await asyncio.wait_for(child.communicate(stdin), within)
    err = await asyncio.wait_for(seen, within)
    assert child.returncode is not None
    return Ran(child.returncode, out.decode(), err.decode(errors="replace"))


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed its end of the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
