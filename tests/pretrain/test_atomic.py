"""Atomic writes: the permissions of a plain open() (not mkstemp's 0600), and no half-written file after a crash."""

from __future__ import annotations

import os
import stat

import pytest

import weprompt.common.atomic as atomic
from weprompt.common.atomic import atomic_open, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():
    """Set a non-default umask for the test; the process's own is restored afterwards."""
    old = os.umask(0o022)
    try:
        yield lambda mask: os.umask(mask)
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("mask", [0o007, 0o027])
def test_new_file_gets_the_mode_plain_open_gives(tmp_path, umask, mask):
    umask(mask)
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    atomic_write_text(tmp_path / "bank.yaml", "templates: []\n")
    atomic_write_bytes(tmp_path / "sub" / "model.bin", b"\0\1")
    assert _mode(tmp_path / "bank.yaml") == 0o666 & ~mask == _mode(tmp_path / "plain.txt")
    assert _mode(tmp_path / "sub" / "model.bin") == 0o666 & ~mask
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("old_mode", [0o640, 0o664, 0o755])
def test_replaced_file_keeps_its_mode(tmp_path, umask, old_mode):
    umask(0o077)  # stricter than the file's mode: the file's own mode wins, not the umask
    path = tmp_path / "ocnli.yaml"
    path.write_text("old\n")
    os.chmod(path, old_mode)
    atomic_write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert _mode(path) == old_mode
    assert _leftovers(tmp_path) == []


def test_crash_inside_the_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "ocnli.yaml"
    path.write_text("previous\n")
    with pytest.raises(RuntimeError, match="killed"), atomic_open(path) as f:
        f.write("half of the new cont")
        f.flush()
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "previous\n"
    assert _leftovers(tmp_path) == []


def test_failed_rename_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ocnli.yaml"
    path.write_text("previous\n")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(path, "new\n")
    assert path.read_text() == "previous\n"
    assert _leftovers(tmp_path) == []


def test_crash_on_a_new_file_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "new.json", "wb") as f:
        f.write(b"{")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
