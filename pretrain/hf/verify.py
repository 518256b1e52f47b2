"""Run our model and the transformers model side by side: logits (plain and packed) and greedy tokens.

Packed rows follow our trainer: `doc_ids` mark documents; our model masks across them and restarts
positions; transformers gets the restarted `position_ids`, no attention mask and no cache, and detects
the packing itself (masking_utils.find_packed_sequence_indices) to build the same block-diagonal mask.
"""

from __future__ import annotations

from pathlib import Path

import torch

from weprompt.pretrain.hf import InteropError
from weprompt.pretrain.model import WeLM

LOGIT_ATOL = 1e-4  # export-time check; the tests hold fp32 CPU to 1e-5


def load_hf_model(hf_dir: str | Path):
    try:
        from transformers import AutoModelForCausalLM
    except ImportError as e:  # pragma: no cover - the hf extra is missing
        raise InteropError("transformers is not installed: pip install 'weprompt[hf]'") from e
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    return model.eval()


@torch.no_grad()
def logits_pair(
    ours: WeLM, hf, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(our logits, transformers logits) for the same batch; `doc_ids` makes it a packed batch."""
    mine = ours(input_ids, doc_ids=doc_ids).logits
    if doc_ids is None:
        theirs = hf(input_ids=input_ids, use_cache=False).logits
    else:
        pos = WeLM.positions_from_docs(doc_ids)
        theirs = hf(input_ids=input_ids, position_ids=pos, use_cache=False).logits
    return mine, theirs


def max_logit_diff(ours: WeLM, hf, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None) -> float:
    mine, theirs = logits_pair(ours, hf, input_ids, doc_ids)
    return float((mine.float() - theirs.float()).abs().max())


@torch.no_grad()
def hf_greedy(hf, prompt: list[int], max_new_tokens: int, eos_id: int | None) -> list[int]:
    """transformers' greedy generation, new tokens only, without the stop token (like WeLM.generate)."""
    out = hf.generate(
        torch.tensor([prompt]),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    new = out[0, len(prompt) :].tolist()
    if eos_id is not None and eos_id in new:
        new = new[: new.index(eos_id)]
    return new


def probe_ids(encoded: list[list[int]], context_length: int, rows: int = 2) -> torch.Tensor:
    """A (rows, T) batch of real token ids from encoded probe texts, T <= context_length."""
    flat = [t for ids in encoded for t in ids] or [0]
    T = max(2, min(context_length, len(flat) // rows or 2))
    flat = (flat * (rows * T // len(flat) + 1))[: rows * T]
    return torch.tensor(flat).view(rows, T)
