"""`weprompt experiment`: the held-out experiment matrix (paper Table 6) — train what each cell needs,
evaluate, collect, report.

The plan (config, modes, units) is in `weprompt.eval.experiment_plan`.

Resumable: a finished training unit (its `finetune_summary.json`) is not retrained, an interrupted
one resumes from its last checkpoint (the engine's `resume: auto`), and evaluation reuses the
prediction cache. A run directory made by a different config is refused. Each unit records the
inputs it was built from (`inputs.json`: the base's weights and tokenizer, its fine-tuning config,
the warm-up shards); a unit whose inputs changed (a rebuilt base, new shards) is retrained, and an
evaluation whose model or settings changed is redone, each with a warning naming what changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, cast

import yaml

from weprompt.common.atomic import atomic_write_text
from weprompt.common.config import from_dict, to_dict
from weprompt.common.errors import UserError
from weprompt.eval.experiment_plan import (  # noqa: F401 (re-exported: the experiment's public names)
    MODES,
    ExperimentConfig,
    ExperimentEval,
    Unit,
    drop_held_out_share,
    plan_units,
    validate,
)
from weprompt.eval.report import describe_changes, input_changes
from weprompt.finetune import FinetuneConfig, SplitMode

log = logging.getLogger(__name__)

INPUTS_FILE = "inputs.json"
INPUTS_KEY = "experiment_inputs"  # in evals/<tag>.json: the model and settings it was evaluated with
# Training settings that change neither the weights nor what they mean: not compared on reuse. `run_dir`
# is where the unit lives, not what it learned: a moved or renamed experiment folder keeps its units.
VOLATILE_TRAIN_KEYS = (
    "logging",
    "num_threads",
    "checkpoint",
    "eval",
    "max_train_minutes",
    "flush_denormal",
    "run_dir",
)
# The leakage check is a gate: it decides whether a unit may train, never what it trains on. A finished
# unit whose gate settings changed passes the gate again instead of being retrained.
GATE = "leakage"


def _without_gates(config: dict) -> dict:
    """An experiment config without the fine-tuning sections' `leakage` gates (see `GATE`)."""
    out = copy.deepcopy(config)
    for section in ("finetune", "single_task_finetune"):
        if isinstance(out.get(section), dict):
            out[section].pop(GATE, None)
    return out


def _check_run_dir(cfg: ExperimentConfig) -> None:
    saved = cfg.out / "experiment.yaml"
    mine = to_dict(cfg)
    if saved.exists():
        theirs = yaml.safe_load(saved.read_text(encoding="utf-8"))
        if theirs != mine and _without_gates(theirs) == _without_gates(mine):
            log.info("%s: only the leakage gate settings changed; units check the gate again", cfg.out)
            atomic_write_text(saved, yaml.safe_dump(mine, allow_unicode=True, sort_keys=False))
        elif theirs != mine:
            plain_theirs, plain_mine = _without_gates(theirs), _without_gates(mine)
            keys = sorted(
                k for k in set(plain_theirs) | set(plain_mine) if plain_theirs.get(k) != plain_mine.get(k)
            )
            raise UserError(
                f"{cfg.out} was made by a different experiment config (differs in: {', '.join(keys)}); "
                f"refusing to mix results. Start fresh with another `run_dir`/`name`, or delete {cfg.out}"
            )
    else:
        cfg.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(saved, yaml.safe_dump(mine, allow_unicode=True, sort_keys=False))


# -- what a stage was built from ---------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def checkpoint_identity(path: str | Path) -> dict:
    """What depends on a checkpoint: the sha256 of its weights and its tokenizer's fingerprint."""
    from weprompt.pretrain import checkpoint as ckpt

    step = ckpt.resolve(path)
    manifest = step / ckpt.MANIFEST_FILE
    files = ckpt.read_json(manifest)["files"] if manifest.is_file() else {}
    weights = files.get(ckpt.MODEL_FILE, {}).get("sha256")
    if weights is None and (step / ckpt.MODEL_FILE).is_file():
        weights = _file_sha256(step / ckpt.MODEL_FILE)
    state = step / ckpt.STATE_FILE
    tokenizer = ckpt.read_json(state).get("tokenizer_fingerprint") if state.is_file() else None
    return {"weights": weights, "tokenizer": tokenizer}


def shards_fingerprint(path: str | Path) -> str | None:
    """sha256 over a token-shard directory's meta.json and document index; None when there are none."""
    from weprompt.pretrain.shards import INDEX_FILE, META_FILE

    parts = [Path(path) / META_FILE, Path(path) / INDEX_FILE]
    if not all(p.is_file() for p in parts):
        return None
    return hashlib.sha256("".join(_file_sha256(p) for p in parts).encode()).hexdigest()


