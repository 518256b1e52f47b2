"""Per-prompt quality signal in the review view: the evaluator's score of each prompt of the task and
its rank among them, read from evaluation results already on disk (`weprompt eval` writes
`results.json` beside its prediction cache, default under runs/eval/); no model runs in the UI."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from weprompt.templates import Template

log = logging.getLogger(__name__)
RESULTS_SCHEMA = "weprompt.eval.results/1"  # eval.runner.RESULTS_SCHEMA
MAX_FILES = 500


@dataclass(frozen=True)
class PromptScore:
    source: str  # results file
    model: str
    shots: str
    metric: str
    scores: dict[str, float]  # template id -> score on the task's metric

    def rank(self, template_id: str) -> tuple[int, int] | None:
        """(1-based rank, prompts scored) of the prompt, best first; None when it was not evaluated."""
        if template_id not in self.scores:
            return None
        better = sum(s > self.scores[template_id] for s in self.scores.values())
        return better + 1, len(self.scores)


def _from_file(path: Path, task: str) -> list[PromptScore]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        log.warning("%s: unreadable results file skipped (%s)", path, e)
        return []
    if (
        not isinstance(data, dict)
        or data.get("schema") != RESULTS_SCHEMA
        or task not in data.get("tasks", {})
    ):
        return []
    t = data["tasks"][task]
    model = str((data.get("model") or {}).get("path", "?"))
    out = []
    for shots, block in sorted(t.get("shots", {}).items()):
        scores = {
            str(p["template_id"]): float(p["metrics"][t["metric"]])
            for p in block.get("prompts", [])
            if t["metric"] in (p.get("metrics") or {})
        }
        if scores:
            out.append(PromptScore(str(path), model, shots, t["metric"], scores))
    return out


@st.cache_data(show_spinner=False, ttl=60)
def prompt_scores(results_dir: str, task: str) -> list[PromptScore]:
    """Every evaluation of `task` found under `results_dir` (its `**/results.json`, newest first)."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    files = sorted(root.glob("**/results.json"), key=lambda p: p.stat().st_mtime, reverse=True)[:MAX_FILES]
    return [s for f in files for s in _from_file(f, task)]


def show(task: str, template: Template, others: list[Template], results_dir: str) -> None:
    scores = prompt_scores(results_dir, task)
    st.markdown("**Quality (evaluation results)**")
    ranked: list[tuple[PromptScore, tuple[int, int]]] = []
    for s in scores:
        if (r := s.rank(template.id)) is not None:
            ranked.append((s, r))
    if not ranked:
        st.caption(f"Not evaluated yet (no results for this prompt under `{results_dir}`).")
        return
    names = {o.id: o.name for o in [template, *others]}
    st.dataframe(
        [
            {
                "model": s.model,
                "shots": s.shots,
                s.metric: round(s.scores[template.id], 2),
                "rank": f"{r[0]} / {r[1]}",
                "best prompt": names.get(max(s.scores, key=lambda k: s.scores[k]), "?"),
            }
            for s, r in ranked
        ],
        hide_index=True,
    )
