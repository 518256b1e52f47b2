"""One writer per run directory, checked with real processes: while `weprompt pretrain` trains, a second
pretrain / resume of the same run dir and a fine-tune into it fail at once, naming the dir and the pid that
holds it, and write nothing; the lock goes with the holder when it is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tinyrun import cli_env, files_and_mtimes, make_data, pretrain_args, pretrain_cmd, run_cli, trained_step

from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.engine.runlock import LOCK_FILE, RunDirBusy, RunLock

LONG = ("train.total_steps=100000", "train.checkpoint.every=5", "train.spike.enabled=false",
        "train.logging.every=1")  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("lock_data"))


def steps_logged(run: Path) -> list[int]:
    log = run / "train_log.jsonl"
    if not log.exists():
        return []
    lines = log.read_text().splitlines()[:-1]  # the last line may be half written
    return [r["step"] for r in map(json.loads, lines) if r.get("kind") == "train"]


def start_holder(data: Path, run: Path) -> subprocess.Popen:
    proc = subprocess.Popen(pretrain_cmd(data, run, *LONG), cwd=data, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(steps_logged(run)) < 6:
        time.sleep(0.05)
    assert proc.poll() is None, f"the first run ended early: {proc.stderr.read()[-3000:]}"
    return proc


def test_second_writer_fails_at_once_and_the_lock_dies_with_the_holder(data, tmp_path):
    from weprompt.finetune import FinetuneConfig, run_finetune
    from weprompt.pretrain.engine.config import TrainerConfig

    base = trained_step(data, tmp_path / "base")
    run = tmp_path / "run"
    holder = start_holder(data, run)
    try:
        second = run_cli(
            pretrain_cmd(data, run, *LONG), check=False, timeout=60
        )  # a second pretrain / resume
        assert second.returncode == 2
        assert second.stderr.strip() == (
            f"weprompt: error: run dir {run} is in use by another process (pid {holder.pid}), which holds the "
            f"lock {run / LOCK_FILE}; wait for it to finish or stop it, or choose another run_dir"
        )
        with pytest.raises(
            RunDirBusy, match=rf"run dir {run} is in use by another process \(pid {holder.pid}\)"
        ):
            run_finetune(FinetuneConfig(base=str(base), train=TrainerConfig(run_dir=str(run))))
        assert not (run / "split.json").exists() and not (run / "finetune_config.yaml").exists()
        assert holder.poll() is None  # the holder never noticed
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    logged = steps_logged(run)
    assert logged == list(range(1, len(logged) + 1))  # one writer: no step logged twice

    RunLock(run).acquire().release()  # the OS dropped the killed holder's lock
    latest = int(ckpt.resolve(run).name.split("_")[1])
    run_cli(pretrain_cmd(data, run, *LONG[1:], f"train.total_steps={latest + 2}"))  # resumes, then finishes
    assert steps_logged(run)[-1] == latest + 2


def test_in_process_the_lock_is_reentrant_and_a_refused_run_leaves_nothing(data, tmp_path, capsys):
    from weprompt.cli.main import main

    run = tmp_path / "new" / "run"
    outer = RunLock(run).acquire()
    inner = RunLock(run).acquire()  # e.g. `weprompt finetune`, then the Trainer it starts
    inner.release()
    probe = subprocess.run(pretrain_cmd(data, run, *LONG), cwd=data, env=cli_env(), capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert probe.returncode == 2 and "is in use by another process" in probe.stderr  # still held by `outer`
    outer.release()
    # refused before it started (init_from names nothing): the lock file and the directories it made go again
    fresh = tmp_path / "fresh" / "run"
    assert main(pretrain_args(data, fresh, f"train.init_from={tmp_path / 'nothing'}")) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()
    before = files_and_mtimes(run)  # and in a run dir that was there, nothing changes
    assert main(pretrain_args(data, run, f"train.init_from={tmp_path / 'nothing'}")) == 2
    assert files_and_mtimes(run) == before and (run / LOCK_FILE).is_file()