def comparable_train_config(cfg: Any) -> dict:
    """A config as a dict, without the `train` settings that do not change the weights."""
    out = to_dict(cfg)
    for key in VOLATILE_TRAIN_KEYS:
        out.get("train", {}).pop(key, None)
    return out


def _plain(obj: Any) -> Any:
    """As it reads back from JSON (tuples become lists), so recorded and current inputs compare equal."""
    return json.loads(json.dumps(obj, ensure_ascii=False, default=str))


def read_inputs(out_dir: Path) -> dict | None:
    path = out_dir / INPUTS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def record_inputs(out_dir: Path, inputs: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / INPUTS_FILE, json.dumps(_plain(inputs), ensure_ascii=False, indent=1) + "\n")


def stale_reasons(out_dir: Path, inputs: dict, legacy: dict) -> list[str]:
    """Why `out_dir` cannot be reused for `inputs` (empty: it can). Without a record of its inputs
    (made before they were recorded) only `legacy`, what its files still tell, is compared."""
    saved, inputs = read_inputs(out_dir), _plain(inputs)
    if saved is not None and isinstance(saved.get("config"), dict):  # recorded before a key became volatile
        for key in VOLATILE_TRAIN_KEYS:
            saved["config"].get("train", {}).pop(key, None)
    if saved is None:
        return input_changes(_plain(legacy), {k: inputs[k] for k in legacy})
    return input_changes(saved, inputs)


def _unit_config(cfg: ExperimentConfig, unit: Unit, run_dir: Path) -> FinetuneConfig:
    overrides = copy.deepcopy(cfg.single_task_finetune if unit.split == "single" else cfg.finetune)
    ft = from_dict(FinetuneConfig, overrides, "finetune")
    ft.base, ft.test_tasks = cfg.base, unit.test_tasks
    ft.split = cast(SplitMode, unit.split)  # strong | weak | all | single, from the unit table
    ft.data_dir, ft.bank_dir = cfg.data_dir, cfg.bank_dir
    ft.sampler.seed = cfg.seed
    ft.train.seed = cfg.seed + 1234
    ft.train.run_dir = str(run_dir)
    ft.train.checkpoint.resume = "auto"
    drop_held_out_share(ft, unit)
    return ft


def _unit_inputs(ft: FinetuneConfig, base_id: dict) -> dict:
    warmup = ft.batch.warmup
    shards = shards_fingerprint(warmup.shards or "runs/corpus/shards") if warmup.steps > 0 else None
    return {"base": base_id, "warmup shards": shards, "config": comparable_train_config(ft)}


def _unit_legacy(run_dir: Path, base_id: dict) -> dict:
    """What a unit trained before inputs were recorded still tells: the tokenizer of its checkpoints."""
    from weprompt.pretrain import checkpoint as ckpt

    found = ckpt.list_checkpoints(run_dir / "checkpoints")
    if not found:
        return {}
    return {"base": {**base_id, "tokenizer": checkpoint_identity(found[-1][1])["tokenizer"]}}


def train_unit(cfg: ExperimentConfig, unit: Unit, base_id: dict) -> Path:
    """Train one unit, or reuse it when it was built from the same base, shards and config."""
    from weprompt.eval.heldout_probe import rank_probe
    from weprompt.finetune import recheck_leakage, run_finetune

    run_dir = cfg.out / "models" / unit.name
    ft = _unit_config(cfg, unit, run_dir)
    inputs = _unit_inputs(ft, base_id)
    gate_changed = False
    if run_dir.exists():
        changes = stale_reasons(run_dir, inputs, _unit_legacy(run_dir, base_id))
        gate_changed = bool(changes) and all(c.startswith(f"config.{GATE}.") for c in changes)
        if changes and not gate_changed:
            log.warning(
                "%s was built from other inputs (%s): retraining it", run_dir, describe_changes(changes)
            )
            shutil.rmtree(run_dir)
    finished = (run_dir / "finetune_summary.json").exists()
    if finished and gate_changed:
        log.info("%s: leakage gate changed (%s): checking it again", run_dir, describe_changes(changes))
        recheck_leakage(ft)  # raises, and keeps the old record, when the unit no longer passes
    record_inputs(run_dir, inputs)  # before training: an interrupted unit resumes only from the same inputs
    if finished:
        return run_dir
    log.info("training %s (%s; held out: %s)", unit.name, unit.split, ", ".join(unit.test_tasks))
    run_finetune(ft, probe_factory=rank_probe)
    return run_dir


