"""Open a data file that may be gzip-compressed, with one clear error naming the file for each way it breaks.

The name decides how a file is read (`.gz`: gzip), and the first two bytes must agree: a `.jsonl.gz`
that is plain text, or a `.jsonl` that is gzip data, is refused rather than read as garbage or skipped.
A gzip file cut short (an interrupted copy or download: "Compressed file ended before the end-of-stream
marker was reached") and corrupt compressed data are refused too. Callers pass their own `UserError`
subclass, so each reader keeps raising the error its callers catch.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TypeAlias

from weprompt.common.errors import UserError

GZIP_MAGIC = b"\x1f\x8b"

# What `maybe_gunzip` yields: the opened file itself, or a GzipFile over it. Both are buffered (`peek`).
BinaryReader: TypeAlias = io.BufferedReader | gzip.GzipFile


def _is_gzip(raw: io.BufferedReader, path: Path, error: type[UserError]) -> bool:
    """Whether `path` is read as gzip: its name says so and its first bytes agree (or it is empty)."""
    head = raw.read(8)
    raw.seek(0)
    named_gz = path.name.endswith(".gz")
    if not head or named_gz == head.startswith(GZIP_MAGIC):
        return named_gz
    if named_gz:
        raise error(
            f"{path}: the name ends in .gz but the file is not gzip-compressed (it starts with {head!r}); "
            "rename it without .gz, or compress it with gzip"
        )
    raise error(
        f"{path}: the file is gzip-compressed but its name does not end in .gz; rename it to {path.name}.gz"
    )


@contextlib.contextmanager
def maybe_gunzip(
    raw: io.BufferedReader, path: Path, error: type[UserError] = UserError
) -> Iterator[BinaryReader]:
    """The bytes of `raw` (an open binary file of `path`), decompressed when `path` is gzip; see the module doc.

    Reading a broken gzip stream inside the `with` raises `error` naming `path`."""
    if not _is_gzip(raw, path, error):
        yield raw
        return
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as fh:
            yield fh
    except EOFError:
        raise error(
            f"{path}: truncated gzip file (the compressed data ends before the end-of-stream marker), "
            "probably an interrupted copy or download; copy the file again"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise error(f"{path}: corrupt gzip data ({e}); copy the file again") from None


@contextlib.contextmanager
def open_maybe_gzip(path: str | Path, error: type[UserError] = UserError) -> Iterator[BinaryReader]:
    """Open `path` for reading bytes, decompressing `.gz`; every failure to read it raises `error` naming it."""
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise error(f"{path}: cannot open: {e.strerror}") from None
    with raw, maybe_gunzip(raw, path, error) as fh:
        yield fh


def read_to_end(fh: BinaryReader, chunk: int = 1 << 20) -> None:
    """Read and discard the rest of `fh`: a reader that stops early still finds a truncated gzip file."""
    while fh.read(chunk):
        pass
