"""Exact resume: `weprompt pretrain` killed with SIGKILL mid-run and started again produces the same loss
sequence, bit for bit in fp32 on CPU, as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.engine.synthetic import write_text_shards

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory, small_tokenizer, synth_texts) -> Path:
    root = tmp_path_factory.mktemp("resume_data")
    small_tokenizer.save(root / "tokenizer")
    write_text_shards(root / "shards", small_tokenizer, synth_texts)
    return root


def command(data: Path, run: Path) -> list[str]:
    return [
        sys.executable, "-m", "weprompt.cli.main", "pretrain", "--config", str(REPO / "configs/pretrain/tiny.yaml"),
        "--run-dir", str(run), "--set", f"data.shards={data / 'shards'}", "--set", f"data.tokenizer={data / 'tokenizer'}",
        "--set", "train.total_steps=30", "--set", "train.checkpoint.every=5", "--set", "train.eval.every=0",
        "--set", "train.logging.plot=false", "--set", "model.dropout=0.1",  # dropout: the RNG state must resume too
    ]  # fmt: skip


def train_records(run: Path) -> list[tuple]:
    out = []
    for line in (run / "train_log.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "train":
            out.append((r["step"], r["loss"], r["lr"], r["grad_norm"]))
    return out


def test_kill_9_then_resume_is_bit_exact(data, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(command(data, straight), check=True, cwd=REPO, env=env, capture_output=True)

    proc = subprocess.Popen(
        command(data, killed), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    log = killed / "train_log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        steps = [json.loads(x)["step"] for x in log.read_text().splitlines()[:-1]] if log.exists() else []
        if steps and max(steps) >= 17:  # past the checkpoint of step 15, before the end
            break
        time.sleep(0.02)
    assert proc.poll() is None, (
        f"training ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(json.loads(x)["step"] for x in log.read_text().splitlines() if x.strip().endswith("}"))
    assert 17 <= killed_at < 30
    latest = ckpt.resolve(killed).name
    assert latest in ("step_00000015", "step_00000020", "step_00000025")

    subprocess.run(command(data, killed), check=True, cwd=REPO, env=env, capture_output=True)
    a, b = train_records(straight), train_records(killed)
    assert [r[0] for r in b] == list(range(1, 31))  # the steps after the checkpoint were dropped and redone
    assert a == b  # bit-exact: loss, lr and grad norm of every step
    wa = torch.load(straight / "checkpoints/step_00000030/model.pt")
    wb = torch.load(killed / "checkpoints/step_00000030/model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
