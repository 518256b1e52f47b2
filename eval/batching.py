"""Batches across examples: rank scoring with a shared-prefix KV cache, and greedy generation.

Rank scoring (`score_batch`) takes (prompt, choices) requests of several examples at once:

1. Prompt pass: the distinct prompts (identical prompts — e.g. the content-free prompt of a template —
   are encoded once) are right-padded into one batch. Causal attention never looks right, so a real
   token never sees padding; the logits are computed at each prompt's last real position only.
2. Continuation pass: one row per (request, choice) with more than one token; its KV cache is its
   prompt's rows of the prompt cache (`index_select`). The choice tokens sit at positions
   `len(prompt) + t` (`position_ids`), and an explicit mask lets them see their prompt's real tokens
   and the earlier tokens of their own choice, never the prompt padding or other rows.

So every real query sees exactly the keys it sees unbatched: the scores equal the unbatched
`eval.scoring.score_choices` to float rounding (1e-5 in fp32 at any batch size, tested), and the first
token of every choice still costs nothing beyond the prompt pass.

Generation (`generate_batch`) right-pads the prompts, so the prompt pass is plain causal attention (the
fused kernel, no mask), then decodes greedily into a preallocated KV cache (`WeLM.new_kv_cache`): the
token of step s sits in cache slot `width + s` at position `len(prompt) + s` and sees its prompt's real
tokens and the decoded ones, never the padding. A row leaves the batch as soon as it stops (EOS or a
stop piece, not returned), reaches its budget, or fills the context window.

Both functions work with any model that takes `(input_ids, position_ids, past_key_values,
use_cache, attn_mask, logits_at)` like `pretrain.model.WeLM` (and `eval.hfmodel.HFCausalLM`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Request = tuple[Sequence[int], Sequence[Sequence[int]]]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of `batch_size`, longest first (similar lengths pad little);
    ties keep their order, so the grouping is deterministic."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[s : s + batch_size] for s in range(0, len(order), max(1, batch_size))]


def _check(requests: Sequence[Request]) -> None:
    for prefix, choices in requests:
        if not prefix:
            raise ValueError("empty prompt: nothing to condition the choices on")
        if any(len(c) == 0 for c in choices):
            raise ValueError("an answer choice encodes to no tokens")


def _prompt_pass(model, prompts: list[tuple[int, ...]], pad_id: int):
    lens = torch.tensor([len(p) for p in prompts])
    ids = torch.full((len(prompts), int(lens.max())), pad_id, dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, : len(p)] = torch.tensor(p)
    dev = _device(model)
    out = model(ids.to(dev), use_cache=True, logits_at=(lens - 1).to(dev))
    return F.log_softmax(out.logits[:, 0].float(), dim=-1).cpu(), out.past_key_values, lens


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _continuation_mask(prompt_lens: torch.Tensor, t_past: int, width: int) -> torch.Tensor:
    """(R, 1, width, t_past + width): the row's real prompt tokens and its own choice, causally."""
    sees_prompt = torch.arange(t_past)[None, :] < prompt_lens[:, None]  # (R, t_past)
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    rows = prompt_lens.shape[0]
    return torch.cat(
        [sees_prompt[:, None, :].expand(rows, width, t_past), causal.expand(rows, width, width)], dim=-1
    )[:, None]


