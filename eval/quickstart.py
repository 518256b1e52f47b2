"""`weprompt quickstart`: the whole WePrompt path at CPU scale on the shared data, each stage reusing
the previous stage's output when it is already there and was built from the same inputs.

    corpus → tokenizer → token shards   (weprompt corpus build, reruns skip finished work)
    → tiny WeLM base                    (weprompt pretrain; skipped when its final checkpoint exists)
    → strong and weak WePrompt for one held-out category, evaluation, Table-6 report
                                        (weprompt experiment; finished cells are not recomputed)

Each stage records what it was built from in `inputs.json` beside its outputs and compares it on the
next run, printing every input that changed:
- corpus (`<work_dir>/inputs.json`): the corpus config, the pipeline's code, the corpus files and the
  task data files (size and modification time); the corpus build redoes what depends on a changed one
  itself. After the build, the shards must have been made with the tokenizer beside them; the
  tokenizer and shard fingerprints are recorded as the stage's outputs.
- base (`<run_dir>/inputs.json`): the tokenizer fingerprint, the shard fingerprint and the pretraining
  config; a base built from other ones is removed and trained again (a base from before this record
  is checked against the tokenizer its checkpoints name).
- experiment units and evaluations: see `eval.experiment` (the base's weights and tokenizer, the
  warm-up shards, the fine-tuning config).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from weprompt.common.errors import UserError
from weprompt.eval.experiment import (
    checkpoint_identity,
    comparable_train_config,
    read_inputs,
    record_inputs,
    shards_fingerprint,
    stale_reasons,
)
from weprompt.eval.report import describe_changes, input_changes


def _stage(title: str) -> float:
    print(f"\n=== {title} ===", flush=True)
    return time.perf_counter()


def _run(argv: list[str]) -> None:
    from weprompt.cli.main import main

    code = main(argv)
    if code:
        raise UserError(f"stage `weprompt {' '.join(argv)}` failed (exit code {code})")


def _files(root: Path, names: list[Path]) -> dict[str, list[int]]:
    """Size and modification time of each file, by its path under `root`."""
    return {str(f.relative_to(root)): [f.stat().st_size, int(f.stat().st_mtime)] for f in names}


def corpus_inputs(corpus_config: str) -> tuple[Path, dict]:
    """The corpus build's work dir and what its outputs depend on."""
    from weprompt.common.config import load_config, to_dict
    from weprompt.pretrain.corpus.config import CorpusConfig
    from weprompt.pretrain.corpus.reader import list_corpus_files
    from weprompt.pretrain.corpus.runtime import code_fingerprint

    cfg = load_config(CorpusConfig, corpus_config)
    corpus = cfg.resolved_corpus_dir()
    inputs = {
        "config": to_dict(cfg),
        "pipeline code": code_fingerprint(),  # the corpus build reruns its stages when its code changed
        "corpus files": {"dir": str(corpus), **_files(corpus, [f for _, f in list_corpus_files(corpus)])},
    }
    if cfg.decontam.enabled:  # the evaluation data decontamination removes from the corpus
        data = cfg.resolved_data_dir()
        inputs["task data files"] = {"dir": str(data), **_files(data, sorted(data.rglob("*.jsonl*")))}
    return cfg.resolved_work_dir(), inputs


def corpus_outputs(work_dir: Path) -> dict:
    """Fingerprints of the tokenizer and the shards the build left, checked to belong together."""
    from weprompt.pretrain.shards import TokenShards
    from weprompt.pretrain.tokenizer import Tokenizer

    tok = Tokenizer.load(work_dir / "tokenizer").fingerprint()
    shards = TokenShards(work_dir / "shards")
    if shards.tokenizer_fingerprint != tok:
        raise UserError(
            f"{work_dir / 'shards'} were made with tokenizer {shards.tokenizer_fingerprint[:12]}, but "
            f"{work_dir / 'tokenizer'} is {tok[:12]}; delete {work_dir} and run the quickstart again"
        )
    return {"tokenizer": tok, "shards": shards_fingerprint(work_dir / "shards")}


