"""Bank health: what the annotation UI's health view shows, computed where the CLI and tests reach it.

Unlike `load_bank`, `load_bank_tolerant` keeps going past a task file that does not parse (an
annotator may be mid-way through a hand edit) and reports it, so one broken file never hides the rest.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from weprompt.bank import bank_catalog, load_task_templates, resolve_bank_dir, template_path
from weprompt.bank_stats import bank_stats
from weprompt.catalog import Catalog, Task
from weprompt.data import DataError, load_split
from weprompt.templates import Template, TemplateCollection, TemplateError, referenced_fields
from weprompt.validate import DEFAULT_BUDGET, Issue, validate_task

# The bank's quality test asks every task with prompts for at least this many (tests/bank).
TARGET_PER_TASK = 15
UNKNOWN_AUTHOR = "(not recorded)"


@dataclass
class BankSnapshot:
    catalog: Catalog
    bank: dict[str, TemplateCollection]  # every catalog task; empty collections for tasks without a file
    load_errors: dict[str, str] = field(default_factory=dict)  # task -> why its file did not load


@functools.lru_cache(maxsize=4096)
def _load_version(task: str, bank_dir: str, mtime_ns: int, size: int) -> TemplateCollection:
    return load_task_templates(task, bank_dir)


def load_task_cached(task: str, bank_dir: str | os.PathLike | None = None) -> TemplateCollection:
    """`load_task_templates`, parsed again only when the file's mtime or size changed.

    The collection is shared between callers: read it, do not mutate it (edits go through
    `weprompt.bank_edit`, which re-reads the file under its lock anyway).
    """
    root = resolve_bank_dir(bank_dir)
    try:
        st = template_path(task, root).stat()
    except FileNotFoundError:
        return TemplateCollection(task, [], template_path(task, root))
    return _load_version(task, str(root), st.st_mtime_ns, st.st_size)


def load_bank_tolerant(bank_dir: str | os.PathLike | None = None) -> BankSnapshot:
    """Catalog plus every task's prompts; a file that does not parse is reported, not raised.

    Parsed files are cached per (path, mtime, size) (`load_task_cached`): the health view re-reads the
    bank on every rerun and only changed files are parsed again. Do not mutate the collections.
    """
    catalog = bank_catalog(bank_dir)
    root = resolve_bank_dir(bank_dir)
    snap = BankSnapshot(catalog, {})
    for name in catalog.tasks:
        try:
            snap.bank[name] = load_task_cached(name, root)
        except TemplateError as e:
            snap.load_errors[name] = str(e)
            snap.bank[name] = TemplateCollection(name, [])
    for path in sorted((root / "templates").glob("*.yaml")):
        if path.stem not in catalog.tasks:
            snap.load_errors[path.stem] = f"{path}: no task '{path.stem}' in the catalog {catalog.path}"
    return snap


def task_examples(
    catalog: Catalog, task: Task, per_split: int, data_dir: str | os.PathLike | None = None
) -> tuple[list[dict], set[str]]:
    """The first `per_split` examples of every split, and every field name (schemas can differ by split).

    Like `weprompt.bank_check.task_examples`, but against the given catalog (a bank dir's own).
    """
    examples: list[dict] = []
    fields: set[str] = set()
    for split in task.splits:
        ds = load_split(task.name, split, data_dir, catalog=catalog)
        fields |= set(ds.column_names)
        examples += list(ds.select(range(min(per_split, len(ds)))))
    return examples, fields


def choice_style(t: Template) -> str:
    """How a template offers answers: none (generated), a fixed list, or choices built from the data."""
    if not t.answer_choices:
        return "none (generation)"
    if referenced_fields(t.answer_choices) or "{%" in t.answer_choices:
        return "from the example (Jinja)"
    n = t.answer_choices.count("|||") + 1
    return f"fixed list of {n}"


def health(snapshot: BankSnapshot, target: int = TARGET_PER_TASK) -> dict:
    """Counts for the health view: per category / task, below-target tasks, choice styles, authors."""
    catalog, bank = snapshot.catalog, snapshot.bank
    stats = bank_stats(catalog, bank)
    styles: Counter[str] = Counter()
    fixed_sets: Counter[str] = Counter()
    in_prompt: Counter[str] = Counter()
    authors: dict[str, dict] = {}
    for name, coll in bank.items():
        for t in coll.templates:
            styles[choice_style(t)] += 1
            if t.answer_choices and choice_style(t).startswith("fixed"):
                fixed_sets[" ||| ".join(c.strip() for c in t.answer_choices.split("|||"))] += 1
            if t.answer_choices:
                cip = t.metadata.choices_in_prompt
                in_prompt["choices listed in the prompt" if cip else "choices not in the prompt"] += 1
            extra = t.metadata.extra
            creator = str(extra.get("created_by") or UNKNOWN_AUTHOR)
            a = authors.setdefault(creator, {"created": 0, "modified": 0, "tasks": set()})
            a["created"] += 1
            a["tasks"].add(name)
            if extra.get("modified_by"):
                m = authors.setdefault(
                    str(extra["modified_by"]), {"created": 0, "modified": 0, "tasks": set()}
                )
                m["modified"] += 1
                m["tasks"].add(name)
    below = [
        {
            "task": t["task"],
            "category": t["category"],
            "prompts": t["prompts"],
            "missing": target - t["prompts"],
        }
        for t in stats["per_task"]
        if t["prompts"] < target
    ]
    return {
        **stats,
        "target": target,
        "below_target": sorted(below, key=lambda r: (-r["missing"], r["task"])),
        "choice_styles": dict(styles.most_common()),
        "fixed_choice_sets": dict(fixed_sets.most_common(15)),
        "choices_in_prompt": dict(in_prompt),
        "authors": {
            k: {"created": v["created"], "modified": v["modified"], "tasks": sorted(v["tasks"])}
            for k, v in sorted(authors.items(), key=lambda kv: -kv[1]["created"])
        },
        "load_errors": dict(snapshot.load_errors),
    }


def validation_issues(
    snapshot: BankSnapshot,
    data_dir: str | os.PathLike | None = None,
    per_split: int = 5,
    budget: int = DEFAULT_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
    tasks: list[str] | None = None,
    progress: Callable[[int, int, str], object] | None = None,  # what it returns is ignored
) -> list[Issue]:
    """Validator issues of every task that has prompts (files that failed to load count as errors)."""
    names = tasks or [n for n, c in snapshot.bank.items() if c.templates]
    issues = [Issue("load_error", "error", n, None, msg) for n, msg in snapshot.load_errors.items()]
    for i, name in enumerate(names):
        if progress:
            progress(i, len(names), name)
        task = snapshot.catalog.task(name)
        try:
            examples, fields = task_examples(snapshot.catalog, task, per_split, data_dir)
        except DataError as e:
            issues.append(Issue("no_examples", "error", name, None, str(e)))
            continue
        issues += validate_task(task, snapshot.bank[name].templates, examples, fields, budget, count_tokens)
    return issues
