"""Leakage report: character n-gram overlap between training examples and held-out eval examples.

For each training task, the share of its (sampled) examples that share at least one character
n-gram (default 13) with any validation/test example of the test tasks. The text of an example is
every string value in it, recursively, except id-like and label fields. N-grams are taken within
one field, never across two: a label name glued to the end of a title is not content. Label
fields are skipped because tasks of one label space share their label names by design (THUCNews'
'entertainment' is a 13-gram of TNEWS' 'news_entertainment'), which says nothing about leaked
text. Above the threshold is an error unless the task is explicitly allowed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from weprompt.catalog import Catalog
from weprompt.common.errors import UserError
from weprompt.data import load_split

ID_FIELDS = {"id", "idx", "qid", "db_id", "dialogue_id"}


def _skipped(key) -> bool:
    # label, label_id, label_name, label_desc, label_des, labels: the label space, not the content
    return key in ID_FIELDS or (isinstance(key, str) and key.startswith("label"))


class LeakageError(UserError):
    pass


def example_fields(row: dict) -> list[str]:
    """Every string value of an example, recursively, without id-like and label fields."""
    parts: list[str] = []

    def walk(value, key=None):
        if _skipped(key):
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
    return parts


def example_text(row: dict) -> str:
    return "\n".join(example_fields(row))


def ngrams(text: str, n: int) -> set[int]:
    text = "".join(text.split())  # whitespace does not count: segmented and unsegmented copies match
    return {hash(text[i : i + n]) for i in range(len(text) - n + 1)}


def example_ngrams(row: dict, n: int) -> set[int]:
    return set().union(*(ngrams(part, n) for part in example_fields(row)))


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
                    eval_grams |= example_ngrams(row, n)
    report = LeakageReport(n, threshold)
    rng = random.Random(seed)
    for name in train_tasks:
        ds = load_split(name, "train", data_dir)
        idx = sorted(rng.sample(range(len(ds)), min(sample, len(ds))))
        hits = sum(1 for row in ds.select(idx) if example_ngrams(row, n) & eval_grams)
        rate = hits / len(idx) if idx else 0.0
        report.per_task[name] = {"checked": len(idx), "overlapping": hits, "rate": round(rate, 4)}
        if rate > threshold and name not in (allow or []):
            report.errors.append(
                f"training task '{name}': {hits}/{len(idx)} examples ({rate:.1%}) share a "
                f"{n}-gram with the eval examples of {', '.join(test_tasks)} "
                f"(threshold {threshold:.1%}; allow it explicitly to train anyway)"
            )
    return report
