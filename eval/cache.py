"""The prediction cache: one JSON Lines file per (model, task, template, setting).

    <cache_dir>/<model hash[:16]>/<task>/<template id>-<setting hash[:12]>.jsonl

The first line is a header naming everything the predictions depend on (model hash, tokenizer
fingerprint, template id and a hash of its text, shots, seed, split, decoding options); each further
line is one example's prediction, keyed by `key` ("<split>/<row>": row ids of some tasks repeat, e.g.
CFT's document index) and `h`, a hash of the row's content, so a changed data file is recomputed, not
silently reused. Rank predictions hold the per-token log-probabilities of every choice (and of the
content-free prompt), so rescoring with another rule or metric needs no model call.

Writes append a batch of lines, flush and fsync under an exclusive lock; a crash can leave at most a
partial last line, which the reader drops. An interrupted run therefore resumes where it stopped.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

SCHEMA = "weprompt.eval.predictions/1"


def stable_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def row_hash(row: dict) -> str:
    return stable_hash(row)[:16]


class PredictionCache:
    def __init__(self, cache_dir: str | os.PathLike, model_hash: str):
        self.root = Path(cache_dir) / model_hash[:16]

    def path(self, task: str, template_id: str, setting: dict) -> Path:
        return self.root / task / f"{template_id}-{stable_hash(setting)[:12]}.jsonl"

    def open(self, task: str, template_id: str, setting: dict) -> PredictionFile:
        return PredictionFile(self.path(task, template_id, setting), setting)


class PredictionFile:
    def __init__(self, path: Path, setting: dict):
        self.path = path
        self.setting = setting
        self.records: dict[str, dict] = {}
        self.partial_lines = 0
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                self.partial_lines += 1  # cut off by an interrupted write; that example is redone
                continue
            if rec.get("schema") == SCHEMA:
                if rec.get("setting") != self.setting:
                    raise ValueError(f"{self.path}: header does not match this setting (hash collision?)")
                continue
            self.records[rec["key"]] = rec  # a later line for the same key wins

    def get(self, key: str, h: str) -> dict | None:
        rec = self.records.get(key)
        return rec if rec is not None and rec.get("h") == h else None

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                end = f.seek(0, os.SEEK_END)
                lines = []
                if end == 0:
                    lines.append(json.dumps({"schema": SCHEMA, "setting": self.setting}, ensure_ascii=False))
                else:
                    f.seek(end - 1)
                    if f.read(1) != b"\n":  # a partial line from a crash: start on a fresh line
                        lines.append("")
                lines += [json.dumps(r, ensure_ascii=False) for r in records]
                f.write(("\n".join(lines) + "\n").encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        for r in records:
            self.records[r["key"]] = r


def read_predictions(path: str | os.PathLike) -> dict[str, dict]:
    """The records of a prediction file by example key (header skipped, partial lines dropped, last wins)."""
    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    try:
        setting = json.loads(first).get("setting")
    except json.JSONDecodeError:
        setting = None
    return PredictionFile(path, setting).records
