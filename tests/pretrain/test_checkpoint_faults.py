"""Crash safety of checkpoint publication, by fault injection in a real `weprompt pretrain` process.

For every point of a save (FAULT_POINTS: before and after the rename of the temp step dir, before and after
the `latest` update, and in the middle of pruning an old checkpoint) a training process is killed with
SIGKILL exactly there (WEPROMPT_FAULT_AT=<point>@<step>). Then `latest` must name a complete, verified
checkpoint, no step_ directory may be incomplete, and running the same command again must finish with the
same log records and bit-identical fp32 weights as a run that was never interrupted.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
from tinyrun import make_data, pretrain_cmd, run_cli

from weprompt.pretrain import checkpoint as ckpt

# 12 steps, a checkpoint every 4 (steps 4, 8 and the final 12), only the newest kept: the save of step 8
# publishes step 8 and then prunes step 4. Dropout, so the RNG state has to resume too.
SETS = ("train.total_steps=12", "train.checkpoint.every=4", "train.checkpoint.keep_last=1",
        "train.spike.enabled=false", "train.logging.every=1", "model.dropout=0.1")  # fmt: skip
# point -> (the step named in WEPROMPT_FAULT_AT, the checkpoint `latest` must name after the kill)
FAULTS = {
    "before_rename": (8, 4),
    "after_rename": (8, 4),
    "before_latest": (8, 4),
    "after_latest": (8, 8),
    "mid_prune": (4, 8),  # step 4 being deleted by the save of step 8
}


def test_every_fault_point_is_covered():
    assert set(FAULTS) == set(ckpt.FAULT_POINTS)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("faults_data"))


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("faults_straight") / "run"
    run_cli(pretrain_cmd(data, run, *SETS))
    return run


def records(run: Path) -> list[tuple]:
    lines = (run / "train_log.jsonl").read_text().splitlines()
    return [
        (r["step"], r["loss"], r["lr"], r["grad_norm"])
        for r in map(json.loads, lines)
        if r["kind"] == "train"
    ]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt.open_checkpoint(run) / ckpt.MODEL_FILE, weights_only=True)


def leftovers(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith((".tmp_", ".old_")))


@pytest.mark.parametrize("point", FAULTS)
def test_kill_at_each_step_of_a_save_then_resume_is_exact(point, data, straight, tmp_path):
    fault_step, latest_after = FAULTS[point]
    run = tmp_path / "run"
    killed = run_cli(pretrain_cmd(data, run, *SETS), check=False, WEPROMPT_FAULT_AT=f"{point}@{fault_step}")
    assert killed.returncode == -signal.SIGKILL, (
        f"not killed at {point}: exit {killed.returncode}\n{killed.stderr}"
    )

    ckpt_dir = run / "checkpoints"
    latest = ckpt.latest_checkpoint(ckpt_dir)
    assert latest is not None and latest.name == ckpt.step_name(latest_after)
    ckpt.verify(latest)  # `latest` names a complete checkpoint
    for _, step_dir in ckpt.list_checkpoints(ckpt_dir):
        ckpt.verify(step_dir)  # and nothing under a step_ name is half written or half deleted
    assert max(r[0] for r in records(run)) == 8  # it died during the save of step 8

    run_cli(pretrain_cmd(data, run, *SETS))
    assert records(run) == records(straight)  # same steps, losses, lr, grad norms: nothing lost or doubled
    a, b = weights(straight), weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert ckpt.resolve(run).name == ckpt.step_name(12) and leftovers(run) == []
