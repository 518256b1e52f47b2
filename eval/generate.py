"""Greedy generation with a stop rule, for reading comprehension, cloze, closed-book QA, summarization.

Examples decode in batches (`eval.batching.generate_batch`: left padding, each row leaves the batch when
it stops): one prompt pass, then one token a step. Decoding stops at EOS, at any token whose piece holds a newline (answers are one line:
`TARGET_SEP` is a newline and few-shot demonstrations are separated by blank lines), at
`max_new_tokens`, or at the end of the context window. Padding is masked out of every attention, so a
prediction does not depend on the batch it was decoded in (up to float rounding of the logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from weprompt.eval.batching import generate_batch

# New-token budgets per task type (answers of the evaluation tasks are short; summaries are not).
MAX_NEW_TOKENS = {
    "extractive_qa": 32,
    "cloze_generation": 8,
    "generation": 24,
    "summarization": 96,
}
DEFAULT_MAX_NEW_TOKENS = 32


def max_new_tokens_for(task_type: str, category: str) -> int:
    if category == "summarization":
        return MAX_NEW_TOKENS["summarization"]
    return MAX_NEW_TOKENS.get(task_type, DEFAULT_MAX_NEW_TOKENS)


def newline_ids(tokenizer) -> list[int]:
    """Ids of every piece that decodes to text holding a newline (SentencePiece's own layout piece)."""
    out = []
    for i in range(tokenizer.vocab_size):
        if "\n" in tokenizer.id_to_piece(i) or "\n" in tokenizer.decode([i]):
            out.append(i)
    return out


@dataclass
class Generation:
    text: str
    n_tokens: int
    stop: str  # "stop_token" (EOS or newline) | "max_tokens" | "context" (window full)


class Generator:
    def __init__(self, model, tokenizer):
        self.model = model
        self.tok = tokenizer
        self.stop_ids = newline_ids(tokenizer)
        self.context = model.config.context_length

    def __call__(self, prefix: Sequence[int], max_new_tokens: int) -> Generation:
        return self.batch([prefix], [max_new_tokens])[0]

    def batch(self, prefixes: Sequence[Sequence[int]], max_new: Sequence[int]) -> list[Generation]:
        budgets = []
        for prefix, m in zip(prefixes, max_new, strict=True):
            if not prefix:
                raise ValueError("empty prompt")
            if len(prefix) >= self.context:
                raise ValueError(
                    f"prompt of {len(prefix)} tokens leaves no room in a {self.context}-token context"
                )
            budgets.append(min(m, self.context - len(prefix)))
        stops = list(self.stop_ids) + ([self.tok.eos_id] if self.tok.eos_id is not None else [])
        news = generate_batch(self.model, prefixes, budgets, stops, self.tok.pad_id)
        out = []
        for new, budget, m in zip(news, budgets, max_new, strict=True):
            if len(new) < budget:
                stop = "stop_token"
            else:
                stop = "max_tokens" if budget == m else "context"
            out.append(Generation(self.tok.decode(new).split("\n", 1)[0].strip(), len(new), stop))
        return out
