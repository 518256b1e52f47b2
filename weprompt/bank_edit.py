"""Editing the prompt bank safely: add, update, clone and delete one template of a task.

Every change is a read-modify-write of the task's YAML file done under an exclusive inter-process lock
(`fcntl.flock` on the bank's `templates/` directory), and the file is re-read *inside* the lock, so two
annotators saving different prompts of the same task at the same moment both land: the second writer
merges its one-template change into what the first wrote instead of overwriting it with a stale copy.
An edit carries the fingerprint of the template as the editor loaded it (`base`); if someone else
changed or deleted that template meanwhile, the save is refused with a `ConflictError` rather than
silently undoing their work.

A template is validated (`check_template`: the bank validator on real examples plus name / body
duplicates and near-duplicates against the task's other prompts) inside the same lock, and an invalid
template is never written. The annotator is recorded in `metadata.extra` (`created_by`, `created_at`,
`modified_by`, `modified_at`, and `cloned_from` for clones): promptsource's loader sets unknown
metadata keys as attributes and ignores them, so the files stay loadable there.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from weprompt import bank_history as history
from weprompt.bank import load_task_templates, resolve_bank_dir
from weprompt.bank_review import REVIEW_KEYS, apply_action, check_action, mark_draft
from weprompt.bank_stats import MAX_MEAN_SIMILARITY, bigrams, fixed_text, jaccard, mean_pairwise_similarity
from weprompt.catalog import Task
from weprompt.common.errors import UserError
from weprompt.templates import Template, TemplateMetadata, dump_templates, render
from weprompt.validate import DEFAULT_BUDGET, Issue, validate_template

# Two prompts of one task whose fixed text shares this much (bigram Jaccard) read as one sentence
# reworded: docs/bank.md's example pair "判断下面两句话的关系" / "请判断以下两句话的关系" scores 0.46.
NEAR_DUPLICATE = 0.45
LOCK_TIMEOUT_S = 30.0
# Issue codes this module adds to weprompt.validate.CODES (same Issue type, same stable-code contract).
EDIT_CODES = {
    "no_name": "the template has no name",
    "near_duplicate": "the fixed text is very similar to another prompt of the task",
    "low_diversity": "with this prompt the task's mean pairwise similarity exceeds the bank's ceiling",
    "choices_in_prompt": "the choices_in_prompt flag disagrees with what the rendered input shows",
}
STAMP_KEYS = ("created_by", "created_at", "modified_by", "modified_at", "cloned_from")
# Validator codes that are warnings in the bank-wide report (prompts already in the bank) but block
# saving a new or edited prompt: a prompt longer than the budget is truncated or skipped in training.
BLOCKING_ON_SAVE = frozenset({"too_long"})


class EditError(UserError):
    pass


class ConflictError(EditError):
    """Someone else changed or deleted the template since the editor loaded it."""


class InvalidTemplateError(EditError):
    def __init__(self, message: str, issues: list[Issue]):
        super().__init__(message)
        self.issues = issues


@dataclass
class SaveResult:
    template: Template
    path: Path
    created: bool  # True for a new template, False for an update
    count: int  # templates of the task after the save
    issues: list[Issue]  # warnings that did not block the save
    changed: bool = True  # False: the template equals the file's version, nothing was written


def same_content(a: Template, b: Template) -> bool:
    """Equal but for the annotator stamps: saving one over the other would change nothing."""
    x, y = copy.deepcopy(a), copy.deepcopy(b)
    for t in (x, y):
        t.name = t.name.strip()
        ignored = (*STAMP_KEYS, *REVIEW_KEYS)
        t.metadata.extra = {k: v for k, v in t.metadata.extra.items() if k not in ignored}
    return x == y


# ---------------------------------------------------------------------------------------------
# Locking


@contextlib.contextmanager
def bank_lock(bank_dir: str | os.PathLike | None = None, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive lock over the bank's template files, shared by every process on this machine.

    The lock is taken on the `templates/` directory itself: the YAML files are replaced by rename on
    every save, so a lock on a file's inode would not survive the first write, and a directory lock
    leaves no lock file behind for git or `load_bank` to trip over.
    """
    root = resolve_bank_dir(bank_dir) / "templates"
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise EditError(
                        f"{root} is locked by another save for more than {timeout:.0f}s; try again"
                    ) from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Checks


def fingerprint(template: Template) -> str:
    """Identifies one version of a template: its serialized form but for the review keys, so a review
    decision does not turn the author's open editor into a conflict (a content edit still does)."""
    t = copy.deepcopy(template)
    t.metadata.extra = {k: v for k, v in t.metadata.extra.items() if k not in REVIEW_KEYS}
    return hashlib.sha1(dump_templates("x", [t]).encode("utf-8")).hexdigest()[:16]


def near_duplicates(
    template: Template, others: list[Template], threshold: float = NEAR_DUPLICATE
) -> list[tuple[Template, float]]:
    """Other templates whose fixed text is at least `threshold` similar, most similar first."""
    mine = bigrams(fixed_text(template))
    hits = [(o, jaccard(mine, bigrams(fixed_text(o)))) for o in others if o.id != template.id]
    return sorted([h for h in hits if h[1] >= threshold], key=lambda h: -h[1])


