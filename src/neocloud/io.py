"""Atomic file writes: a temporary file beside the target, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

FILE_MODE = 0o644  # what a plain write would give under the usual umask; mkstemp's 0600 would hide results


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write text or bytes to ``path`` so that readers see the old file or the whole new one."""
    mode = "wb" if isinstance(data, bytes) else "w"
    return write_atomic_with(path, lambda tmp: _write(tmp, data, mode))


def write_atomic_with(path: str | Path, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)`` to produce the file, then move it onto ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        os.chmod(tmp_path, FILE_MODE)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return path


def _write(path: Path, data: str | bytes, mode: str) -> None:
    with open(path, mode, encoding=None if mode == "wb" else "utf-8") as handle:
        handle.write(data)
