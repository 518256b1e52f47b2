"""Held-out splits (paper §4.3, DESIGN §6): which tasks train a WePrompt model for given test tasks.

- strong: train on every task outside the test tasks' categories (the category is unseen);
- weak:   train on every task but the test tasks (the task is unseen, its category is not);
- all:    train on every task, the test tasks included (the paper's "WePrompt all");
- single: train on the test tasks alone (single-task fine-tuning, the paper's "WeLM fine-tuned");
- none:   no training task (the base model, zero-shot).
In strong and weak mode the test tasks' source-dataset families leave training with them. A task
also cannot train without templates or a train split; every exclusion carries its reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from weprompt.bank import no_templates_reason
from weprompt.catalog import Catalog
from weprompt.common.errors import UserError
from weprompt.data import resolve_data_dir, split_file
from weprompt.templates import TemplateCollection

MODES = ("strong", "weak", "all", "single", "none")


class SplitError(UserError):
    pass


@dataclass
class Split:
    mode: str
    test_tasks: list[str]
    train_tasks: list[str]
    excluded: dict[str, str]  # task -> why it is not trained on
    templates: dict[str, list[str]] = field(default_factory=dict)  # train task -> template ids
    fingerprints: dict[str, str] = field(default_factory=dict)  # train task -> sha256(templates + train data)

    def held_out(self) -> list[str]:
        return [t for t in self.excluded if not self.excluded[t].startswith("cannot train")]

    def to_dict(self) -> dict:
        return asdict(self)


def _sha(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()


def build_split(
    catalog: Catalog, bank: dict[str, TemplateCollection], test_tasks: list[str], mode: str, data_dir=None
) -> Split:
    if mode not in MODES:
        raise SplitError(f"unknown split mode '{mode}'; modes: {', '.join(MODES)}")
    tests = [catalog.task(t) for t in test_tasks]  # unknown task -> CatalogError naming it
    if not tests and mode in ("strong", "weak", "single"):
        raise SplitError(f"split mode '{mode}' needs at least one test task")
    excluded: dict[str, str] = {}
    for t in tests:
        if mode in ("strong", "weak"):
            excluded.setdefault(t.name, "test task")
    for t in tests:
        if mode in ("strong", "weak"):
            for sib in catalog.family_members(t.name):
                excluded.setdefault(
                    sib.name, f"same source-dataset family '{t.family}' as test task {t.name}"
                )
        if mode == "strong":
            for other in catalog.in_category(t.category):
                excluded.setdefault(other.name, f"same category '{t.category}' as test task {t.name}")
    if mode == "none":
        for name in catalog.tasks:
            excluded.setdefault(name, "mode none trains nothing")
    if mode == "single":
        for name in catalog.tasks:
            if name not in test_tasks:
                excluded.setdefault(name, "single-task fine-tuning trains on the test tasks only")
    root = resolve_data_dir(data_dir)
    train, templates, fingerprints = [], {}, {}
    for name in catalog.tasks:
        if name in excluded:
            continue
        coll = bank.get(name)
        if coll is None or not coll.templates:
            excluded[name] = f"cannot train: {no_templates_reason(coll)}"  # "no prompts yet": no file
            continue
        path = split_file(root, name, "train")
        if path is None:
            excluded[name] = "cannot train: no train split"
            continue
        train.append(name)
        templates[name] = [t.id for t in coll.templates]
        fingerprints[name] = _sha([coll.to_yaml().encode("utf-8"), Path(path).read_bytes()])
    if mode != "none" and not train:
        raise SplitError(
            f"the {mode} split for {', '.join(test_tasks) or 'no test task'} leaves no training task"
        )
    return Split(mode, [t.name for t in tests], train, excluded, templates, fingerprints)