def check_template(
    task: Task,
    template: Template,
    others: list[Template],
    examples: list[dict],
    data_fields: set[str],
    budget: int = DEFAULT_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Issue]:
    """Everything wrong with `template` as a new or edited prompt of `task` beside `others`.

    Errors block a save: the validator's errors on the examples (a render limit, a printed None
    included), a rendered example over the length budget, an empty name, a name or a body (modulo
    whitespace) another prompt of the task already has, no examples to check on. Warnings do not:
    near-duplicates, a drop of the task's diversity below the bank's floor.
    """
    others = [o for o in others if o.id != template.id]
    name = template.name.strip() or None
    issues: list[Issue] = []

    def add(code: str, message: str, severity: str = "error") -> None:
        issues.append(Issue(code, severity, task.name, name, message))

    if not name:
        add("no_name", "give the prompt a name")
    for o in others:
        if name and o.name.strip() == name:
            add("duplicate_name", f"another prompt of '{task.name}' is already named '{o.name}'")
        if o.body_key() == template.body_key():
            add("duplicate_body", f"same body (modulo whitespace) as prompt '{o.name}'")
    if not examples:
        add("no_examples", f"no examples of '{task.name}' could be loaded to check the prompt on")
    for issue in validate_template(template, task, examples, data_fields, budget, count_tokens):
        if issue.code in BLOCKING_ON_SAVE:
            issue.severity = "error"
        issues.append(issue)
    if not any(i.code == "duplicate_body" for i in issues):
        for o, sim in near_duplicates(template, others):
            add("near_duplicate", f"{sim:.0%} similar to prompt '{o.name}' (bigram Jaccard)", "warning")
    if examples and not errors(issues) and (hint := _choices_in_prompt_hint(template, examples[0])):
        add("choices_in_prompt", hint, "warning")
    mean_sim = mean_pairwise_similarity([*others, template])
    if mean_sim is not None and mean_sim > MAX_MEAN_SIMILARITY:
        add(
            "low_diversity",
            f"the task's mean pairwise similarity becomes {mean_sim:.2f} > {MAX_MEAN_SIMILARITY} "
            "(the bank's quality test fails): reword it in a different style",
            "warning",
        )
    return issues


def _choices_in_prompt_hint(template: Template, example: dict) -> str | None:
    """Compare the metadata flag with the first rendered example (promptsource's meaning of the flag)."""
    try:
        r = render(template, example)
    except Exception:  # the validator has reported it already
        return None
    if not r.answer_choices:
        return None
    shown = [c for c in r.answer_choices if c and c in r.input]
    # One-character choices (是/否) turn up in ordinary text; only longer ones count as "listed".
    if not template.metadata.choices_in_prompt and len(shown) == len(r.answer_choices) > 1:
        if all(len(c) > 1 for c in shown):
            return "the input lists every answer choice: tick 'choices in prompt'"
    if template.metadata.choices_in_prompt and not shown:
        return "'choices in prompt' is ticked but the input shows none of the answer choices"
    return None


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity == "error"]


