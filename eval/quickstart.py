"""`weprompt quickstart`: the whole WePrompt path at CPU scale on the shared data, each stage reusing
the previous stage's output when it is already there.

    corpus → tokenizer → token shards   (weprompt corpus build, reruns skip finished work)
    → tiny WeLM base                    (weprompt pretrain; skipped when its final checkpoint exists)
    → strong and weak WePrompt for one held-out category, evaluation, Table-6 report
                                        (weprompt experiment; finished cells are not recomputed)
"""

from __future__ import annotations

import time
from pathlib import Path

from pretrain.errors import UserError


def _stage(title: str) -> float:
    print(f"\n=== {title} ===", flush=True)
    return time.perf_counter()


def _run(argv: list[str]) -> None:
    from weprompt.cli.main import main

    code = main(argv)
    if code:
        raise UserError(f"stage `weprompt {' '.join(argv)}` failed (exit code {code})")


def _base_done(pretrain_config: str) -> bool:
    from pretrain import checkpoint as ckpt
    from pretrain.engine.pretrain import load_pretrain_config

    cfg, _ = load_pretrain_config(pretrain_config)
    latest = ckpt.latest_checkpoint(cfg.train.checkpoint_dir)
    return latest is not None and int(latest.name.split("_")[-1]) >= cfg.train.total_steps


def run_quickstart(corpus_config: str, pretrain_config: str, experiment_config: str) -> Path:
    from eval.experiment import load_experiment, run_experiment

    for p in (corpus_config, pretrain_config, experiment_config):
        if not Path(p).is_file():
            raise UserError(f"quickstart config not found: {p} (run from the repository root)")
    timings = {}
    t = _stage("1/3 corpus: clean, dedup, decontaminate, balance, tokenizer, shards")
    _run(["corpus", "build", "--config", corpus_config])
    timings["corpus"] = time.perf_counter() - t
    t = _stage("2/3 WeLM base: pretraining on the shards")
    if _base_done(pretrain_config):
        print("base checkpoint already complete: reusing it")
    else:
        _run(["pretrain", "--config", pretrain_config])
    timings["base"] = time.perf_counter() - t
    t = _stage("3/3 WePrompt: strong and weak fine-tuning, evaluation, report")
    report = run_experiment(load_experiment(experiment_config))
    timings["experiment"] = time.perf_counter() - t
    print("\nquickstart stage times: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items()))
    return report
