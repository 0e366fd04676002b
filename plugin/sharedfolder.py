"""Files that several Orthanc processes (the peers of a cluster) share in one folder: an exclusive lock
across processes, and writes that a reader never sees half done."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from typing import Iterator


@contextlib.contextmanager
def exclusive_lock(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on the file ``path`` (created if needed), which processes sharing a local
    or NFSv4 folder honour."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` (named ``.tmp-*``), then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
