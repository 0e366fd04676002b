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
    or NFSv4 folder honour.

    A holder may remove the file before it lets go (:func:`remove_lock`), so that no lock file outlives
    what it guards; a waiter that then gets the lock of the removed file opens the path again, since a
    new file there is what the next holder locks."""
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def remove_lock(path: str) -> None:
    """Remove the lock file ``path``; only while holding its :func:`exclusive_lock`."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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
