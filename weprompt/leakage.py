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

import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from weprompt.catalog import Catalog
from weprompt.common.errors import UserError
from weprompt.data import load_rows

log = logging.getLogger(__name__)

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


def _squeezed(text: str) -> str:
    return "".join(text.split())  # whitespace does not count: segmented and unsegmented copies match


def _grams(text: str, n: int) -> Iterator[str]:
    """The character n-grams of `text`, produced in C (no Python loop per position)."""
    return map(text.__getitem__, map(slice, range(len(text) - n + 1), range(n, len(text) + 1)))


def ngrams(text: str, n: int) -> set[str]:
    return set(_grams(_squeezed(text), n))


def example_ngrams(row: dict, n: int) -> set[str]:
    return set().union(*(ngrams(part, n) for part in example_fields(row)))


def shares_ngram(row: dict, grams: set[str], n: int) -> bool:
    """Whether any n-gram of any field of `row` is in `grams`; stops at the first one it finds."""
    return any(not grams.isdisjoint(_grams(_squeezed(part), n)) for part in example_fields(row))


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
    start = time.perf_counter()
    eval_grams: set[str] = set()
    for name in test_tasks:
        task = catalog.task(name)
        for split in ("validation", "test"):
            if split in task.splits:
                for row in load_rows(name, split, data_dir, catalog):
                    for part in example_fields(row):
                        eval_grams.update(_grams(_squeezed(part), n))
    log.info("leakage: %d %d-grams of the eval examples of %s", len(eval_grams), n, ", ".join(test_tasks))
    report = LeakageReport(n, threshold)
    rng = random.Random(seed)
    for k, name in enumerate(train_tasks, 1):
        rows = load_rows(name, "train", data_dir, catalog)
        idx = sorted(rng.sample(range(len(rows)), min(sample, len(rows))))
        hits = sum(1 for i in idx if shares_ngram(rows[i], eval_grams, n)) if eval_grams else 0
        rate = hits / len(idx) if idx else 0.0
        report.per_task[name] = {"checked": len(idx), "overlapping": hits, "rate": round(rate, 4)}
        if rate > threshold and name not in (allow or []):
            report.errors.append(
                f"training task '{name}': {hits}/{len(idx)} examples ({rate:.1%}) share a "
                f"{n}-gram with the eval examples of {', '.join(test_tasks)} "
                f"(threshold {threshold:.1%}; allow it explicitly to train anyway)"
            )
        if k % 20 == 0 or k == len(train_tasks):
            log.info(
                "leakage: %d/%d training tasks checked (%.1fs)",
                k,
                len(train_tasks),
                time.perf_counter() - start,
            )
    return report
