"""Greedy generation with a stop rule, for reading comprehension, cloze, closed-book QA, summarization.

Each example decodes on its own with the model's KV cache (`WeLM.generate`): one prompt pass, then one
token a step. Decoding stops at EOS, at any token whose piece holds a newline (answers are one line:
`TARGET_SEP` is a newline and few-shot demonstrations are separated by blank lines), at
`max_new_tokens`, or at the end of the context window. Per-example decoding keeps every prediction
independent of batch composition (no padding enters any computation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

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

    @torch.no_grad()
    def __call__(self, prefix: Sequence[int], max_new_tokens: int) -> Generation:
        if not prefix:
            raise ValueError("empty prompt")
        if len(prefix) >= self.context:
            raise ValueError(
                f"prompt of {len(prefix)} tokens leaves no room in a {self.context}-token context"
            )
        ids = torch.tensor([list(prefix)], dtype=torch.long)
        budget = min(max_new_tokens, self.context - len(prefix))
        # generate() stops at EOS / a newline piece (neither is returned) or after the budget.
        (new,) = self.model.generate(ids, budget, eos_id=self.tok.eos_id, stop_ids=self.stop_ids)
        if len(new) < budget:
            stop = "stop_token"
        else:
            stop = "max_tokens" if budget == max_new_tokens else "context"
        text = self.tok.decode(new).split("\n", 1)[0].strip()
        return Generation(text, len(new), stop)
