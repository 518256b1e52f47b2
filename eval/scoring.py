"""Rank classification: log-probabilities of answer choices as continuations of one shared prompt.

The prompt is encoded once (`use_cache=True`); its KV cache is expanded to one row per choice that
has more than one token, and all choices continue from it in a single forward pass (right-padded:
causal attention never looks right, so padding changes nothing for the real tokens). The first token
of every choice is scored from the prompt's last logits, so one-token choices cost nothing extra.

`score_full` is the plain reference — each (prompt, choice) pair as its own sequence — used by the
tests and the benchmark to check the shared-prefix numbers (equal to 1e-5 in fp32).

The unit of computation is one example (prompt + its choice set): shapes depend on that example only,
so scores cannot depend on how examples are grouped into batches, on any backend.

Scoring rules (each gives a prediction; `mean` is the paper's lowest-perplexity rule and the default):
- `sum`: total log-probability of the choice;
- `mean`: per token (= lowest perplexity);
- `per_char`: per character of the choice text;
- `calibrated`: sum log p(choice | prompt) − sum log p(choice | content-free prompt), the
  content-free prompt being the same template rendered with every text field set to "N/A"
  (Zhao et al. 2021's content-free input, used as domain-conditional PMI, Holtzman et al. 2021).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F

RULES = ("mean", "sum", "per_char", "calibrated")
DEFAULT_RULE = "mean"


def _gather(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(logits.float(), dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def encode_prefix(model, prefix: Sequence[int]) -> tuple[torch.Tensor, list]:
    """(logits of the last position, KV cache) of one prompt; the vocabulary projection runs at the
    last position only (`logits_at`): the other positions' logits are never used."""
    ids = torch.tensor([list(prefix)], dtype=torch.long)
    out = model(ids, use_cache=True, logits_at=torch.tensor([len(prefix) - 1]))
    return out.logits[0, -1], out.past_key_values


class PrefixCache:
    """A few recently encoded prompts (e.g. the content-free prompt of a template, met every example)."""

    def __init__(self, size: int = 4):
        self.size = size
        self._store: OrderedDict[tuple[int, ...], tuple] = OrderedDict()

    def get(self, model, prefix: Sequence[int]):
        key = tuple(prefix)
        if key in self._store:
            self._store.move_to_end(key)
            return self._store[key]
        value = encode_prefix(model, prefix)
        self._store[key] = value
        if len(self._store) > self.size:
            self._store.popitem(last=False)
        return value


@torch.no_grad()
def score_choices(
    model,
    prefix: Sequence[int],
    choices: Sequence[Sequence[int]],
    pad_id: int = 0,
    cache: PrefixCache | None = None,
) -> list[list[float]]:
    """Per-token log-probabilities of each choice continuing `prefix` (shared-prefix KV cache)."""
    if not prefix:
        raise ValueError("empty prompt: nothing to condition the choices on")
    if any(len(c) == 0 for c in choices):
        raise ValueError("an answer choice encodes to no tokens")
    if cache is not None:
        last_logits, past = cache.get(model, prefix)
    else:
        last_logits, past = encode_prefix(model, prefix)
    first = F.log_softmax(last_logits.float(), dim=-1)
    result = [[float(first[c[0]])] for c in choices]
    longer = [i for i, c in enumerate(choices) if len(c) > 1]
    if not longer:
        return result
    width = max(len(choices[i]) for i in longer) - 1
    inputs = torch.full((len(longer), width), pad_id, dtype=torch.long)
    targets = torch.zeros((len(longer), width), dtype=torch.long)
    for row, i in enumerate(longer):
        c = choices[i]
        inputs[row, : len(c) - 1] = torch.tensor(c[:-1])
        targets[row, : len(c) - 1] = torch.tensor(c[1:])
    rows = len(longer)
    expanded = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in past]
    logits = model(inputs, past_key_values=expanded).logits
    lp = _gather(logits, targets)
    for row, i in enumerate(longer):
        result[i].extend(float(x) for x in lp[row, : len(choices[i]) - 1])
    return result


@torch.no_grad()
def score_full(
    model, prefix: Sequence[int], choices: Sequence[Sequence[int]], pad_id: int = 0
) -> list[list[float]]:
    """The reference: every (prompt, choice) pair as its own full sequence, in one right-padded batch."""
    seqs = [list(prefix) + list(c) for c in choices]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
    logits = model(ids).logits
    out = []
    for r, c in enumerate(choices):
        start = len(prefix)
        pos = torch.arange(start - 1, start - 1 + len(c))
        lp = _gather(logits[r, pos], torch.tensor(list(c)))
        out.append([float(x) for x in lp])
    return out


def rule_scores(
    token_logprobs: Sequence[Sequence[float]],
    choice_texts: Sequence[str],
    cf_token_logprobs: Sequence[Sequence[float]] | None = None,
) -> dict[str, list[float] | None]:
    """Each rule's score per choice (higher is better); `calibrated` is None without content-free scores."""
    sums = [sum(t) for t in token_logprobs]
    out: dict[str, list[float] | None] = {
        "sum": sums,
        "mean": [s / len(t) for s, t in zip(sums, token_logprobs, strict=True)],
        "per_char": [s / max(1, len(c)) for s, c in zip(sums, choice_texts, strict=True)],
        "calibrated": None,
    }
    if cf_token_logprobs is not None:
        out["calibrated"] = [s - sum(cf) for s, cf in zip(sums, cf_token_logprobs, strict=True)]
    return out


def argmax(values: Sequence[float]) -> int:
    """Index of the best score; ties go to the first (deterministic)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best
