"""Atomic file writes: write to a temp file in the same directory, fsync, then rename.

A crash at any point leaves either the previous file or the new one, never a half-written file.

Permissions are those of a plain `open(path, "w")`, not the private 0600 of `tempfile.mkstemp`: a file
that replaces another keeps that file's mode (and, where the writer may set it, its group); a new file
gets 0666 minus the umask (and the directory's default ACL). The temp file is created with mode 0666 and
the kernel applies the umask, so the umask is never read (reading it means setting it, racy in threads).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temp file beside `path`, created as a plain open() would create it."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temp file name for {path.name}")


def _keep_permissions(fd: int, path: Path) -> None:
    """Give the temp file `fd` the mode (and, where allowed, the group) of the file it will replace."""
    try:
        old = os.stat(path)
    except FileNotFoundError:
        return  # a new file: the mode the kernel gave the temp file is the one open() would give
    if old.st_gid != os.fstat(fd).st_gid:
        with contextlib.suppress(PermissionError):  # only the file's owner in that group may do it
            os.fchown(fd, -1, old.st_gid)
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside `path`; on clean exit it replaces `path` atomically (see the module doc)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = _create_temp(path)
    try:
        f = os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else "")
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        with f:
            yield f
            f.flush()
            _keep_permissions(f.fileno(), path)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)
