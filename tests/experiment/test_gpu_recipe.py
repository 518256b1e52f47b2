"""The GPU recipe (experiments/gpu_h100.sh, configs/pretrain/gpu_h100.yaml, experiments/gpu_h100.yaml) cannot
rot on a CPU-only host:

- its arithmetic: the claims in the YAML comments (parameters, tokens, FLOPs, seconds, the 10-minute total)
  are recomputed from the configs themselves and must appear there verbatim;
- its pipeline: the shell script runs end to end (shards reused, base, the whole matrix, the summary) with
  a tiny override, through the real config loaders, so an unknown key or a missing preset fails here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from testutil import REPO

from weprompt.catalog import load_catalog
from weprompt.eval.experiment import load_experiment, plan_units, validate
from weprompt.pretrain.engine.pretrain import load_pretrain_config
from weprompt.pretrain.shards import ShardWriter

SCRIPT = REPO / "experiments" / "gpu_h100.sh"
PRETRAIN = REPO / "configs" / "pretrain" / "gpu_h100.yaml"
EXPERIMENT = REPO / "experiments" / "gpu_h100.yaml"

# The budget's assumptions, as the YAML comments state them (estimates: no H100 has run this yet).
H100_BF16_PEAK = 989e12  # FLOP/s, dense, SXM
MFU = 0.25
CORPUS_VOCAB = 16_000  # configs/corpus/cpu.yaml's tokenizer: the vocabulary the recipe's base gets
BASE_FIXED_S = 30  # start-up, validation passes, checkpoints
HOST_FACTOR = 4  # a quiet core of the H100 host against a process on the loaded 2-core host that measured
CHECKPOINT_S = 3  # per unit: the 100M model's load and 1.2 GB checkpoint, on top of the measured fixed cost
EVAL_S = 60
BUDGET_S = 600  # "about 10 minutes of one H100"
HOST = REPO / "bench" / "results" / "gpu_recipe_host.json"  # bench/bench_gpu_recipe_host.py


TASKS = ["chnsenticorp", "tnews", "afqmc", "ocnli"]
MODES = ["welm_zero_shot", "welm_few_shot", "weprompt_strong", "weprompt_weak", "welm_finetune"]


def _e(x: float) -> str:
    """4.57e16, as the comments write it."""
    return f"{x:.2e}".replace("e+", "e")


def _comments(path: Path) -> str:
    return "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if "#" in line)


def test_recipe_arithmetic_matches_its_configs():
    cfg, _ = load_pretrain_config(PRETRAIN)
    assert cfg.data.tokenizer == "runs/corpus/tokenizer"  # the corpus build's 16,000-piece tokenizer
    model = dataclasses.replace(cfg.model, vocab_size=CORPUS_VOCAB)
    n, ctx, t = model.num_parameters_formula(), model.context_length, cfg.train
    assert 80e6 <= n <= 120e6, n  # "a base of roughly 100M parameters"
    assert 1024 <= ctx <= 2048
    assert t.precision == "bf16" and (not t.deepspeed.enabled or t.deepspeed.zero_stage == 1)
    pre_tokens = t.total_steps * t.micro_batch_size * t.grad_accum * ctx
    pre_flops = pre_tokens * model.flops_per_token()
    pre_s = pre_flops / (H100_BF16_PEAK * MFU)
    pre_text, exp_text = _comments(PRETRAIN), _comments(EXPERIMENT)
    for claim in (f"{n:,} parameters", f"{model.flops_per_token():,.0f}", f"{pre_tokens:,} tokens",
                  _e(pre_flops), f"{pre_s:.0f} s", f"MFU of {MFU * 100:.0f} %"):  # fmt: skip
        assert claim in pre_text, f"{PRETRAIN.name} comments lack {claim!r}"
    assert f"{pre_tokens:,} tokens, {_e(pre_flops)} FLOPs, {pre_s:.0f} s at {MFU * 100:.0f} % MFU" in exp_text

    exp = load_experiment(EXPERIMENT)
    units = plan_units(exp, load_catalog())
    assert len(units) == 12 and f"{len(units)} units" in exp_text
    ft = [exp.finetune["train"] if u.split != "single" else exp.single_task_finetune["train"] for u in units]
    assert len({(f["total_steps"], f["micro_batch_size"]) for f in ft}) == 1  # the comment's one product
    steps, batch = ft[0]["total_steps"], ft[0]["micro_batch_size"]
    ft_tokens = len(units) * steps * batch * (ctx + 1)  # packed to the base's context + 1
    ft_flops = ft_tokens * model.flops_per_token(ctx + 1)
    ft_s = ft_flops / (H100_BF16_PEAK * MFU)
    host = json.loads(HOST.read_text(encoding="utf-8"))
    tps, fixed = host["finetune_batch_tokens_per_s"], host["unit_fixed_cost"][-1]["fixed_s"]  # a later unit
    batches_s = ft_tokens / (tps * HOST_FACTOR)
    unit_s = round(fixed / HOST_FACTOR) + CHECKPOINT_S
    for claim in (f"{len(units)} units × {steps} steps × {batch} sequences × {ctx + 1:,} tokens",
                  f"= {ft_tokens:,} tokens × {model.flops_per_token(ctx + 1):,.0f} FLOPs", f"{_e(ft_flops)} FLOPs",
                  f"{ft_s:.0f} s at", f"{tps:,} tokens/s → {tps * HOST_FACTOR:,}",
                  f"{ft_tokens:,} tokens add {batches_s:.0f} s", f"{fixed:.0f} s → {round(fixed / HOST_FACTOR)} s",
                  f"+ {CHECKPOINT_S} s assumed", f"{HOST_FACTOR}× faster",
                  f"{len(units) * unit_s} s for the {len(units)}"):  # fmt: skip
        assert claim in exp_text, f"{EXPERIMENT.name} comments lack {claim!r}"
    total = pre_s + BASE_FIXED_S + ft_s + batches_s + len(units) * unit_s + EVAL_S
    terms = f"{pre_s:.0f} + {BASE_FIXED_S} (base start-up, validation, checkpoints) + {ft_s:.0f} + {batches_s:.0f}"
    assert (
        f"total: {terms} + {len(units) * unit_s} + {EVAL_S} ≈ {total:.0f} s ≈ {total / 60:.1f} min"
        in exp_text
    )
    assert total <= BUDGET_S, total
    assert f"× {exp.eval.limit} examples" in exp_text and "UNRUN" in exp_text and "UNMEASURED" in pre_text


def test_recipe_runs_the_transfer_matrix():
    exp = load_experiment(EXPERIMENT)
    validate(exp, load_catalog())  # the fine-tuning sections are checked key by key here
    assert (exp.test_tasks, exp.modes) == (TASKS, MODES)
    transfer = REPO / "experiments" / "cpu_transfer.yaml"
    if (
        transfer.is_file()
    ):  # the CPU experiment it scales up: its matrix, plus the tasks a CPU has no time for
        cpu = load_experiment(transfer)
        assert set(cpu.test_tasks) <= set(exp.test_tasks) and set(exp.modes) == set(cpu.modes)
    assert exp.base == load_pretrain_config(PRETRAIN)[0].train.run_dir  # the matrix runs on the recipe's base


TINY_PRETRAIN = [
    "model.n_layer=1", "model.n_head=2", "model.d_model=32", "model.context_length=64",
    "data.val_fraction=0.1", "train.total_steps=2", "train.micro_batch_size=2", "train.grad_accum=1",
    "train.precision=fp32", "train.num_threads=1", "train.optim.warmup_steps=1", "train.checkpoint.every=0",
    "train.eval.every=0", "train.eval.batches=1", "train.logging.every=1", "train.logging.progress=false",
    "train.logging.plot=false", "train.logging.tensorboard=false",
]  # fmt: skip


def _tiny_finetune(key: str) -> list[str]:
    return [f"{key}.{kv}" for kv in (
        "val_batches=1", "sampler.block=32", "train.total_steps=2", "train.micro_batch_size=2",
        "train.precision=fp32", "train.num_threads=1", "train.optim.warmup_steps=1",
        "train.logging.every=1", "train.logging.progress=false", "train.logging.plot=false",
        "train.logging.tensorboard=false",
    )]  # fmt: skip


def _corpus(runs: Path, tok, data_dir: Path) -> None:
    """runs/corpus as the corpus build leaves it (tokenizer + shards made with it), from task rows."""
    from weprompt.data import load_split
    from weprompt.leakage import example_text

    tok.save(runs / "corpus" / "tokenizer")
    with ShardWriter(runs / "corpus" / "shards", tok.vocab_size, tok.fingerprint(), tok.eos_id) as w:
        for task in ("c3", "cmrc2018", "drcd"):
            ds = load_split(task, "train", data_dir)
            for row in ds.select(range(min(100, len(ds)))):
                w.add_document(tok.encode(example_text(row)), "books")


@pytest.mark.slow
def test_recipe_script_runs_end_to_end_with_a_tiny_override(tmp_path, tiny_base, task_tokenizer, synth_data):
    _, bank = tiny_base  # the small bank (templates for the matrix's tasks); the base is the recipe's own
    _corpus(tmp_path / "runs", task_tokenizer, synth_data)
    args = [a for kv in TINY_PRETRAIN for a in ("--pretrain-set", kv)]
    exp_sets = [f"bank_dir={bank}", "eval.limit=3", "eval.batch_size=3", "eval.scope_probe=1",
                "finetune.leakage.sample=20", *_tiny_finetune("finetune"), *_tiny_finetune("single_task_finetune")]  # fmt: skip
    args += [a for kv in exp_sets for a in ("--experiment-set", kv)]
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    proc = subprocess.run(["bash", str(SCRIPT), "--allow-cpu", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "=== 1/3 corpus: reusing runs/corpus" in out
    base = tmp_path / "runs" / "gpu_h100" / "base"
    saved = yaml.safe_load((base / "config.yaml").read_text())
    assert saved["model"]["n_layer"] == 1 and saved["train"]["precision"] == "fp32"  # the override took
    assert saved["train"]["optim"]["max_lr"] == 6.0e-4  # ... over the recipe's own config
    report = tmp_path / "runs" / "experiments" / "gpu_h100" / "report"
    cells = yaml.safe_load((report / "cells.json").read_text())["cells"]
    assert {(c["task"], c["mode"]) for c in cells} == {(t, m) for t in TASKS for m in MODES}
    models = sorted(p.name for p in (tmp_path / "runs" / "experiments" / "gpu_h100" / "models").iterdir())
    assert len(models) == 12
    summary = out[out.index("## Wall time (s)") :]
    assert "| base | 2 |" in summary and "tokens/s" in summary and "MFU" in summary
    assert all(f"| {m} | 2 |" in summary for m in models)
    assert all(f"| {t} | {m} |" in summary for t in TASKS for m in MODES)


def test_script_refuses_unknown_options_and_a_missing_gpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    bad = subprocess.run(
        ["bash", str(SCRIPT), "--bogus"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown option '--bogus'" in bad.stderr
    if not __import__("torch").cuda.is_available():
        no_gpu = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert no_gpu.returncode == 1 and "no CUDA device" in no_gpu.stderr
        assert not (tmp_path / "runs").exists()  # refused before any work
