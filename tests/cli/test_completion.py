"""Shell completion comes from click: subcommands and options complete."""

import os
import subprocess
import sys


def complete(*words: str) -> list[str]:
    environment = {
        **os.environ,
        "_REFERRALS_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(["referrals", *words]),
        "COMP_CWORD": str(len(words)),
    }
    ran = subprocess.run(
        [sys.executable, "-m", "service.cli"], env=environment, capture_output=True, timeout=30
    )
    assert ran.returncode == 0, ran.stderr
    return [line.split(",", 1)[1] for line in ran.stdout.decode().splitlines()]


def test_subcommands_and_options_complete() -> None:
    assert complete("dlq", "re") == ["redrive"]
    assert "--topic" in complete("events", "--to")
