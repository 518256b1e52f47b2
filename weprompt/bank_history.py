"""Change history of the prompt bank: who did what to which prompt, when, with the full text.

One append-only JSON Lines file per task, `<bank>/history/<task>.jsonl` (beside `templates/`, tracked
in git with the bank), written by `weprompt.bank_edit` inside the bank lock on every create, edit,
delete and review decision. Each line holds the prompt as it was after the action (in the bank's YAML
form), so any version can be shown, diffed against another, or restored (a deleted prompt comes back
with its id). A crash can leave at most a partial last line, which the reader skips.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from weprompt.bank import resolve_bank_dir
from weprompt.templates import Template, dump_templates, parse_templates

log = logging.getLogger(__name__)
HISTORY_DIR = "history"


@dataclass(frozen=True)
class Entry:
    at: str
    by: str
    action: str  # created | edited | deleted | restored | submit | approve | reject
    template_id: str
    name: str
    fingerprint: str
    yaml: str  # the prompt after the action, as `dump_templates` writes it

    def template(self) -> Template:
        return parse_templates(self.yaml, f"history of {self.template_id} at {self.at}").templates[0]


def history_path(task: str, bank_dir: str | os.PathLike | None = None) -> Path:
    return resolve_bank_dir(bank_dir) / HISTORY_DIR / f"{task}.jsonl"


def record(
    task: str, action: str, who: str, template: Template, fingerprint: str, stamp: str, bank_dir=None
) -> None:
    """Append one entry (the caller holds `bank_edit.bank_lock`)."""
    path = history_path(task, bank_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "at": stamp,
        "by": who,
        "action": action,
        "template_id": template.id,
        "name": template.name,
        "fingerprint": fingerprint,
        "yaml": dump_templates(task, [template]),
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def entries(task: str, bank_dir=None, template_id: str | None = None) -> list[Entry]:
    """The task's history, oldest first (one prompt's with `template_id`)."""
    path = history_path(task, bank_dir)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            e = Entry(**json.loads(line))
        except (ValueError, TypeError) as err:
            log.warning("%s:%d: unreadable history line skipped (%s)", path, n, err)
            continue
        if template_id is None or e.template_id == template_id:
            out.append(e)
    return out


def deleted(task: str, current_ids: set[str], bank_dir=None) -> list[Entry]:
    """The deletion entries of prompts not in the file now, newest first (who deleted them, when)."""
    last: dict[str, Entry] = {}
    for e in entries(task, bank_dir):
        last[e.template_id] = e
    gone = [e for tid, e in last.items() if e.action == "deleted" and tid not in current_ids]
    return sorted(gone, key=lambda e: e.at, reverse=True)


def by_fingerprint(task: str, template_id: str, fingerprint: str, bank_dir=None) -> Entry | None:
    """The version of a prompt with this fingerprint (the base an editor started from)."""
    found = [e for e in entries(task, bank_dir, template_id) if e.fingerprint == fingerprint]
    return found[-1] if found else None


def diff(old: str, new: str, old_label: str = "before", new_label: str = "after") -> str:
    """A unified diff of two prompt texts, line by line."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label, lineterm="")
    return "\n".join(lines)
