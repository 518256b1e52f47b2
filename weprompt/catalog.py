"""The task catalog (`prompt_bank/catalog.yaml`): which tasks exist, their category, type, metrics,
source-dataset family, splits, few-shot count and labels. One source of truth for the sampler, the
split builder, the evaluator and the annotation UI.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from weprompt.common.errors import UserError

BANK_DIR = Path(__file__).resolve().parents[1] / "prompt_bank"
DEFAULT_CATALOG = BANK_DIR / "catalog.yaml"

CATEGORIES = (
    "reading_comprehension",
    "cloze",
    "nli",
    "topic_classification",
    "sentiment",
    "summarization",
    "closed_book_qa",
    "winograd",
    "commonsense_reasoning",
    "paraphrase",
    "information_extraction",
    "dialogue",
    "text_generation",
    "math_reasoning",
)
TASK_TYPES = (
    "classification",
    "multi_label_classification",
    "multiple_choice",
    "extractive_qa",
    "cloze_generation",
    "sentence_cloze",
    "generation",
    "sequence_labeling",
    "extraction",
    "semantic_parsing",
    "regression",
)
# Task types scored by ranking answer choices (lowest perplexity); the rest are generated.
RANK_TYPES = frozenset({"classification", "multiple_choice"})
SPLITS = ("train", "validation", "test")


class CatalogError(UserError):
    pass


@dataclass(frozen=True)
class Task:
    name: str
    category: str
    task_type: str
    metrics: tuple[str, ...]
    family: str
    held_out_eval: bool
    few_shot: int
    splits: dict[str, int]
    eval_split: str
    description: str
    fields: dict[str, str]
    hf_hub: str | None = None
    label_field: str | None = None
    labels: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    eval_negatives: int | None = None  # score gold + this many random negative labels (TNEWS, IFLYTEK)

    @property
    def is_rank(self) -> bool:
        return self.task_type in RANK_TYPES

    @property
    def metric(self) -> str:
        return self.metrics[0]


@dataclass
class Catalog:
    tasks: dict[str, Task]
    categories: dict[str, list[str]]
    path: Path
    paper_eval_tasks_missing: list[str] = field(default_factory=list)

    def task(self, name: str) -> Task:
        if name not in self.tasks:
            hint = difflib.get_close_matches(name, list(self.tasks), n=1)
            more = f"; did you mean '{hint[0]}'?" if hint else ""
            raise CatalogError(f"unknown task '{name}' (not in {self.path}){more}")
        return self.tasks[name]

    def in_category(self, category: str) -> list[Task]:
        if category not in self.categories:
            raise CatalogError(f"unknown category '{category}'; categories: {', '.join(self.categories)}")
        return [self.tasks[n] for n in self.categories[category]]

    def eval_tasks(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.held_out_eval]

    def family_members(self, name: str) -> list[Task]:
        fam = self.task(name).family
        return [t for t in self.tasks.values() if t.family == fam]


_REQUIRED = {f.name for f in dataclasses.fields(Task) if f.default is dataclasses.MISSING}
_ALLOWED = {f.name for f in dataclasses.fields(Task)}


def _task_from_entry(entry: dict, index: int, path: Path) -> Task:
    name = entry.get("name", f"#{index}")
    where = f"{path}: task '{name}'"
    unknown = set(entry) - _ALLOWED
    if unknown:
        key = sorted(unknown)[0]
        hint = difflib.get_close_matches(key, sorted(_ALLOWED), n=1)
        raise CatalogError(
            f"{where}: unknown field '{key}'" + (f"; did you mean '{hint[0]}'?" if hint else "")
        )
    missing = _REQUIRED - set(entry)
    if missing:
        raise CatalogError(f"{where}: missing field '{sorted(missing)[0]}'")
    if entry["category"] not in CATEGORIES:
        raise CatalogError(f"{where}: field 'category' is '{entry['category']}', not one of {CATEGORIES}")
    if entry["task_type"] not in TASK_TYPES:
        raise CatalogError(f"{where}: field 'task_type' is '{entry['task_type']}', not one of {TASK_TYPES}")
    splits = entry["splits"]
    if not isinstance(splits, dict) or not splits or set(splits) - set(SPLITS):
        raise CatalogError(f"{where}: field 'splits' must map some of {SPLITS} to counts, got {splits!r}")
    if entry["eval_split"] not in splits:
        raise CatalogError(f"{where}: field 'eval_split' is '{entry['eval_split']}', not one of its splits")
    if not isinstance(entry["few_shot"], int) or entry["few_shot"] < 0:
        raise CatalogError(f"{where}: field 'few_shot' must be a non-negative integer")
    labels = tuple(str(x) for x in entry.get("labels") or ())
    names = tuple(str(x) for x in entry.get("label_names") or ())
    if labels and len(labels) != len(names):
        raise CatalogError(
            f"{where}: fields 'labels' ({len(labels)}) and 'label_names' ({len(names)}) differ in length"
        )
    if labels and not entry.get("label_field"):
        raise CatalogError(f"{where}: field 'label_field' is required when 'labels' is given")
    return Task(
        name=str(entry["name"]),
        category=entry["category"],
        task_type=entry["task_type"],
        metrics=tuple(entry["metrics"]),
        family=str(entry["family"]),
        held_out_eval=bool(entry["held_out_eval"]),
        few_shot=entry["few_shot"],
        splits={str(k): int(v) for k, v in splits.items()},
        eval_split=entry["eval_split"],
        description=str(entry["description"]),
        fields={str(k): str(v) for k, v in (entry["fields"] or {}).items()},
        hf_hub=entry.get("hf_hub"),
        label_field=entry.get("label_field"),
        labels=labels,
        label_names=names,
        eval_negatives=entry.get("eval_negatives"),
    )


@lru_cache(maxsize=8)
def _load_cached(path: Path, mtime: float) -> Catalog:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise CatalogError(f"catalog not found: {path}") from e
    except yaml.YAMLError as e:
        raise CatalogError(f"{path}: invalid YAML: {e}") from e
    if not isinstance(raw, dict) or "tasks" not in raw:
        raise CatalogError(f"{path}: expected a mapping with a 'tasks' list")
    tasks: dict[str, Task] = {}
    for i, entry in enumerate(raw["tasks"]):
        if not isinstance(entry, dict):
            raise CatalogError(f"{path}: tasks[{i}] is not a mapping")
        task = _task_from_entry(entry, i, path)
        if task.name in tasks:
            raise CatalogError(f"{path}: task '{task.name}' is listed twice")
        tasks[task.name] = task
    categories = {c: [str(t) for t in ts] for c, ts in (raw.get("categories") or {}).items()}
    for cat, names in categories.items():
        for n in names:
            if n not in tasks:
                raise CatalogError(f"{path}: category '{cat}' lists unknown task '{n}'")
            if tasks[n].category != cat:
                raise CatalogError(
                    f"{path}: task '{n}' is in category '{cat}' but says '{tasks[n].category}'"
                )
    for t in tasks.values():
        categories.setdefault(t.category, [])
        if t.name not in categories[t.category]:
            categories[t.category].append(t.name)
    return Catalog(tasks, categories, path, list(raw.get("paper_eval_tasks_missing") or []))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate the catalog (cached per file and modification time)."""
    p = Path(path) if path else DEFAULT_CATALOG
    try:
        mtime = p.stat().st_mtime
    except FileNotFoundError as e:
        raise CatalogError(f"catalog not found: {p}") from e
    return _load_cached(p.resolve(), mtime)