def preflight_gates(cfg: ExperimentConfig, units: list[Unit]) -> None:
    """Every unit still to train passes its leakage gate before the first one trains, so a gate stop costs
    seconds, not the hours of the units before it; all stops are reported at once."""
    from weprompt.finetune import gate_report
    from weprompt.leakage import LeakageError

    problems = []
    for unit in units:
        run_dir = cfg.out / "models" / unit.name
        if unit.split in ("all", "single") or (run_dir / "finetune_summary.json").exists():
            continue  # no held-out test task to leak into, or trained (a changed gate is checked there)
        log.info("leakage gate of %s, before any training", unit.name)
        problems += [f"{unit.name}: {e}" for e in gate_report(_unit_config(cfg, unit, run_dir)).errors]
    if problems:
        raise LeakageError(
            "leakage above the threshold, found before any unit trained:\n  "
            + "\n  ".join(problems)
            + "\n(read the overlaps; add a task to finetune.leakage.allow only when they are not its content)"
        )


def _evaluate(cfg: ExperimentConfig, model: Path, tasks: list[str], shots: list, tag: str) -> dict:
    """Evaluate `model`, or reuse `evals/<tag>.json` when it holds these tasks for the same model and
    settings (a redone evaluation of unchanged predictions comes from the prediction cache)."""
    from weprompt.eval.runner import EvalOptions, evaluate

    path = cfg.out / "evals" / f"{tag}.json"
    settings = {k: v for k, v in to_dict(cfg.eval).items() if k != "batch_size"}
    inputs = _plain({"model": checkpoint_identity(model), "eval": settings, "shots": shots})
    if path.exists():
        cached = json.loads(path.read_text(encoding="utf-8"))
        recorded = cached.get(INPUTS_KEY)
        changes = input_changes(recorded, inputs) if recorded else ["no record of the model it evaluated"]
        if not changes and set(tasks) <= set(cached["tasks"]) | set(cached.get("skipped", {})):
            return cached
        if changes:
            log.warning("%s is out of date (%s): evaluating again", path, describe_changes(changes))
    opts = EvalOptions(
        limit=cfg.eval.limit,
        seed=cfg.seed,
        batch_size=cfg.eval.batch_size,
        calibrate=cfg.eval.calibrate,
        scope_probe=cfg.eval.scope_probe,
        cache_dir=str(cfg.out / "eval_cache"),
        bank_dir=cfg.bank_dir,
        data_dir=cfg.data_dir,
    )
    log.info("evaluating %s on %s (shots %s)", tag, ", ".join(tasks), shots)
    res = {**evaluate(str(model), tasks, shots, opts), INPUTS_KEY: inputs}
    atomic_write_text(path, json.dumps(res, ensure_ascii=False, indent=1))
    return res


def scored_records(task_result: dict, k: str) -> list[list[dict]]:
    """Per prompt of shot setting `k`, the prediction records it was scored on (errors left out)."""
    from weprompt.eval.cache import read_predictions

    out = []
    for p in task_result["shots"][k]["prompts"]:
        recs = []
        for key, rec in read_predictions(p["predictions"]).items():
            split, _, row = key.partition("/")
            # A predictions file is shared by runs of the same setting; keep only this run's rows.
            if split != task_result["split"] or not row.isdigit() or int(row) >= task_result["n_examples"]:
                continue
            if not rec.get("error"):
                recs.append(rec)
        out.append(recs)
    return out


def per_example_scores(task_result: dict, records: list[list[dict]]) -> tuple[list[str], list[float]]:
    """Mean over prompts of each example's score in [0, 1] (for the paired bootstrap)."""
    from weprompt.eval import metrics as M
    from weprompt.eval.scoring import DEFAULT_RULE, argmax, rule_scores

    by_key: dict[str, list[float]] = {}
    metric = task_result["metric"]
    for rec in (r for prompt in records for r in prompt):
        if task_result["kind"] == "rank":
            s = rule_scores(rec["logprobs"], rec["choices"], rec.get("logprobs_cf"))[DEFAULT_RULE]
            assert s is not None  # only the calibrated rule can be missing, and it is not the default
            value = float(argmax(s) == rec["gold"])
        else:
            value = M.compute([metric], [rec["prediction"]], [rec["references"]])[metric] / 100.0
        by_key.setdefault(rec["key"], []).append(value)
    keys = sorted(by_key)
    return keys, [statistics.fmean(by_key[x]) for x in keys]


def cell_baselines(task_result: dict, records: list[list[dict]]) -> dict:
    """The cell's chance and majority-class baselines: means over its prompts (`aggregate.baselines`)."""
    from weprompt.eval.aggregate import baselines

    kind, ttype, metric = task_result["kind"], task_result["task_type"], task_result["metric"]
    per = [baselines(kind, ttype, metric, recs) for recs in records if recs]

    def mean(key: str) -> float | None:
        values = [b[key] for b in per if b[key] is not None]
        return statistics.fmean(values) if values else None

    constant = Counter(b["constant_answer"] for b in per if b["constant"])
    return {
        "chance": mean("chance"),
        "majority": mean("majority"),
        "majority_answer": per[0]["majority_answer"] if per else None,
        "constant_prompts": sum(constant.values()),
        "constant_answer": constant.most_common(1)[0][0] if constant else None,  # the most frequent one
    }


