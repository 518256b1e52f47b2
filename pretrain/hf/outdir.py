"""Output directories that appear complete or not at all.

Everything is written into a temporary sibling (`.tmp_<name>.*`) and renamed into place at the end; an
error or a kill leaves no half-written directory under the requested name. An existing directory is
refused unless `force`, and even then it is replaced only when it is empty or carries `marker` (a file
this tool writes), so `--force` cannot wipe an unrelated directory such as a checkpoint or a home.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from weprompt.pretrain.hf import InteropError


def check_target(out: Path, force: bool, marker: str, source: Path | None = None) -> None:
    if source is not None:
        src, dst = source.resolve(), out.resolve()
        if dst == src or dst in src.parents:
            raise InteropError(f"output {out} would replace its own input {source}")
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise InteropError(f"output {out} exists and is not a directory")
    if not force:
        raise InteropError(f"output directory {out} already exists; pass --force to replace it")
    if any(out.iterdir()) and not (out / marker).is_file():
        raise InteropError(
            f"refusing to replace {out} with --force: it is not empty and has no {marker}, so it was not "
            "written by this command"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _usual_permissions(root: Path) -> None:
    """mkdtemp / mkstemp make private (0700 / 0600) entries; give the result the umask's usual modes."""
    mask = _umask()
    for p in [root, *root.rglob("*")]:
        os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def staged_dir(out: Path, force: bool, marker: str, source: Path | None = None) -> Iterator[Path]:
    """Yield a temporary directory; on clean exit it replaces `out` (see the module doc)."""
    out = Path(out)
    check_target(out, force, marker, source)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp_{out.name}.", dir=out.parent))
    try:
        yield tmp
        _usual_permissions(tmp)
        check_target(out, force, marker, source)  # again: something may have appeared meanwhile
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".old_{out.name}.", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
        fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
