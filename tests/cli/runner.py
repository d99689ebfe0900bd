"""The real ``referrals`` command as a child process, configured by environment."""

import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Any

from service.jsonio import loads
from service.settings import Settings
from tests.integration.scenario import environment


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
    return {**os.environ, **environment(settings)}


async def referrals(
    settings: Settings, *args: str, stdin: bytes | None = None, within: float = 60.0
) -> Ran:
    """Run ``referrals ARGS`` to its end (at most ``within`` seconds)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        *args,
        env=cli_environment(settings),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(stdin), within)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise
    assert child.returncode is not None
    return Ran(child.returncode, out.decode(), err.decode())
