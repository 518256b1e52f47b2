"""Leakage report: character n-gram overlap between training examples and held-out eval examples.

For each training task, the share of its (sampled) examples that share at least one character
n-gram (default 13) with any validation/test example of the test tasks. The text of an example is
every string value in it, recursively, except id-like fields. Above the threshold is an error
unless the task is explicitly allowed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pretrain.errors import UserError
from weprompt.catalog import Catalog
from weprompt.data import load_split

ID_FIELDS = {"id", "idx", "label", "label_id", "qid", "db_id", "dialogue_id"}


class LeakageError(UserError):
    pass


def example_text(row: dict) -> str:
    parts: list[str] = []

    def walk(value, key=None):
        if key in ID_FIELDS:
            return
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(row)
    return "\n".join(parts)


def ngrams(text: str, n: int) -> set[int]:
    text = "".join(text.split())  # whitespace does not count: segmented and unsegmented copies match
    return {hash(text[i : i + n]) for i in range(len(text) - n + 1)}


@dataclass
class LeakageReport:
    n: int
    threshold: float
    per_task: dict[str, dict] = field(default_factory=dict)  # task -> checked, overlapping, rate
    errors: list[str] = field(default_factory=list)


def leakage_report(
    catalog: Catalog,
    test_tasks: list[str],
    train_tasks: list[str],
    n: int = 13,
    sample: int = 1000,
    threshold: float = 0.01,
    allow: list[str] | None = None,
    seed: int = 0,
    data_dir=None,
) -> LeakageReport:
    eval_grams: set[int] = set()
    for name in test_tasks:
        task = catalog.task(name)
        for split in ("validation", "test"):
            if split in task.splits:
                for row in load_split(name, split, data_dir):
                    eval_grams |= ngrams(example_text(row), n)
    report = LeakageReport(n, threshold)
    rng = random.Random(seed)
    for name in train_tasks:
        ds = load_split(name, "train", data_dir)
        idx = sorted(rng.sample(range(len(ds)), min(sample, len(ds))))
        hits = sum(1 for row in ds.select(idx) if ngrams(example_text(row), n) & eval_grams)
        rate = hits / len(idx) if idx else 0.0
        report.per_task[name] = {"checked": len(idx), "overlapping": hits, "rate": round(rate, 4)}
        if rate > threshold and name not in (allow or []):
            report.errors.append(
                f"training task '{name}': {hits}/{len(idx)} examples ({rate:.1%}) share a "
                f"{n}-gram with the eval examples of {', '.join(test_tasks)} "
                f"(threshold {threshold:.1%}; allow it explicitly to train anyway)"
            )
    return report
