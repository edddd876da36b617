"""Which neocloud made a result: the installed version and, in a git checkout, the commit."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]  # src/neocloud/version.py -> the checkout's root


def neocloud_version() -> str:
    """The installed neocloud version (``unknown`` when run from an uninstalled tree)."""
    try:
        return version("neocloud")
    except PackageNotFoundError:
        return "unknown"


@cache
def code_version() -> str:
    """The version of the code that runs now: the package version, plus ``+g`` and the commit's first 12 hex
    digits when the package runs from a git checkout (asked of git once, with a short timeout)."""
    from neocloud import __version__

    if not (REPOSITORY / ".git").exists():
        return __version__
    try:
        found = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--short=12", "HEAD"],
                               capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return __version__
    commit = found.stdout.strip()
    return f"{__version__}+g{commit}" if found.returncode == 0 and commit else __version__