def _cell(task_result: dict, k: str, mode: str) -> dict:
    shot = task_result["shots"][k]
    summ = shot["summary"]
    records = scored_records(task_result, k)
    ids, per_ex = per_example_scores(task_result, records)
    oos = [p["oos_rate"] for p in shot["prompts"] if p.get("oos_rate") is not None]
    return {
        "task": task_result["task"],
        "category": task_result["category"],
        "mode": mode,
        "metric": task_result["metric"],
        "score": summ.get("median"),
        "iqr": [summ.get("q1"), summ.get("q3")],
        "worst": (summ.get("worst") or {}).get("score"),
        "prompts": {p["name"]: p["score"] for p in shot["prompts"] if p.get("score") is not None},
        "per_example": per_ex,
        "example_ids": ids,
        "out_of_scope": statistics.fmean(oos) / 100.0 if oos else None,
        "shots": shot["k"],
        **cell_baselines(task_result, records),
    }


def run_experiment(cfg: ExperimentConfig) -> Path:
    from weprompt.bank import bank_catalog
    from weprompt.eval.table6 import write_report
    from weprompt.pretrain import checkpoint as ckpt

    catalog = bank_catalog(cfg.bank_dir)
    validate(cfg, catalog)
    base = ckpt.resolve(cfg.base)  # a missing base is a clear CheckpointError
    base_id = checkpoint_identity(base)
    _check_run_dir(cfg)
    cells: list[dict] = []
    notes: list[str] = []
    if "welm_zero_shot" in cfg.modes or "welm_few_shot" in cfg.modes:
        shots = ([0] if "welm_zero_shot" in cfg.modes else []) + (
            [cfg.eval.few_shot] if "welm_few_shot" in cfg.modes else []
        )
        res = _evaluate(cfg, base, cfg.test_tasks, shots, "base")
        for tr in res["tasks"].values():
            for k, shot in tr["shots"].items():
                mode = (
                    "welm_zero_shot" if shot["k"] == 0 and "welm_zero_shot" in cfg.modes else "welm_few_shot"
                )
                cells.append(_cell(tr, k, mode))
        notes += [f"{t}: {why}" for t, why in res.get("skipped", {}).items()]
    curves = {}
    units = plan_units(cfg, catalog)
    preflight_gates(cfg, units)
    for unit in units:
        model_dir = train_unit(cfg, unit, base_id)
        res = _evaluate(cfg, model_dir, unit.serves, [0], unit.name)
        for tr in res["tasks"].values():
            cells.append(_cell(tr, "0", unit.mode))
        if unit.label:
            notes.append(f"{unit.name}: {unit.label}")
        from weprompt.pretrain.engine.logger import LOG_FILE

        log_file = model_dir / LOG_FILE
        if log_file.exists():
            curves[unit.name] = [
                json.loads(x) for x in log_file.read_text(encoding="utf-8").splitlines() if x.strip()
            ]
    skipped_single = [
        t for t in cfg.test_tasks if "welm_finetune" in cfg.modes and "train" not in catalog.task(t).splits
    ]
    notes += [f"{t}: no train split, so no single-task fine-tuning cell" for t in skipped_single]
    return write_report(cells, _scale(cfg, base, base_id, notes), curves, cfg.out / "report")


def _scale(cfg: ExperimentConfig, base: Path, base_id: dict, notes: list[str]) -> dict:
    from weprompt.pretrain import checkpoint as ckpt

    mc = ckpt.read_model_config(base)
    params = mc.num_parameters_formula()
    state = (
        json.loads((base / "trainer_state.json").read_text())
        if (base / "trainer_state.json").exists()
        else {}
    )
    tokens = state.get("tokens_seen")
    statement = (
        f"Base model: {params / 1e6:.1f}M parameters ({mc.n_layer} layers, d {mc.d_model}, context "
        f"{mc.context_length}), pretrained on {tokens:,} tokens"
        if tokens
        else f"Base model: {params / 1e6:.1f}M parameters ({mc.n_layer} layers, d {mc.d_model})"
    )
    statement += f"; evaluation on at most {cfg.eval.limit} examples per task." if cfg.eval.limit else "."
    return {
        "scale_statement": statement,
        "experiment": cfg.name,
        "base checkpoint": str(base),
        "base weights / tokenizer": " / ".join(
            (v or "?")[:12] for v in (base_id["weights"], base_id["tokenizer"])
        ),
        "base parameters": params,  # read by `weprompt experiment ladder`
        "base pretraining tokens": tokens,
        "test tasks": ", ".join(cfg.test_tasks),
        "seed": cfg.seed,
        "notes": "; ".join(notes) or "none",
    }


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    from weprompt.common.config import load_config

    return load_config(ExperimentConfig, path, overrides)
