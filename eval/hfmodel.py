"""Any Hugging Face causal LM under `weprompt eval`: `--model hf:<dir or hub id>`.

`HFCausalLM` wraps an `AutoModelForCausalLM` so that it takes what `pretrain.model.WeLM` takes and
the batched scorer and decoder (`eval.batching`) use: `position_ids`, a per-layer list of (k, v) as
the cache, a boolean 4-D `attn_mask` (passed to the model as a prepared mask; the model is loaded with
SDPA attention, where a boolean mask means "may attend") and `logits_at` (the decoder's last hidden
state is projected at those positions only). At load, the logits of that route are checked against the
model's own forward on a probe; a model whose head does more than the output embedding (logit
scaling, soft-capping) fails there with a clear error rather than scoring wrongly.

`HFTokenizer` gives a transformers tokenizer the interface of `pretrain.tokenizer.Tokenizer` that the
evaluator uses (no special tokens added: prompts are assembled by `eval.fewshot`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch
import torch.nn as nn

from weprompt.common.errors import UserError
from weprompt.pretrain.model import ModelOutput

PREFIX = "hf:"


class HFModelError(UserError):
    pass


@dataclass
class HFConfig:
    context_length: int
    vocab_size: int
    model_type: str
    source: str
    hf_config_sha: str  # sha256 of the transformers config (so the weights hash covers it)


class HFTokenizer:
    def __init__(self, tok, where: str):
        self.tok = tok
        self.where = where
        self.eos_id: int | None = tok.eos_token_id
        self.bos_id: int | None = tok.bos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self.pad_id: int = 0 if pad is None else int(pad)
        self.vocab_size: int = len(tok)

    def encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [list(x) for x in self.tok(list(texts), add_special_tokens=False)["input_ids"]]

    def decode(self, ids) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=True)

    def id_to_piece(self, i: int) -> str:
        piece = self.tok.convert_ids_to_tokens(i)
        return piece if isinstance(piece, str) else ""

    def fingerprint(self) -> str:
        backend = getattr(self.tok, "backend_tokenizer", None)
        text = backend.to_str() if backend is not None else json.dumps(self.tok.get_vocab(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _context_length(cfg, tok) -> int:
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        n = getattr(cfg, name, None)
        if isinstance(n, int) and n > 0:
            return n
    raise HFModelError(f"{cfg.name_or_path}: the config names no context length (max_position_embeddings)")


def _cache_arg(base) -> str:
    """transformers renames `past_key_values` to `cache` (deprecated from 5.2x): whichever this one takes."""
    import inspect

    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


class HFCausalLM(nn.Module):
    def __init__(self, hf, tok, source: str):
        super().__init__()
        self.hf = hf
        cfg_sha = hashlib.sha256(hf.config.to_json_string(use_diff=False).encode()).hexdigest()
        self.config = HFConfig(_context_length(hf.config, tok), int(hf.get_input_embeddings().num_embeddings),
                               str(hf.config.model_type), source, cfg_sha)  # fmt: skip

    def forward(self, input_ids, position_ids=None, past_key_values=None, use_cache=False, attn_mask=None,
                logits_at=None) -> ModelOutput:  # fmt: skip
        from transformers import DynamicCache

        B, T = input_ids.shape
        cache = None
        past_len = 0
        if past_key_values:
            cache = DynamicCache()
            for i, (k, v) in enumerate(past_key_values):
                cache.update(k, v, i)
            past_len = past_key_values[0][0].shape[2]
        elif use_cache:
            cache = DynamicCache()
        if position_ids is None:
            position_ids = torch.arange(past_len, past_len + T, device=input_ids.device).expand(B, T)
        base = self.hf.base_model
        out = base(input_ids=input_ids, attention_mask=attn_mask, position_ids=position_ids,
                   use_cache=use_cache, **{_cache_arg(base): cache})  # fmt: skip
        h = out.last_hidden_state
        if logits_at is not None:
            h = h[torch.arange(B, device=h.device), logits_at][:, None]
        logits = self.hf.get_output_embeddings()(h)
        present = getattr(out, "past_key_values", None) or getattr(out, "cache", None)
        past = [(layer.keys, layer.values) for layer in present.layers] if use_cache and present else None
        return ModelOutput(logits=logits, past_key_values=past)


def _check_route(model: HFCausalLM, where: str) -> None:
    """The decoder + output-embedding route gives the model's own logits (else: a clear error)."""
    n = min(8, model.config.context_length)
    ids = torch.arange(n)[None, :] % model.config.vocab_size
    with torch.no_grad():
        ref = model.hf(input_ids=ids).logits.float()
        ours = model(ids).logits.float()
    diff = float((ref - ours).abs().max())
    if diff > 1e-3 * max(1.0, float(ref.abs().max())):
        raise HFModelError(
            f"{where}: the model's head is not its output embedding alone (logits differ by {diff:.3g}); "
            "this model family is not supported by the batched scorer"
        )


def load(spec: str, dtype: str = "float32"):
    """`hf:<dir or hub id>` → an `eval.modelio.LoadedModel` (model in eval mode, tokenizer checked)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from weprompt.eval.modelio import LoadedModel, weights_hash

    source = spec[len(PREFIX) :] if spec.startswith(PREFIX) else spec
    if not source:
        raise HFModelError("--model hf:<dir or hub id>: the directory or hub id is missing")
    try:
        tok = AutoTokenizer.from_pretrained(source)
        hf = AutoModelForCausalLM.from_pretrained(
            source, dtype=getattr(torch, dtype), attn_implementation="sdpa"
        )
    except (OSError, ValueError) as e:
        raise HFModelError(f"{spec}: cannot load a causal LM and its tokenizer: {e}") from e
    hf.eval()
    model = HFCausalLM(hf, tok, source).eval()
    wrapped = HFTokenizer(tok, source)
    if wrapped.vocab_size > model.config.vocab_size:
        raise HFModelError(
            f"{source}: the tokenizer has {wrapped.vocab_size} tokens but the model's embedding has "
            f"{model.config.vocab_size} rows; this is not the model's tokenizer"
        )
    _check_route(model, source)
    return LoadedModel(model, wrapped, spec, weights_hash(model), None)  # type: ignore[arg-type]
