"""The server-side draft store: an annotator's unsaved edits, per task and prompt, on disk.

Streamlit's session state dies with the browser tab (a reload starts a new session), so the editor's
state is also written here on every change, and read back when the annotator opens the task or the
prompt again, from any tab. Layout, under `<bank dir>/.drafts/` (the directory ignores itself in git):

    <annotator, %-quoted>/<task>/<prompt id>.json   the editor's fields, the base fingerprint, when
    <annotator, %-quoted>/<task>/_open.json         which prompt the annotator had open in the task

Writes are atomic (`pretrain.atomic`); one annotator's drafts are never written by another's session,
so annotators do not contend. A draft is removed when it is saved, discarded, or edited back to the
prompt as loaded.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from weprompt.bank import resolve_bank_dir
from weprompt.common.atomic import atomic_write_text

log = logging.getLogger(__name__)
DIR_NAME = ".drafts"
_OPEN = "_open"
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass
class Draft:
    prompt_id: str
    fields: dict[str, Any]  # the editor's session-state keys (editor.ED_KEYS) and their values
    saved_at: str

    @property
    def name(self) -> str:
        return str(self.fields.get("ed_name") or "(no name)")

    @property
    def is_new(self) -> bool:
        return self.fields.get("ed_base") is None


class DraftStore:
    def __init__(self, bank_dir: str | os.PathLike | None):
        self.root = resolve_bank_dir(bank_dir) / DIR_NAME

    def _dir(self, annotator: str, task: str) -> Path:
        who = quote(" ".join(annotator.split()), safe="")
        if not who or not _ID.match(task):
            raise ValueError(f"draft store: bad annotator {annotator!r} or task {task!r}")
        return self.root / who / task

    def _path(self, annotator: str, task: str, prompt_id: str) -> Path:
        if not _ID.match(prompt_id):
            raise ValueError(f"draft store: bad prompt id {prompt_id!r}")
        return self._dir(annotator, task) / f"{prompt_id}.json"

    def _write(self, path: Path, data: dict) -> None:
        if not self.root.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.root / ".gitignore", "*\n")
        atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1, default=str))

    def put(self, annotator: str, task: str, prompt_id: str, fields: dict[str, Any]) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._write(self._path(annotator, task, prompt_id), {"saved_at": now, "fields": fields})

    def get(self, annotator: str, task: str, prompt_id: str) -> Draft | None:
        path = self._path(annotator, task, prompt_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Draft(prompt_id, dict(data["fields"]), str(data["saved_at"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:  # a damaged draft is reported, not fatal
            log.warning("%s: unreadable draft ignored (%s)", path, e)
            return None

    def discard(self, annotator: str, task: str, prompt_id: str) -> None:
        self._path(annotator, task, prompt_id).unlink(missing_ok=True)

    def drafts(self, annotator: str, task: str) -> list[Draft]:
        """The annotator's drafts of the task, newest first."""
        folder = self._dir(annotator, task)
        found = [self.get(annotator, task, p.stem) for p in folder.glob("*.json") if p.stem != _OPEN]
        return sorted((d for d in found if d), key=lambda d: d.saved_at, reverse=True)

    def set_open(self, annotator: str, task: str, prompt_id: str) -> None:
        if self.get_open(annotator, task) != prompt_id:
            self._write(self._dir(annotator, task) / f"{_OPEN}.json", {"prompt_id": prompt_id})

    def get_open(self, annotator: str, task: str) -> str | None:
        try:
            text = (self._dir(annotator, task) / f"{_OPEN}.json").read_text(encoding="utf-8")
            return str(json.loads(text)["prompt_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
