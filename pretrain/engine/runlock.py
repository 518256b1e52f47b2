"""One writer per run directory: an exclusive `flock` on `<run_dir>/.run.lock`, held for the whole run.

Pretraining, resuming and fine-tuning take it before they write anything into the run directory; a second
process that wants the same directory fails at once with `RunDirBusy`, naming the directory and the pid
that holds it. The operating system drops the lock when the holder exits or is killed, so a crashed run
never leaves a stale lock behind (the empty lock file stays; it means nothing by itself).

Under torchrun / DeepSpeed only rank 0 takes it (the Trainer tells the other ranks whether it got it).
Within one process the lock is re-entrant: `weprompt finetune` holds it while it writes its reports and the
Trainer it starts takes it again. The holder's pid comes from /proc/locks (Linux); the file is never
written, so taking the lock changes nothing in the run directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from weprompt.common.errors import UserError

if TYPE_CHECKING:
    from weprompt.pretrain.engine.distributed import DistEnv

LOCK_FILE = ".run.lock"
log = logging.getLogger(__name__)


class RunDirBusy(UserError):
    """Another process is writing the run directory."""


@dataclass
class _Held:
    file: IO
    count: int
    created_file: bool  # taking the lock created the lock file ...
    new_dirs: list[Path]  # ... and these directories (innermost first)


_HELD: dict[Path, _Held] = {}


def _holder_pid(lock_file: Path) -> int | None:
    """The pid holding an flock on `lock_file`, from /proc/locks (None where unknown)."""
    try:
        st = lock_file.stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[3] != "WRITE":
            continue
        major, minor, inode = fields[5].split(":")
        if int(inode) == st.st_ino and os.makedev(int(major, 16), int(minor, 16)) == st.st_dev:
            return int(fields[4])
    return None


def _busy(run_dir: Path, lock_file: Path) -> RunDirBusy:
    pid = _holder_pid(lock_file)
    who = f"another process (pid {pid})" if pid else "another process"
    return RunDirBusy(
        f"run dir {run_dir} is in use by {who}, which holds the lock {lock_file}; wait for it to finish or "
        "stop it, or choose another run_dir"
    )


def _open_locked(run_dir: Path, lock_file: Path) -> tuple[IO, bool]:
    """The lock file, open and flock-ed exclusively (non-blocking), and whether this call created it."""
    while True:
        created = False
        try:
            f = open(lock_file, "x")  # noqa: SIM115 - held until release
            created = True
        except FileExistsError:
            f = open(lock_file, "a")  # noqa: SIM115 - appending nothing: the file is never modified
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise _busy(run_dir, lock_file) from None
        try:
            same = os.stat(lock_file).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else a refused run removed the file between our open and flock: lock the new one
            return f, created
        f.close()


class RunLock:
    """`with RunLock(run_dir):` or `acquire()` / `release()`. Creates `run_dir` if needed."""

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._key: Path | None = None

    @property
    def lock_file(self) -> Path:
        return self.run_dir / LOCK_FILE

    def acquire(self) -> RunLock:
        if not self.enabled or self._key is not None:
            return self
        key = self.run_dir.resolve()
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
        else:
            new_dirs = [p for p in (self.run_dir, *self.run_dir.parents) if not p.exists()]
            self.run_dir.mkdir(parents=True, exist_ok=True)
            try:
                f, created = _open_locked(self.run_dir, self.lock_file)
            except BaseException:
                _remove_empty(new_dirs)
                raise
            _HELD[key] = _Held(f, 1, created, new_dirs)
        self._key = key
        return self

    def release(self, undo: bool = False) -> None:
        """Give the lock up (once per acquire). `undo`: also remove the lock file and the directories that
        acquiring created, where nothing else was written (a run refused before it started)."""
        if self._key is None:
            return
        key, self._key = self._key, None
        held = _HELD[key]
        held.count -= 1
        if held.count:
            return
        del _HELD[key]
        if undo and held.created_file:
            with contextlib.suppress(FileNotFoundError):
                self.lock_file.unlink()  # while still locked: a process waiting on it re-checks the inode
        held.file.close()
        if undo:
            _remove_empty(held.new_dirs)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()


def lock_run_dir(run_dir: str | os.PathLike, env: DistEnv) -> RunLock:
    """Rank 0 locks `run_dir`; every rank learns whether it did, so a refusal stops them all (collective)."""
    lock = RunLock(run_dir, enabled=env.is_main)
    error = None
    if env.is_main:
        try:
            lock.acquire()
        except RunDirBusy as e:
            error = e
    if not env.all_true(error is None):
        raise error or RunDirBusy(
            f"run dir {run_dir} is in use by another process (rank 0 could not lock it)"
        )
    return lock


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # innermost first
        try:
            d.rmdir()
        except OSError:  # not empty (someone else wrote there), or already gone
            log.debug("left %s in place", d)
            return
