"""Base classes of our datatrove steps: every step counts what it saw, kept and dropped (with a reason).

Counts go to `<stats_dir>/<step>/<rank>.json` when a task finishes (and into datatrove's own stats), per
source and in total, with characters and UTF-8 bytes beside document counts and the seconds the step
spent, so the summary can report drop reasons, the Table-1 columns and each step's throughput.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from weprompt.common.atomic import atomic_open, atomic_write_text


def utf8_len(text: str) -> int:
    # len(text.encode()) without the copy for pure-ASCII/BMP-heavy text would need a C helper; the encode
    # costs about 1 ms per MB, negligible beside the steps themselves.
    return len(text.encode("utf-8", "surrogatepass"))


class CountedStep(PipelineStep):
    """A step with reason-coded counters. Subclasses call `record()` for every document they see."""

    type = "WePrompt"

    def __init__(self, stats_dir: str | Path | None = None):
        super().__init__()
        self.stats_dir = str(stats_dir) if stats_dir else None
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.seconds = 0.0

    @property
    def step_name(self) -> str:
        return self.name

    def record(self, doc: Document, reason: str | None, nbytes: int | None = None) -> None:
        """Count `doc` as kept (reason None) or dropped for `reason`."""
        src = doc.metadata.get("source", "?")
        nchars = len(doc.text)
        nbytes = utf8_len(doc.text) if nbytes is None else nbytes
        for key in ("_total", src):
            c = self.counts[key]
            c["docs_in"] += 1
            c["chars_in"] += nchars
            c["bytes_in"] += nbytes
            if reason is None:
                c["docs_kept"] += 1
                c["chars_kept"] += nchars
            else:
                c[f"docs_dropped:{reason}"] += 1
                c[f"chars_dropped:{reason}"] += nchars
        self.stat_update("docs_in")
        self.stat_update("kept" if reason is None else f"dropped_{reason}")

    def note(self, key: str, value: int = 1, source: str | None = None) -> None:
        """A counter that is not a drop (e.g. a relabel); reported beside the step's counts."""
        self.counts["_total"][key] += value
        if source:
            self.counts[source][key] += value

    def save_counts(self, rank: int) -> None:
        if not self.stats_dir:
            return
        out = {
            "step": self.step_name,
            "rank": rank,
            "seconds": round(self.seconds, 4),
            "counts": {k: dict(v) for k, v in sorted(self.counts.items())},
        }
        path = Path(self.stats_dir) / self.step_name / f"{rank:05d}.json"
        atomic_write_text(path, json.dumps(out, ensure_ascii=False, indent=1) + "\n")


class DocFilter(CountedStep):
    """A single-purpose filter: `decide(doc)` returns None to keep the document or a drop reason.

    An exception inside `decide` drops that one document with reason `error:<ExceptionType>` (logged once
    per type and counted) instead of killing the task and losing its finished work. With `rejected_dir`,
    dropped documents are kept in `<rejected_dir>/<step>/<rank>.jsonl` (id, source, reason, text): the
    quality classifier's real negatives come from there, and they make every drop inspectable.
    """

    def __init__(self, stats_dir: str | Path | None = None, rejected_dir: str | Path | None = None):
        super().__init__(stats_dir)
        self.rejected_dir = str(rejected_dir) if rejected_dir else None

    def decide(self, doc: Document) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.rejected_dir:
            with atomic_open(Path(self.rejected_dir) / self.step_name / f"{rank:05d}.jsonl") as out:
                yield from self._run(data, rank, out)
        else:
            yield from self._run(data, rank, None)
        self.save_counts(rank)

    def _run(self, data: DocumentsPipeline, rank: int, out) -> DocumentsPipeline:
        seen_errors: set[str] = set()
        for doc in data:
            t0 = time.perf_counter()
            try:
                reason = self.decide(doc)
            except Exception as e:  # noqa: BLE001 - counted and logged; see class docstring
                reason = f"error:{type(e).__name__}"
                if reason not in seen_errors:
                    seen_errors.add(reason)
                    logger.exception(f"{self.name}: document {doc.id} raised {e!r}; dropping it")
            self.seconds += time.perf_counter() - t0
            self.record(doc, reason)
            if reason is None:
                yield doc
            elif out is not None:
                row = {"id": doc.id, "source": doc.metadata.get("source"), "reason": reason, "text": doc.text}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
