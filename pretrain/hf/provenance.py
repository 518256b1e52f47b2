"""What a checkpoint was trained on, read from the files our trainer writes beside it.

    <run>/checkpoints/step_N/trainer_state.json   step, tokens seen, precision, tokenizer fingerprint
    <run>/summary.json                            run_meta: kind (weprompt), split, test/train tasks, base
    <run>/split.json                              the held-out split (WePrompt fine-tuning)
    <run>/config.yaml                             pretraining data: shards directory → its meta.json

Every field is optional: a checkpoint copied without its run directory still exports, with a card that
says what is unknown. Paths in the run's config are tried as written and relative to the run's parent.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from weprompt.pretrain.hf import InteropError


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InteropError(f"{path} is not valid JSON: {e}") from e


def _yaml(path: Path) -> dict | None:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return None
    except yaml.YAMLError as e:
        raise InteropError(f"{path} is not valid YAML: {e}") from e


def _find(path_text: str, run_dir: Path) -> Path | None:
    p = Path(path_text)
    for cand in (p, run_dir.parent / p, run_dir.parent.parent / p):
        if cand.is_dir():
            return cand
    return None


def _pretrain_data(run_dir: Path) -> dict | None:
    cfg = _yaml(run_dir / "config.yaml")
    data = (cfg or {}).get("data") or {}
    if not data.get("shards"):
        return None
    out = {"shards": data["shards"], "val_fraction": data.get("val_fraction")}
    shards = _find(str(data["shards"]), run_dir)
    meta = _json(shards / "meta.json") if shards else None
    if meta:
        out.update(
            num_tokens=meta.get("num_tokens"),
            num_documents=meta.get("num_documents"),
            tokens_by_source=meta.get("tokens_by_source"),
        )
    return out


def gather(step_dir: Path) -> dict:
    """A JSON-able record of the checkpoint's training: kind, step, tokens, data, split."""
    state = _json(step_dir / "trainer_state.json") or {}
    run_dir = step_dir.parent.parent if step_dir.parent.name == "checkpoints" else None
    rec: dict = {
        "checkpoint": step_dir.name,
        "step": state.get("step"),
        "tokens_seen": state.get("tokens_seen"),
        "precision": state.get("precision"),
        "train_seconds": state.get("train_seconds"),
        "kind": "welm",
    }
    if run_dir is None:
        return rec
    rec["run"] = run_dir.name
    meta = ((_json(run_dir / "summary.json") or {}).get("run_meta")) or {}
    split = _json(run_dir / "split.json")
    if meta.get("kind") == "weprompt" or split is not None:
        rec["kind"] = "weprompt"
        rec["split"] = {
            "mode": (split or {}).get("mode", meta.get("split")),
            "test_tasks": (split or {}).get("test_tasks", meta.get("test_tasks")),
            "train_tasks": (split or {}).get("train_tasks", meta.get("train_tasks")),
            "held_out": sorted(((split or {}).get("excluded") or {}).keys()),
        }
        rec["base"] = meta.get("base")
    else:
        rec["pretrain_data"] = _pretrain_data(run_dir)
    return rec
