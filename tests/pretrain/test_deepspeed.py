"""Multi-process and DeepSpeed paths on CPU (gloo): DeepSpeed ZeRO-1/2 in fp32 and bf16 with 1 and 2
processes, plain DDP with 2, all checked against the single-process torch path, plus DeepSpeed save/resume.

DeepSpeed builds a C++ op on first use (35-90 s with ninja, cached in ~/.cache/torch_extensions or
$TORCH_EXTENSIONS_DIR afterwards); each test here starts real processes with `weprompt pretrain`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.engine.synthetic import write_text_shards

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed"
)


@pytest.fixture(scope="module")
def data(tmp_path_factory, small_tokenizer, synth_texts) -> Path:
    root = tmp_path_factory.mktemp("ds_data")
    small_tokenizer.save(root / "tokenizer")
    write_text_shards(root / "shards", small_tokenizer, synth_texts)
    return root


def run_pretrain(
    data: Path, run: Path, *sets: str, nproc: int = 1, check: bool = True
) -> subprocess.CompletedProcess:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), "-m"]
        if nproc > 1
        else [sys.executable, "-m"]
    )  # --standalone: a free port on localhost, no clash with other runs
    cmd = launcher + [
        "weprompt.cli.main", "pretrain", "--config", str(REPO / "configs/pretrain/tiny.yaml"), "--run-dir", str(run),
        "--set", f"data.shards={data / 'shards'}", "--set", f"data.tokenizer={data / 'tokenizer'}",
        "--set", "train.total_steps=6", "--set", "train.checkpoint.every=3", "--set", "train.eval.every=0",
        "--set", "train.logging.plot=false", "--set", "train.num_threads=1", *(x for s in sets for x in ("--set", s)),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def losses(run: Path) -> list[float]:
    recs = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in recs if r["kind"] == "train"]


def records(run: Path) -> list[tuple]:
    recs = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["lr"], r["grad_norm"]) for r in recs if r["kind"] == "train"]


def rewind(src: Path, dst: Path, step: int) -> None:
    """A copy of run `src` as it was right after the checkpoint of `step` (as if it had crashed there)."""
    shutil.copytree(src, dst)
    ckpt.remove_newer(dst / "checkpoints", step)
    ckpt.point_latest(dst / "checkpoints", dst / "checkpoints" / ckpt.step_name(step))


@pytest.fixture(scope="module")
def single(data, tmp_path_factory) -> Path:
    """The reference: one process, torch backend, fp32, global batch of 8."""
    run = tmp_path_factory.mktemp("single") / "run"
    run_pretrain(data, run, "train.micro_batch_size=8")
    return run


def test_ddp_two_processes_match_single(data, single, tmp_path):
    run = tmp_path / "ddp"
    run_pretrain(data, run, "train.micro_batch_size=4", nproc=2)  # 2 ranks x 4 = the same global batch
    assert losses(run) == pytest.approx(losses(single), rel=1e-5)
    step = ckpt.resolve(run)
    assert (step / "rank_states/rank_000.pt").is_file() and (step / "rank_states/rank_001.pt").is_file()


def test_deepspeed_zero1_fp32_one_process_matches_torch(data, single, tmp_path):
    run = tmp_path / "ds1"
    run_pretrain(
        data, run, "train.micro_batch_size=8", "train.deepspeed.enabled=true", "train.deepspeed.zero_stage=1"
    )
    assert losses(run) == pytest.approx(losses(single), rel=1e-4)
    step = ckpt.resolve(run)
    assert (step / "deepspeed").is_dir() and not (step / "optimizer.pt").exists()
    ds_model, _, tok = ckpt.load_model(run)  # consolidated model.pt: no DeepSpeed needed to use it
    ref_model, _, _ = ckpt.load_model(single)
    assert tok is not None
    for (k, a), b in zip(ds_model.state_dict().items(), ref_model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-4), k


def test_deepspeed_zero2_fp32_two_processes_match_torch(data, single, tmp_path):
    run = tmp_path / "ds2p32"
    run_pretrain(
        data,
        run,
        "train.micro_batch_size=4",
        "train.deepspeed.enabled=true",
        "train.deepspeed.zero_stage=2",
        nproc=2,
    )
    assert losses(run) == pytest.approx(losses(single), rel=1e-4)


def test_deepspeed_zero2_bf16_one_process_exact_resume(data, tmp_path):
    run = tmp_path / "ds2"
    sets = ("train.micro_batch_size=8", "train.deepspeed.enabled=true", "train.deepspeed.zero_stage=2",
            "train.precision=bf16")  # fmt: skip
    run_pretrain(data, run, *sets)
    model, _, _ = ckpt.load_model(run)
    assert all(v.dtype == torch.float32 for v in model.state_dict().values())  # fp32 master weights
    rewind(run, tmp_path / "resumed", 3)
    run_pretrain(data, tmp_path / "resumed", *sets)
    assert records(tmp_path / "resumed") == records(run)
    assert losses(run)[-1] < losses(run)[0]


def test_deepspeed_zero1_bf16_two_processes_save_resume(data, single, tmp_path):
    run = tmp_path / "ds2p"
    sets = ("train.micro_batch_size=4", "train.deepspeed.enabled=true", "train.deepspeed.zero_stage=1",
            "train.precision=bf16")  # fmt: skip
    run_pretrain(data, run, *sets, nproc=2)
    assert losses(run) == pytest.approx(losses(single), abs=0.05)  # bf16 compute, same data and init
    step = ckpt.resolve(run)
    assert len(list((step / "deepspeed").glob("*optim_states.pt"))) == 2  # one ZeRO partition per rank
    rewind(run, tmp_path / "resumed", 3)
    run_pretrain(data, tmp_path / "resumed", *sets, nproc=2)
    assert records(tmp_path / "resumed") == records(run)


def test_fp16_under_deepspeed_on_cpu_is_a_clear_error(data, tmp_path):
    proc = run_pretrain(
        data, tmp_path / "fp16", "train.deepspeed.enabled=true", "train.precision=fp16", check=False
    )
    assert proc.returncode == 2
    assert "fp16 under DeepSpeed needs a GPU" in proc.stderr
    assert not list((tmp_path / "fp16").glob("checkpoints/step_*"))
