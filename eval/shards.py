"""Sharded evaluation: `weprompt eval --shard i/n`, then `weprompt eval merge <shard dirs>`.

The grid is every (task, shot setting, prompt, example). A cell belongs to shard
`crc32("task|k|template id|example key") mod n`: fixed by the names alone (not by the run order, the
cache state or the machine), so n runs with the same settings and `--shard 0/n` … `--shard n-1/n`
predict every cell exactly once, with any scheduler. Each shard writes its predictions to the
prediction cache (a shared one, or its own) and `shard.json` into its results directory: the settings
and, per (task, k, prompt), the prediction file it wrote.

`merge` checks that the manifests agree (same settings, shards 0 … n-1 each once), copies every
shard's predictions into the merged cache file of each cell (the file a single run would write), and
scores from it with the runner's own code: the results equal those of one unsharded run.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from weprompt.common.atomic import atomic_write_text
from weprompt.common.errors import UserError
from weprompt.eval.cache import read_predictions
from weprompt.eval.config import parse_shard

SHARD_SCHEMA = "weprompt.eval.shard/1"
SHARD_FILE = "shard.json"


class ShardError(UserError):
    pass


def in_shard(spec: str, task: str, k: int, template_id: str, key: str) -> bool:
    i, n = parse_shard(spec)
    return zlib.crc32(f"{task}|{k}|{template_id}|{key}".encode()) % n == i


def shard_manifest(results: dict, cells: list[dict], tasks: list[str]) -> dict:
    return {
        "schema": SHARD_SCHEMA,
        "shard": results["settings"]["shard"],
        "created": results["created"],
        "model": results["model"],
        "trained_split": results["trained_split"],
        "settings": results["settings"],
        "tasks": tasks,
        "skipped": results["skipped"],
        "cells": cells,
        "seconds": results["seconds"],
    }


def write_manifest(manifest: dict, out: str | Path) -> Path:
    path = Path(out) / SHARD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(manifest, ensure_ascii=False, indent=1))
    return path


def merge_into(pfile, cells: list[dict], keys: list[str], hashes: list[str]) -> None:
    """Every example's prediction from the shards' files into `pfile` (missing ones are an error)."""
    found: dict[str, dict] = {}
    paths = [c["path"] for c in cells if c["n"]]  # a shard that owns no example of a cell writes no file
    for p in paths:
        if not Path(p).is_file():
            raise ShardError(
                f"{p}: a shard's prediction file is missing (moved, or the shard did not finish)"
            )
        found.update(read_predictions(p))
    todo = []
    for key, h in zip(keys, hashes, strict=True):
        rec = found.get(key)
        if rec is None or rec.get("h") != h:
            raise ShardError(
                f"{pfile.path.parent.name}/{pfile.path.name}: no prediction for example {key} in any shard "
                f"({len(paths)} files); a shard is missing or did not finish"
            )
        if pfile.get(key, h) != rec:
            todo.append(rec)
    pfile.append(todo)


def _read(d: str | Path) -> dict:
    path = Path(d) / SHARD_FILE
    if not path.is_file():
        raise ShardError(f"{d}: no {SHARD_FILE}; pass the results dirs of `weprompt eval --shard i/n` runs")
    m = json.loads(path.read_text(encoding="utf-8"))
    if m.get("schema") != SHARD_SCHEMA:
        raise ShardError(f"{path}: not a shard manifest (schema {m.get('schema')!r})")
    return m


def _same(a: dict, b: dict) -> list[str]:
    skip = {"shard", "extra", "progress", "batch_size", "cache_dir"}
    return sorted(k for k in set(a) | set(b) if k not in skip and a.get(k) != b.get(k))


def check_manifests(dirs: list[str]) -> list[dict]:
    ms = [_read(d) for d in dirs]
    n = parse_shard(ms[0]["shard"])[1]
    seen: dict[int, str] = {}
    for d, m in zip(dirs, ms, strict=True):
        diff = _same(ms[0]["settings"], m["settings"])
        if diff or m["model"]["hash"] != ms[0]["model"]["hash"]:
            raise ShardError(f"{d}: settings differ from {dirs[0]}'s: {', '.join(diff) or 'model'}")
        i, ni = parse_shard(m["shard"])
        if ni != n:
            raise ShardError(f"{d}: shard {m['shard']} is not one of {n} (as {dirs[0]})")
        if i in seen:
            raise ShardError(f"{d}: shard {m['shard']} is given twice ({seen[i]})")
        seen[i] = d
    missing = sorted(set(range(n)) - set(seen))
    if missing:
        raise ShardError(f"shards {', '.join(f'{i}/{n}' for i in missing)} are missing")
    return ms


def merge(dirs: list[str], cache_dir: str | None = None) -> dict:
    """The results of one unsharded run, from the shard runs' results dirs (no model needed)."""
    from dataclasses import fields

    from weprompt.eval.cache import PredictionCache
    from weprompt.eval.runner import EvalOptions, _TaskRun, run_tasks

    ms = check_manifests(dirs)
    st = ms[0]["settings"]
    names = {f.name for f in fields(EvalOptions)}
    opts = EvalOptions(**{k: v for k, v in st.items() if k in names})
    opts.shard, opts.extra = None, {"merged_shards": [str(Path(d).resolve()) for d in dirs]}
    opts.cache_dir = cache_dir or opts.cache_dir
    sources: dict[tuple, list[str]] = {}
    for m in ms:
        for c in m["cells"]:
            sources.setdefault((c["task"], c["k"], c["template_id"]), []).append(c)
    model = ms[0]["model"]
    run = _TaskRun(None, opts, PredictionCache(opts.cache_dir, model["hash"]), model, merge_from=sources)
    return run_tasks(run, ms[0]["tasks"], st["shots"], ms[0]["trained_split"])
