"""Durable file writes: a file replaced whole, or not at all, and still there after a power loss.

``write_atomically`` writes a temporary file beside the target (opened with ``O_SYNC`` and
fsynced), renames it over the target, then fsyncs the directory: without that last step
the rename itself may be lost after a power cut and the old file come back (cometbft #6031),
which for a signer's state means signing twice.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` by ``data``: after a crash at any instant the file holds either its
    old bytes or ``data``, and once this returns it holds ``data`` even after a power cut."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_SYNC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_directory(path.parent)