@torch.no_grad()
def score_batch(model, requests: Sequence[Request], pad_id: int = 0) -> list[list[list[float]]]:
    """Per-token log-probabilities of every choice of every request (see the module docstring)."""
    _check(requests)
    if not requests:
        return []
    uniq: dict[tuple[int, ...], int] = {}
    for prefix, _ in requests:
        uniq.setdefault(tuple(prefix), len(uniq))
    first, past, lens = _prompt_pass(model, list(uniq), pad_id)
    which = [uniq[tuple(p)] for p, _ in requests]
    result = [[[float(first[which[r], c[0]])] for c in choices] for r, (_, choices) in enumerate(requests)]
    rows = [(r, j) for r, (_, cs) in enumerate(requests) for j, c in enumerate(cs) if len(c) > 1]
    if not rows:
        return result
    width = max(len(requests[r][1][j]) for r, j in rows) - 1
    inputs = torch.full((len(rows), width), pad_id, dtype=torch.long)
    targets = torch.zeros((len(rows), width), dtype=torch.long)
    for k, (r, j) in enumerate(rows):
        c = list(requests[r][1][j])
        inputs[k, : len(c) - 1] = torch.tensor(c[:-1])
        targets[k, : len(c) - 1] = torch.tensor(c[1:])
    dev = _device(model)
    idx = torch.tensor([which[r] for r, _ in rows])
    row_lens = lens[idx]
    context = model.config.context_length
    positions = (row_lens[:, None] + torch.arange(width)[None, :]).clamp(max=context - 1)  # pads clamp
    rows_past = [(k.index_select(0, idx.to(dev)), v.index_select(0, idx.to(dev))) for k, v in past]
    mask = _continuation_mask(row_lens, int(lens.max()), width)
    logits = model(inputs.to(dev), position_ids=positions.to(dev), past_key_values=rows_past,
                   attn_mask=mask.to(dev)).logits  # fmt: skip
    lp = F.log_softmax(logits.float(), dim=-1).gather(-1, targets.to(dev).unsqueeze(-1)).squeeze(-1).cpu()
    for k, (r, j) in enumerate(rows):
        result[r][j].extend(float(x) for x in lp[k, : len(requests[r][1][j]) - 1])
    return result


@torch.no_grad()
def generate_batch(
    model,
    prompts: Sequence[Sequence[int]],
    budgets: Sequence[int],
    stop_ids: Sequence[int],
    pad_id: int = 0,
    static_cache: bool | None = None,
) -> list[list[int]]:
    """Greedy continuation of each prompt: at most `budgets[r]` new tokens, without the stop token.

    `static_cache` (default: whenever the model has `new_kv_cache`, as `pretrain.model.WeLM`) decodes into
    a preallocated cache written in place; otherwise into the model's list cache, which every step
    concatenates anew. Both give the same tokens."""
    if any(not p for p in prompts):
        raise ValueError("empty prompt")
    if not prompts:
        return []
    if static_cache is None:
        static_cache = hasattr(model, "new_kv_cache")
    stops, dev = set(stop_ids), _device(model)
    lens = torch.tensor([len(p) for p in prompts])
    width, budget = int(lens.max()), torch.tensor(list(budgets))
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, : len(p)] = torch.tensor(list(p))
    past = model.new_kv_cache(len(prompts), width + max(1, int(budget.max()))) if static_cache else None
    # Right padding: causal attention never looks right, so the prompt pass is plain causal (no mask).
    out = model(ids.to(dev), past_key_values=past, use_cache=True, logits_at=(lens - 1).to(dev))
    # Keys a decoded token sees: its row's real prompt tokens (not the padding after them), then every
    # decoded token (cache slots width, width + 1, ...); sliced per step.
    real = torch.cat([torch.arange(width)[None, :] < lens[:, None],
                      torch.ones(len(prompts), int(budget.max()), dtype=torch.bool)], dim=1).to(dev)  # fmt: skip
    out_tokens: list[list[int]] = [[] for _ in prompts]
    active = torch.arange(len(prompts))
    past, logits, step = out.past_key_values, out.logits[:, -1], 0
    while len(active):
        nxt = logits.argmax(dim=-1).cpu()
        keep = []
        for k, (row, tok) in enumerate(zip(active.tolist(), nxt.tolist(), strict=True)):
            if tok in stops or budget[row] <= 0:
                continue
            out_tokens[row].append(tok)
            if len(out_tokens[row]) < budget[row]:
                keep.append(k)
        if not keep:
            break
        if len(keep) < len(active):  # rows that stopped leave the batch
            sel = torch.tensor(keep)
            active, nxt, real = active[sel], nxt[sel], real.index_select(0, sel.to(dev))
            past = _select_rows(past, sel.to(dev))
        pos = (lens[active] + step)[:, None]
        res = model(nxt[:, None].to(dev), position_ids=pos.to(dev), past_key_values=past, use_cache=True,
                    attn_mask=real[:, None, None, : width + step + 1])  # fmt: skip
        past, logits, step = res.past_key_values, res.logits[:, -1], step + 1
    return out_tokens


def _select_rows(past, rows: torch.Tensor):
    if isinstance(past, list):
        return [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in past]
    past.select_rows(rows)
    return past
