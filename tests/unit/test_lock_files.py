"""The lock files are in step with pyproject.toml: every declared requirement is pinned
to a version it allows (run `make lock` after changing a dependency), and the image's lock
pins what CI tests and what `make run` installs."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    return {canonicalize_name(package): version for package, version in _PIN.findall(text)}


def _unpinned(requirements: list[str], pins: dict[str, str], extras: tuple[str, ...]) -> list:
    problems = []
    for line in requirements:
        requirement = Requirement(line)
        if requirement.name == PROJECT["name"]:
            continue  # the project's own extras, locked through their members
        if requirement.marker and not requirement.marker.evaluate({"extra": extras[-1]}):
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            problems.append((line, pinned))
    return problems


def test_the_image_lock_pins_every_runtime_dependency() -> None:
    assert _unpinned(PROJECT["dependencies"], _pins("requirements.lock"), ("",)) == []


@pytest.mark.parametrize("extra", ["dev", "embedded"])
def test_the_dev_lock_pins_every_dependency_and_extra(extra: str) -> None:
    pins = _pins("requirements-dev.lock")
    requirements = PROJECT["dependencies"] + PROJECT["optional-dependencies"][extra]
    assert _unpinned(requirements, pins, (extra,)) == []


def test_the_run_lock_pins_every_runtime_dependency_and_the_embedded_broker() -> None:
    requirements = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["embedded"]
    assert _unpinned(requirements, _pins("requirements-run.lock"), ("embedded",)) == []


@pytest.mark.parametrize("lock", ["requirements-dev.lock", "requirements-run.lock"])
def test_ci_and_make_run_use_the_versions_the_image_ships(lock: str) -> None:
    pins = _pins(lock)
    runtime = _pins("requirements.lock")
    assert {name: pins.get(name) for name in runtime} == runtime