def corpus_stage(corpus_config: str) -> None:
    work, inputs = corpus_inputs(corpus_config)
    saved = read_inputs(work) or {}
    changes = input_changes({k: v for k, v in saved.items() if k in inputs}, inputs) if saved else []
    if changes:
        print(f"corpus inputs changed since the last build: {describe_changes(changes)}", flush=True)
        print("the corpus build redoes every stage that depends on them", flush=True)
    _run(["corpus", "build", "--config", corpus_config])
    outputs = corpus_outputs(work)
    out_changes = input_changes(saved["outputs"], outputs) if saved.get("outputs") else []
    if out_changes:
        print(f"corpus outputs changed: {describe_changes(out_changes)}", flush=True)
    record_inputs(work, {**inputs, "outputs": outputs})


def base_inputs(cfg) -> dict:
    """What a base trained from `cfg` (a PretrainConfig) depends on."""
    from weprompt.pretrain.tokenizer import Tokenizer

    return {
        "tokenizer": Tokenizer.load(cfg.data.tokenizer).fingerprint(),
        "shards": shards_fingerprint(cfg.data.shards),
        "config": comparable_train_config(cfg),
    }


def _remove_stale(*dirs: Path) -> None:
    here = Path.cwd().resolve()
    for d in dirs:
        if d.resolve() == here or d.resolve() in here.parents:
            raise UserError(f"refusing to delete {d} (it holds the working directory); set another run_dir")
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def _base_legacy(run_dir: Path, ckpt_dir: Path) -> dict:
    """What a base from before inputs were recorded still tells: the tokenizer it was trained with."""
    from weprompt.pretrain import checkpoint as ckpt
    from weprompt.pretrain.tokenizer import Tokenizer

    found = ckpt.list_checkpoints(ckpt_dir)
    if found:
        return {"tokenizer": checkpoint_identity(found[-1][1])["tokenizer"]}
    if (run_dir / ckpt.TOKENIZER_DIR).is_dir():  # the run's snapshot, taken before its first checkpoint
        return {"tokenizer": Tokenizer.load(run_dir / ckpt.TOKENIZER_DIR).fingerprint()}
    return {}


def base_stage(pretrain_config: str) -> None:
    """Reuse the base when it is complete and built from the same inputs, else (re)train it."""
    from weprompt.pretrain import checkpoint as ckpt
    from weprompt.pretrain.engine.pretrain import load_pretrain_config

    cfg, _ = load_pretrain_config(pretrain_config)
    run_dir, ckpt_dir = Path(cfg.train.run_dir), Path(cfg.train.checkpoint_dir)
    inputs = base_inputs(cfg)
    if run_dir.exists() or ckpt_dir.exists():
        changes = stale_reasons(run_dir, inputs, _base_legacy(run_dir, ckpt_dir))
        if changes:
            print(
                f"the base in {run_dir} was built from other inputs: {describe_changes(changes)}", flush=True
            )
            print("removing it and training the base again", flush=True)
            _remove_stale(ckpt_dir, run_dir)
    record_inputs(run_dir, inputs)  # before training: an interrupted base resumes only from the same inputs
    latest = ckpt.latest_checkpoint(ckpt_dir)
    if latest is not None and int(latest.name.split("_")[-1]) >= cfg.train.total_steps:
        print(
            "base checkpoint already complete, built from the same tokenizer, shards and config: reusing it"
        )
        return
    _run(["pretrain", "--config", pretrain_config])


def run_quickstart(corpus_config: str, pretrain_config: str, experiment_config: str) -> Path:
    from weprompt.eval.experiment import load_experiment, run_experiment

    for p in (corpus_config, pretrain_config, experiment_config):
        if not Path(p).is_file():
            raise UserError(f"quickstart config not found: {p} (run from the repository root)")
    timings = {}
    t = _stage("1/3 corpus: clean, dedup, decontaminate, balance, tokenizer, shards")
    corpus_stage(corpus_config)
    timings["corpus"] = time.perf_counter() - t
    t = _stage("2/3 WeLM base: pretraining on the shards")
    base_stage(pretrain_config)
    timings["base"] = time.perf_counter() - t
    t = _stage("3/3 WePrompt: strong and weak fine-tuning, evaluation, report")
    report = run_experiment(load_experiment(experiment_config))
    timings["experiment"] = time.perf_counter() - t
    print("\nquickstart stage times: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items()))
    return report