# ---------------------------------------------------------------------------------------------
# Edits


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _annotator(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise EditError("say who you are: the annotator's name is recorded on every prompt")
    return name


def new_template(name: str = "", jinja: str = "", answer_choices: str | None = None) -> Template:
    return Template(
        name=name,
        jinja=jinja,
        answer_choices=answer_choices,
        metadata=TemplateMetadata(original_task=True, choices_in_prompt=False, metrics=[], languages=["zh"]),
    )


def clone_template(template: Template, existing_names: list[str]) -> Template:
    """A copy with a new id and a free name; the copy's body must change before it can be saved."""
    clone = copy.deepcopy(template)
    clone.id = str(uuid.uuid4())
    base = f"{template.name}_副本"
    clone.name, n = base, 2
    while clone.name in existing_names:
        clone.name, n = f"{base}{n}", n + 1
    extra = {k: v for k, v in clone.metadata.extra.items() if k not in STAMP_KEYS}
    clone.metadata.extra = {**extra, "cloned_from": template.id}
    return clone


def save_template(
    task: Task,
    template: Template,
    annotator: str,
    *,
    examples: list[dict],
    data_fields: set[str],
    bank_dir: str | os.PathLike | None = None,
    base: str | None = None,
    budget: int = DEFAULT_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
) -> SaveResult:
    """Add `template` to the task's file, or replace the template with its id, atomically and merged.

    `base` is the `fingerprint` of the template as the editor loaded it (None for a new template):
    when the file's version differs, someone else saved it meanwhile and a ConflictError is raised.
    Raises InvalidTemplateError (nothing written) when `check_template` finds an error, and
    TemplateError when the task's file on disk does not parse (it is never overwritten then).
    """
    who = _annotator(annotator)
    template = copy.deepcopy(template)
    template.name = template.name.strip()
    with bank_lock(bank_dir):
        coll = load_task_templates(task.name, bank_dir)
        index = next((i for i, t in enumerate(coll.templates) if t.id == template.id), None)
        current = coll.templates[index] if index is not None else None
        if base is not None and current is None:
            raise ConflictError(
                f"prompt '{template.name}' was deleted from {coll.path} since you opened it; "
                "clone it to save your version as a new prompt"
            )
        if base is not None and current is not None and fingerprint(current) != base:
            by = current.metadata.extra.get("modified_by") or current.metadata.extra.get("created_by") or "?"
            raise ConflictError(
                f"prompt '{current.name}' was changed by {by} since you opened it; "
                "reload it and apply your change again, or clone your version to save it as a new prompt"
            )
        if current is not None and same_content(current, template):
            path = coll.path or resolve_bank_dir(bank_dir) / "templates" / f"{task.name}.yaml"
            return SaveResult(current, path, False, len(coll.templates), [], changed=False)
        others = [t for t in coll.templates if t.id != template.id]
        issues = check_template(task, template, others, examples, data_fields, budget, count_tokens)
        if errors(issues):
            raise InvalidTemplateError(
                f"'{template.name or '(no name)'}' not saved: "
                + "; ".join(i.message for i in errors(issues)),
                issues,
            )
        extra = dict(template.metadata.extra)
        stamp = _now()
        if current is None:
            extra.update(created_by=who, created_at=stamp)
            for k in ("modified_by", "modified_at"):
                extra.pop(k, None)
        else:
            for k in ("created_by", "created_at"):  # the creator is whoever the file says, not the draft
                if k in current.metadata.extra:
                    extra[k] = current.metadata.extra[k]
            extra.update(modified_by=who, modified_at=stamp)
        template.metadata.extra = extra
        mark_draft(template)  # new or changed text is reviewed again before training uses it
        if index is None:
            coll.templates.append(template)
        else:
            coll.templates[index] = template
        path = coll.save()
        action = "created" if current is None else "edited"
        history.record(task.name, action, who, template, fingerprint(template), stamp, bank_dir)
        return SaveResult(template, path, current is None, len(coll.templates), issues)


def delete_template(
    task: Task,
    template_id: str,
    *,
    bank_dir: str | os.PathLike | None = None,
    base: str | None = None,
    who: str = "",
) -> Path:
    """Remove one template (under the lock, merged with whatever else changed in the file); the
    history keeps it, with `who` deleted it, so it can be restored."""
    with bank_lock(bank_dir):
        coll = load_task_templates(task.name, bank_dir)
        current = next((t for t in coll.templates if t.id == template_id), None)
        if current is None:
            raise EditError(f"no prompt with id {template_id} in {coll.path}: someone already deleted it")
        if base is not None and fingerprint(current) != base:
            by = current.metadata.extra.get("modified_by") or "someone"
            raise ConflictError(
                f"prompt '{current.name}' was changed by {by} since you opened it; not deleted"
            )
        coll.templates = [t for t in coll.templates if t.id != template_id]
        path = coll.save()
        by = " ".join((who or "").split()) or "(not recorded)"
        history.record(task.name, "deleted", by, current, fingerprint(current), _now(), bank_dir)
        return path


def review_template(
    task: Task,
    template_id: str,
    action: str,
    who: str,
    *,
    comment: str = "",
    bank_dir: str | os.PathLike | None = None,
    base: str | None = None,
) -> Template:
    """Submit, approve or reject one prompt (`weprompt.bank_review`), under the lock, on the file's
    version; with `base`, refused when the prompt changed since the reviewer looked at it."""
    who = _annotator(who)
    with bank_lock(bank_dir):
        coll = load_task_templates(task.name, bank_dir)
        current = next((t for t in coll.templates if t.id == template_id), None)
        if current is None:
            raise EditError(f"no prompt with id {template_id} in {coll.path}: it was deleted")
        if base is not None and fingerprint(current) != base:
            by = current.metadata.extra.get("modified_by") or current.metadata.extra.get("reviewed_by") or "?"
            raise ConflictError(
                f"prompt '{current.name}' was changed by {by} since you opened it; look again"
            )
        check_action(current, action, who, comment)
        stamp = _now()
        apply_action(current, action, who, stamp, comment)
        coll.save()
        history.record(task.name, action, who, current, fingerprint(current), stamp, bank_dir)
        return current


def restore_template(
    task: Task, template_id: str, who: str, *, bank_dir: str | os.PathLike | None = None
) -> Template:
    """Put a deleted prompt back (its last version, same id) as a draft, recorded in the history."""
    who = _annotator(who)
    with bank_lock(bank_dir):
        coll = load_task_templates(task.name, bank_dir)
        if any(t.id == template_id for t in coll.templates):
            raise EditError(f"prompt {template_id} is in {coll.path} already: nothing to restore")
        versions = history.entries(task.name, bank_dir, template_id)
        if not versions:
            raise EditError(f"no history of prompt {template_id} for '{task.name}': cannot restore it")
        template = versions[-1].template()
        if any(t.name == template.name for t in coll.templates):
            template.name = f"{template.name}_恢复"
        mark_draft(template)
        coll.templates.append(template)
        coll.save()
        history.record(task.name, "restored", who, template, fingerprint(template), _now(), bank_dir)
        return template
