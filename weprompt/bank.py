"""The prompt bank on disk: `<bank>/catalog.yaml` + `<bank>/templates/<task>.yaml`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from weprompt.catalog import Catalog, load_catalog
from weprompt.common import paths
from weprompt.templates import TemplateCollection, TemplateError, load_templates

ENV_VAR = paths.BANK_ENV

# Why a catalog task with no template file is left out of training, evaluation and validation: its
# prompts are not written yet (a task is added to the catalog when its data arrives, before prompts).
NO_PROMPTS_YET = "no prompts yet"


def resolve_bank_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Option → $WEPROMPT_BANK_DIR → the bank shipped in the package (see weprompt.common.paths)."""
    return paths.bank_dir(explicit)


def template_path(task: str, bank_dir: str | os.PathLike | None = None) -> Path:
    return resolve_bank_dir(bank_dir) / "templates" / f"{task}.yaml"


def bank_catalog(bank_dir: str | os.PathLike | None = None) -> Catalog:
    return load_catalog(resolve_bank_dir(bank_dir) / "catalog.yaml")


def load_task_templates(task: str, bank_dir: str | os.PathLike | None = None) -> TemplateCollection:
    """The task's templates; an empty collection (bound to its path) when the task has no file yet."""
    path = template_path(task, bank_dir)
    if not path.exists():
        return TemplateCollection(task, [], path)
    coll = load_templates(path)
    if coll.task != task:
        raise TemplateError(f"{path}: says dataset '{coll.task}' but the file name says '{task}'")
    return coll


def prompts_pending(coll: TemplateCollection | None) -> bool:
    """True for a task whose template file does not exist yet (as `load_task_templates` returns it).

    A file that exists but holds no template is a different case (prompts were deleted): that stays a
    `no_templates` warning of the validator and "cannot train: no templates" in a split.
    """
    return coll is not None and not coll.templates and coll.path is not None and not Path(coll.path).exists()


def no_templates_reason(coll: TemplateCollection | None) -> str:
    """Why a task without templates is left out: "no prompts yet" or "no templates"."""
    return NO_PROMPTS_YET if prompts_pending(coll) else "no templates"


def tasks_without_prompts(bank: dict[str, TemplateCollection]) -> list[str]:
    """The bank's catalog tasks that have no template file yet, in catalog order."""
    return [name for name, coll in bank.items() if prompts_pending(coll)]


def load_bank(
    bank_dir: str | os.PathLike | None = None,
    tasks: list[str] | None = None,
    statuses: Iterable[str] | None = None,
) -> tuple[Catalog, dict[str, TemplateCollection]]:
    """Catalog plus every task's templates. A template file for a task the catalog lacks is an error.

    `statuses` keeps only prompts with those review statuses (`weprompt.bank_review`: training and
    evaluation pass `APPROVED`, or `WITH_SUBMITTED`); None keeps every prompt (editing, validation)."""
    root = resolve_bank_dir(bank_dir)
    catalog = bank_catalog(root)
    for path in sorted((root / "templates").glob("*.yaml")):
        if path.stem not in catalog.tasks:
            raise TemplateError(f"{path}: no task '{path.stem}' in the catalog {catalog.path}")
    names = tasks or list(catalog.tasks)
    bank = {n: load_task_templates(catalog.task(n).name, root) for n in names}
    if statuses is not None:
        from weprompt.bank_review import select

        bank = {n: select(c, statuses) for n, c in bank.items()}
    return catalog, bank
