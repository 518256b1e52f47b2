"""The review workflow of the prompt bank: draft → submitted → approved | rejected.

A prompt's status lives in its own metadata in the task's YAML (promptsource-compatible extra keys, so
`git diff` shows every decision):

    review_status: draft | submitted | approved | rejected   (absent: approved, the bank before review)
    submitted_by, submitted_at                                (who asked for review, when)
    reviewed_by, reviewed_at, review_comment                  (the decision; a rejection has a reason)

Saving a new prompt or changing an existing one's content makes it a `draft` again (`bank_edit`): only
reviewed text reaches training. Annotators `submit`; a reviewer who is none of the prompt's authors
(creator, last editor, submitter) `approve`s or `reject`s. Every change goes through `bank_edit`'s lock
and re-read, so concurrent reviewers and annotators never overwrite each other.

Training and evaluation read `APPROVED` prompts by default (`load_bank(..., statuses=APPROVED)`),
`WITH_SUBMITTED` on request; `selection_record` is what a run writes down about the prompts it used.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from weprompt.common.errors import UserError
from weprompt.templates import Template, TemplateCollection

DRAFT, SUBMITTED, APPROVED_STATUS, REJECTED = "draft", "submitted", "approved", "rejected"
STATUSES = (DRAFT, SUBMITTED, APPROVED_STATUS, REJECTED)
APPROVED = frozenset({APPROVED_STATUS})
WITH_SUBMITTED = frozenset({APPROVED_STATUS, SUBMITTED})
# Which prompts a training or evaluation run takes, by name (config key `prompts`): approved ones by
# default (a prompt without review keys, e.g. the whole bank before review existed, counts as approved).
PROMPT_SELECTIONS: dict[str, frozenset[str] | None] = {
    "approved": APPROVED,
    "with_submitted": WITH_SUBMITTED,
    "all": None,
}
REVIEW_KEYS = (
    "review_status",
    "submitted_by",
    "submitted_at",
    "reviewed_by",
    "reviewed_at",
    "review_comment",
)
# action -> (statuses it applies to, the status it sets)
ACTIONS = {
    "submit": ((DRAFT, REJECTED), SUBMITTED),
    "approve": ((SUBMITTED,), APPROVED_STATUS),
    "reject": ((SUBMITTED,), REJECTED),
}


class ReviewError(UserError):
    pass


def status_of(t: Template) -> str:
    """The prompt's review status; a prompt without one predates review and counts as approved."""
    value = t.metadata.extra.get("review_status", APPROVED_STATUS)
    if value not in STATUSES:
        raise ReviewError(f"prompt '{t.name}' ({t.id}): review_status {value!r} is not one of {STATUSES}")
    return str(value)


def authors(t: Template) -> set[str]:
    extra = t.metadata.extra
    return {str(extra[k]) for k in ("created_by", "modified_by", "submitted_by") if extra.get(k)}


def check_action(t: Template, action: str, who: str, comment: str = "") -> None:
    """Raise ReviewError when `who` may not `action` the prompt now (and say why)."""
    if action not in ACTIONS:
        raise ReviewError(f"unknown review action {action!r} (one of {sorted(ACTIONS)})")
    allowed, _ = ACTIONS[action]
    status = status_of(t)
    if status not in allowed:
        raise ReviewError(
            f"prompt '{t.name}' is {status}: '{action}' applies only to a {'/'.join(allowed)} prompt"
        )
    if action in ("approve", "reject") and who in authors(t):
        raise ReviewError(f"{who} wrote or submitted '{t.name}': a second person must review it")
    if action == "reject" and not comment.strip():
        raise ReviewError("say why: a rejection needs a comment for the author")


def apply_action(t: Template, action: str, who: str, stamp: str, comment: str = "") -> None:
    """Set the status keys of `t` in place (after `check_action`)."""
    extra = t.metadata.extra
    extra["review_status"] = ACTIONS[action][1]
    if action == "submit":
        extra.update(submitted_by=who, submitted_at=stamp)
        for k in ("reviewed_by", "reviewed_at", "review_comment"):
            extra.pop(k, None)
    else:
        extra.update(reviewed_by=who, reviewed_at=stamp)
        if comment.strip():
            extra["review_comment"] = comment.strip()
        else:
            extra.pop("review_comment", None)


def mark_draft(t: Template) -> None:
    """A new or changed prompt: a draft again, earlier review keys dropped."""
    for k in REVIEW_KEYS:
        t.metadata.extra.pop(k, None)
    t.metadata.extra["review_status"] = DRAFT


def select(coll: TemplateCollection, statuses: Iterable[str] | None) -> TemplateCollection:
    """The collection with only the prompts in `statuses` (None: all). Read-only: never save it."""
    if statuses is None:
        return coll
    keep = frozenset(statuses)
    if unknown := keep - set(STATUSES):
        raise ReviewError(f"unknown review status(es) {sorted(unknown)} (one of {STATUSES})")
    return TemplateCollection(coll.task, [t for t in coll.templates if status_of(t) in keep], coll.path)


@dataclass
class QueueItem:
    task: str
    template: Template

    @property
    def submitted_by(self) -> str:
        return str(self.template.metadata.extra.get("submitted_by", "?"))

    @property
    def submitted_at(self) -> str:
        return str(self.template.metadata.extra.get("submitted_at", ""))


def review_queue(bank: dict[str, TemplateCollection]) -> list[QueueItem]:
    """Every submitted prompt of the bank, oldest submission first."""
    items = [QueueItem(n, t) for n, c in bank.items() for t in c.templates if status_of(t) == SUBMITTED]
    return sorted(items, key=lambda i: (i.submitted_at, i.task, i.template.name))


def bank_revision(bank_dir: str | os.PathLike) -> str | None:
    """The git commit of the bank dir (with "+dirty" when its files differ from it), None outside git."""
    try:
        run = lambda *a: subprocess.run(  # noqa: E731
            ["git", *a], cwd=bank_dir, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        head = run("rev-parse", "HEAD")
        dirty = run("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def selection_record(
    bank: dict[str, TemplateCollection],
    bank_dir: str | os.PathLike,
    statuses,
    revision_of: Callable[[str | os.PathLike], str | None] = bank_revision,
) -> dict:
    """What a training or evaluation run records about its prompts: the statuses it took, the bank's
    git revision, a hash of exactly the prompts used, and their ids per task. `revision_of` finds the
    revision (git runs twice); an evaluation passes one that asks git once for all its tasks."""
    ids = {n: sorted(t.id for t in c.templates) for n, c in sorted(bank.items()) if c.templates}
    digest = hashlib.sha256()
    for n, c in sorted(bank.items()):
        for t in sorted(c.templates, key=lambda t: t.id):
            digest.update(f"{n}\0{t.id}\0{t.jinja}\0{t.answer_choices}\0".encode())
    return {
        "review_statuses": sorted(statuses) if statuses is not None else "all",
        "bank_dir": str(Path(bank_dir)),
        "bank_revision": revision_of(bank_dir),
        "prompts_sha256": digest.hexdigest(),
        "prompt_ids": ids,
    }
