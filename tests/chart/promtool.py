"""Locate promtool, fetching it from the Debian archive when it is missing.

Looked up in order: ``promtool`` on PATH, then the project cache ``.cache/promtool/``.
Otherwise the Debian ``prometheus`` package is downloaded with ``apt-get download``
(after ``apt-get update`` if the first attempt fails), unpacked with ``dpkg-deb -x`` and
only its ``usr/bin/promtool`` kept in the cache. Nothing is installed system-wide. This
runs unattended in CI as root; when it cannot work, :class:`PromtoolUnavailable` says why
and the tests that need promtool fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.cache_lock import installing

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "promtool"
CACHED_BINARY = CACHE_DIR / "usr" / "bin" / "promtool"
_APT_TIMEOUT_SECONDS = 600


class PromtoolUnavailable(RuntimeError):
    """promtool is not installed and could not be fetched."""


def promtool() -> Path:
    """Path to a working promtool binary."""
    on_path = shutil.which("promtool")
    if on_path:
        return Path(on_path)
    with installing(CACHE_DIR):
        for candidate in (CACHED_BINARY, CACHE_DIR / "promtool"):
            if os.access(candidate, os.X_OK):
                return candidate
        _fetch_from_debian()
    return CACHED_BINARY


def _fetch_from_debian() -> None:
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise PromtoolUnavailable(
            f"promtool is not on PATH and {', '.join(missing)} is missing to fetch it; "
            f"install promtool (Debian/Ubuntu package 'prometheus') or put it in {CACHE_DIR}"
        )
    CACHE_DIR.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="promtool-", dir=CACHE_DIR.parent) as scratch:
        work = Path(scratch)
        # apt drops privileges to the _apt user for downloads; let it write here.
        work.chmod(0o755)
        deb = _download_prometheus_deb(work)
        unpacked = work / "unpacked"
        _run(["dpkg-deb", "-x", str(deb), str(unpacked)], cwd=work)
        binary = unpacked / "usr" / "bin" / "promtool"
        if not os.access(binary, os.X_OK):
            raise PromtoolUnavailable(f"{deb.name} does not contain usr/bin/promtool")
        staged = work / "cache"
        (staged / "usr" / "bin").mkdir(parents=True)
        shutil.move(binary, staged / "usr" / "bin" / "promtool")
        shutil.rmtree(CACHE_DIR, ignore_errors=True)
        staged.rename(CACHE_DIR)


def _download_prometheus_deb(work: Path) -> Path:
    try:
        _run(["apt-get", "download", "-q", "prometheus"], cwd=work)
    except PromtoolUnavailable:
        # Package lists may be missing or stale (fresh container): refresh, then retry.
        _run(["apt-get", "update", "-q"], cwd=work)
        _run(["apt-get", "download", "-q", "prometheus"], cwd=work)
    debs = sorted(work.glob("prometheus_*.deb"))
    if not debs:
        raise PromtoolUnavailable("apt-get download prometheus produced no .deb file")
    return debs[-1]


def _run(command: list[str], cwd: Path) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(
            command,
            cwd=cwd,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=_APT_TIMEOUT_SECONDS,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        output = getattr(error, "stderr", None) or getattr(error, "stdout", None) or ""
        raise PromtoolUnavailable(
            f"fetching promtool failed: {' '.join(command)}: {error}\n{output}".rstrip()
        ) from error
