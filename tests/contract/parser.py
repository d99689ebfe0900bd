"""The AsyncAPI tools the contract tests run on node, pinned by package-lock.json: the
official parser (npm ``@asyncapi/parser``) and the model generator Modelina (npm
``@asyncapi/modelina``), installed on first use with ``npm ci`` into the project cache
``.cache/asyncapi-parser``.

Like promtool for the chart tests: when node or npm is missing or the install fails,
:class:`ParserUnavailable` says why and the test that needs the tools fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.cache_lock import installing

HERE = Path(__file__).resolve().parent
CACHE_DIR = HERE.parents[1] / ".cache" / "asyncapi-parser"
_FILES = ("package.json", "package-lock.json", "validate.mjs", "models.mjs")
_PACKAGES = ("parser", "modelina")
_TIMEOUT_SECONDS = 300


class ParserUnavailable(RuntimeError):
    """node or the AsyncAPI tools are not installed and could not be."""


def validator() -> Path:
    """The validating script, next to an installed parser."""
    return _installed() / "validate.mjs"


def model_generator() -> Path:
    """The script that generates models with Modelina and prints their names."""
    return _installed() / "models.mjs"


def _installed() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise ParserUnavailable("the AsyncAPI parser and Modelina need node and npm on PATH")
    with installing(CACHE_DIR):
        _install_unless_current(npm)
    return CACHE_DIR


def _install_unless_current(npm: str) -> None:
    """``npm ci`` unless the cache holds this lock's packages (under the install lock)."""
    current = all(
        (CACHE_DIR / name).exists()
        and (CACHE_DIR / name).read_bytes() == (HERE / name).read_bytes()
        for name in _FILES
    )
    modules = CACHE_DIR / "node_modules" / "@asyncapi"
    if not current or not all((modules / package).is_dir() for package in _PACKAGES):
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            shutil.copyfile(HERE / name, CACHE_DIR / name)
        try:
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=CACHE_DIR,
                check=True,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_SECONDS,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            output = getattr(error, "stderr", None) or ""
            raise ParserUnavailable(
                f"npm ci of the AsyncAPI tools failed: {error}\n{output}"
            ) from error
