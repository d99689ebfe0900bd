"""The README's "Command line" section names every command, option and exit status."""

from pathlib import Path

import click
import pytest

from service.cli.exits import ExitStatus
from service.cli.main import cli

README = (Path(__file__).parents[2] / "README.md").read_text()
SECTION = README[README.index("## Command line") : README.index("## Deploy with Helm")]


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix}{name} ")
    return found


@pytest.mark.parametrize(("name", "command"), commands(cli), ids=lambda v: str(v))
def test_every_command_and_option_is_documented(name: str, command: click.Command) -> None:
    assert f"`{name}" in SECTION
    for param in command.params:
        if isinstance(param, click.Option):
            for spelling in (max(param.opts, key=len), *param.secondary_opts):
                assert spelling in SECTION, f"{name} {spelling}"


def test_every_global_option_and_exit_status_is_documented() -> None:
    for param in cli.params:
        assert max(param.opts, key=len) in SECTION
    for status in ExitStatus:
        assert f"\n| {int(status)} |" in SECTION, status
