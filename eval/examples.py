"""From (task, template, row) to what the model is asked: the prompt ids, the choices, the references.

- Prompts: only templates with `metadata.original_task: true` are used for evaluation (the others
  are training-only and are listed as skipped); rank tasks need `answer_choices`.
- Rank classification: the choices are the rendered `answer_choices`; the gold is the index of the
  rendered target among them (an error naming task, template and example when it is not there).
  Tasks with `eval_negatives` (TNEWS, IFLYTEK) score the gold plus that many negatives drawn per
  example, seeded by (seed, task, example key): the same label subset under every prompt.
- Generation: references are the rendered target plus the row's own answers (`answers.text`,
  `answers`, `answer`), deduplicated; the passage for the out-of-scope check is `context`,
  `document`, `content` or `passage`.
- Content-free input for calibration: the row with every text value replaced by "N/A" (the label
  field kept), rendered with the same template and the same demonstrations.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from weprompt.catalog import Task
from weprompt.common.errors import UserError
from weprompt.eval.fewshot import Prompt, assemble, demo_candidates, select_demos
from weprompt.templates import Rendered, Template, render

if TYPE_CHECKING:
    from weprompt.pretrain.tokenizer import Tokenizer

CONTENT_FREE = "N/A"
PASSAGE_FIELDS = ("context", "document", "content", "passage")


class EvalInputError(UserError):
    pass


def example_key(split: str, index: int) -> str:
    return f"{split}/{index}"


def render_seed(seed: int, key: str) -> int:
    return zlib.crc32(f"{seed}:{key}".encode()) & 0x7FFFFFFF


def usable_templates(task: Task, templates: list[Template]) -> tuple[list[Template], list[dict]]:
    used, skipped = [], []
    for t in templates:
        if t.metadata.original_task is not True:
            skipped.append({"id": t.id, "name": t.name, "reason": "not original_task (training-only prompt)"})
        elif task.is_rank and not t.answer_choices:
            skipped.append({"id": t.id, "name": t.name, "reason": "rank task prompt without answer_choices"})
        else:
            used.append(t)
    return used, skipped


def _texts(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        return _texts(value.get("text"))
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)] if str(value).strip() else []


def references(row: dict, target: str | None) -> list[str]:
    refs = ([target] if target else []) + _texts(row.get("answers"))
    if isinstance(row.get("answer"), str):
        refs += _texts(row["answer"])
    return list(dict.fromkeys(r.strip() for r in refs if r.strip()))


def passage(row: dict) -> str | None:
    for f in PASSAGE_FIELDS:
        v = row.get(f)
        if isinstance(v, str):
            return v
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return "\n".join(v)
    return None


def content_free(value, keep: str | None = None):
    """The row with every string replaced by "N/A" (lists keep their length; `keep` is left as is)."""
    if isinstance(value, dict):
        return {k: (v if k in (keep, "label_id") else content_free(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [content_free(v) for v in value]
    return CONTENT_FREE if isinstance(value, str) else value


def pick_negatives(n_choices: int, gold: int, negatives: int, seed: int, task: str, key: str) -> list[int]:
    """Indices of the choices to score: the gold plus `negatives` others, in label order."""
    if n_choices <= negatives + 1:
        return list(range(n_choices))
    rng = random.Random(f"{seed}:{task}:{key}:negatives")
    others = rng.sample([i for i in range(n_choices) if i != gold], negatives)
    return sorted([gold, *others])


@dataclass
class PromptBuilder:
    """Renders one template's examples and demonstrations and assembles prompt ids."""

    task: Task
    template: Template
    tokenizer: Tokenizer
    context_length: int
    shots: int
    seed: int
    demo_rows: list[dict]
    demo_split: str
    eval_split: str
    prefix_eos: bool = True
    all_labels: bool = False  # score every label even where the task has `eval_negatives` (harness-like)

    def __post_init__(self) -> None:
        self._demo_cache: dict[int, Rendered | None] = {}
        if self.prefix_eos and self.tokenizer.eos_id is None:
            raise EvalInputError("prefix_eos: the tokenizer has no EOS token; set prefix_eos: false")
        self.prefix = [self.tokenizer.eos_id] if self.prefix_eos else []

    def where(self, key: str) -> str:
        return f"task '{self.task.name}', template '{self.template.name}' ({self.template.id}), example {key}"

    def render(self, row: dict, key: str) -> Rendered:
        return render(self.template, row, seed=render_seed(self.seed, key))

    def _render_demo(self, i: int) -> Rendered | None:
        if i not in self._demo_cache:
            try:
                self._demo_cache[i] = self.render(self.demo_rows[i], example_key(self.demo_split, i))
            except Exception:  # a demonstration the template cannot render is passed over
                self._demo_cache[i] = None
        return self._demo_cache[i]

    def demos(self, key: str, index: int, rendered: Rendered) -> list[Rendered]:
        if self.shots <= 0 or not self.demo_rows:
            return []
        exclude = index if self.demo_split == self.eval_split else None
        cands = demo_candidates(len(self.demo_rows), self.seed, self.task.name, key)
        return select_demos(self.shots, cands, self._render_demo, exclude, rendered.input)

    def prompt(self, demos: list[Rendered], input_text: str, reserve: int) -> Prompt:
        room = self.context_length - reserve
        if room <= len(self.prefix) + 1:
            raise EvalInputError(
                f"task '{self.task.name}': {reserve} tokens reserved for the answer leave no room for a prompt "
                f"in a {self.context_length}-token context"
            )
        return assemble(self.tokenizer.encode, demos, input_text, room, self.prefix)

    def choices(self, rendered: Rendered, key: str) -> tuple[list[str], int]:
        """(choice texts to score, index of the gold among them)."""
        choices = rendered.answer_choices
        if not choices:
            raise EvalInputError(f"{self.where(key)}: the template renders no answer choices")
        if rendered.target is None or rendered.target not in choices:
            raise EvalInputError(
                f"{self.where(key)}: gold answer {rendered.target!r} is not among the answer choices {choices[:20]}"
            )
        gold = choices.index(rendered.target)
        if self.task.eval_negatives and not self.all_labels:
            keep = pick_negatives(
                len(choices), gold, self.task.eval_negatives, self.seed, self.task.name, key
            )
            return [choices[i] for i in keep], keep.index(gold)
        return list(choices), gold
