"""Run the validator over the bank (or some tasks) on real examples: what `weprompt bank validate` does."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from weprompt.bank import NO_PROMPTS_YET, load_bank, prompts_pending
from weprompt.catalog import Task
from weprompt.data import DataError, load_rows
from weprompt.validate import DEFAULT_BUDGET, Issue, validate_task


def task_examples(
    task: Task, per_split: int, data_dir: str | os.PathLike | None = None
) -> tuple[list[dict], set[str]]:
    """The first `per_split` examples of every split (schemas can differ by split) and all field names.

    The whole split is read: a field's type is widened over every row (`weprompt.data.widen`), so the
    first rows as the sampler sees them depend on the later ones (a dict's keys, a letter among lists)."""
    examples: list[dict] = []
    fields: set[str] = set()
    for split in task.splits:
        rows = load_rows(task.name, split, data_dir)
        fields |= set(rows[0])
        examples += rows[:per_split]
    return examples, fields


@dataclass
class BankReport:
    issues: list[Issue] = field(default_factory=list)
    templates: dict[str, int] = field(default_factory=dict)  # task -> template count
    examples: dict[str, int] = field(default_factory=dict)  # task -> examples rendered on
    excluded: dict[str, str] = field(default_factory=dict)  # task -> why it was not validated

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]


def check_bank(
    bank_dir=None,
    data_dir=None,
    tasks: list[str] | None = None,
    per_split: int = 20,
    budget: int = DEFAULT_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
    progress: bool = False,
) -> BankReport:
    catalog, bank = load_bank(bank_dir, tasks)
    report = BankReport()
    items = list(bank.items())
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="validating", unit="task")
    for name, coll in items:
        task = catalog.task(name)
        if prompts_pending(coll):  # no template file yet: nothing to validate, listed instead
            report.excluded[name] = NO_PROMPTS_YET
            continue
        try:
            examples, fields = task_examples(task, per_split, data_dir)
        except DataError as e:
            report.issues.append(Issue("no_examples", "error", name, None, str(e)))
            continue
        report.templates[name] = len(coll.templates)
        report.examples[name] = len(examples)
        report.issues += validate_task(task, coll.templates, examples, fields, budget, count_tokens)
    return report
