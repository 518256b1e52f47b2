"""WeLM: the GPT-3-style decoder of the WeLM paper (arXiv 2209.10372, §3 and Table 2).

    ids → embedding → n_layer × [x + Attn(LN(x)), x + FFN(LN(x))] → LN → logits (embedding matrix, tied)

- Pre-norm LayerNorm (GPT-3), FFN of 4·d with GELU (tanh form, as GPT-2/3), no learned positions: rotary
  embeddings on queries and keys (the paper's choice, §3), so positions cost no parameters.
- Attention is `F.scaled_dot_product_attention` (flash / memory-efficient kernels where the device has them).
- Packed sequences: `doc_ids` (B, T) turns attention block-diagonal per document and, unless `position_ids`
  are given, restarts positions at 0 for each document.
- Incremental decoding: `past_key_values` is a per-layer list of (k, v), each (B, n_head, T_past, head_dim),
  keys already rotated. An evaluator can encode a shared prompt once, `expand` the cache to one row per answer
  choice and continue every choice from it (right-pad the choices: causal attention never looks right).
  For long greedy decoding, `KVCache` (`new_kv_cache`) holds preallocated buffers that each step writes into
  in place, instead of a list that every step concatenates anew (a copy of the whole cache per step).
- Embeddings are tied by default: at CPU scale the V·d embedding is a third or more of all parameters and
  tying halves it (faster, and better with little data); at paper scale (V·d = 127M of 1.3B) it hardly
  matters and GPT-3 tied them too. `tie_embeddings: false` unties.
- Linear layers and LayerNorms have no bias by default (nanoGPT's observation: as good, slightly faster);
  `bias: true` restores GPT-3's biases. `num_parameters_formula()` counts both ways.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from weprompt.common.config import ConfigError
from weprompt.pretrain.model_loss import IGNORE_INDEX, chunked_cross_entropy


@dataclass
class ModelConfig:
    vocab_size: int = 8000
    n_layer: int = 6
    n_head: int = 6
    d_model: int = 384
    context_length: int = 256
    ffn_mult: int = 4
    dropout: float = 0.0
    tie_embeddings: bool = True
    bias: bool = False
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layer", "n_head", "d_model", "context_length", "ffn_mult"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ConfigError(f"model.d_model {self.d_model} is not a multiple of n_head {self.n_head}")
        if self.head_dim % 2:
            raise ConfigError(f"model: head_dim {self.head_dim} must be even for rotary embeddings")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def d_ff(self) -> int:
        return self.ffn_mult * self.d_model

    def num_parameters_formula(self) -> int:
        """Closed form of `WeLM(cfg).num_parameters()`, checked by the tests for every preset."""
        d, f, b = self.d_model, self.d_ff, int(self.bias)
        attn = 3 * d * d + d * d + b * (3 * d + d)
        ffn = 2 * d * f + b * (f + d)
        norms = 2 * d * (1 + b)
        embed = self.vocab_size * d * (1 if self.tie_embeddings else 2)
        return embed + self.n_layer * (attn + ffn + norms) + d * (1 + b)

    def matmul_parameters(self) -> int:
        """Parameters that take part in a matmul per token: all but the input embedding lookup.

        With tied embeddings the one matrix is the output projection, so it counts once."""
        lookup = 0 if self.tie_embeddings else self.vocab_size * self.d_model
        return self.num_parameters_formula() - lookup

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token, forward + backward (PaLM appendix B): 6·N + 12·L·d·T."""
        t = seq_len or self.context_length
        return 6.0 * self.matmul_parameters() + 12.0 * self.n_layer * self.d_model * t


PRESETS: dict[str, ModelConfig] = {
    # The paper's Table 2 (context 2048; vocabulary of about 62k SentencePiece pieces, §3).
    "welm_1p3b": ModelConfig(vocab_size=62_000, n_layer=24, n_head=16, d_model=2048, context_length=2048),
    "welm_2p7b": ModelConfig(vocab_size=62_000, n_layer=32, n_head=32, d_model=2560, context_length=2048),
    "welm_10b": ModelConfig(vocab_size=62_000, n_layer=32, n_head=40, d_model=5120, context_length=2048),
    # CPU sizes. vocab_size is normally taken from the tokenizer by `weprompt pretrain`.
    "cpu_tiny": ModelConfig(vocab_size=3000, n_layer=2, n_head=4, d_model=64, context_length=64),
    # The scale ladder (issue 22): mini / small / base, about 2.5M / 7M / 17M parameters with a 16k vocabulary.
    "cpu_mini": ModelConfig(vocab_size=8000, n_layer=2, n_head=4, d_model=128, context_length=256),
    "cpu_small": ModelConfig(vocab_size=8000, n_layer=4, n_head=4, d_model=256, context_length=256),
    "cpu_base": ModelConfig(vocab_size=8000, n_layer=6, n_head=6, d_model=384, context_length=256),
    # One GPU, minutes (experiments/gpu_h100.yaml): GPT-2 small's shape at context 1024, about 97M parameters
    # with the corpus tokenizer's 16,000 pieces.
    "gpu_100m": ModelConfig(vocab_size=16_000, n_layer=12, n_head=12, d_model=768, context_length=1024),
}


def preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset '{name}'; known: {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


class KVCache:
    """Preallocated keys and values of every layer, each (B, n_head, capacity, head_dim), filled up to
    `length`: a forward pass writes its new tokens' keys (rotated) and values at `length` in place and
    attends over the filled part, then advances `length`. Pass it as `past_key_values` (the pass returns
    it); rows leave with `select_rows` (greedy decoding drops the rows that stopped)."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor]):
        self.keys, self.values, self.length = keys, values, 0

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache of {self.capacity} positions cannot hold {end}")
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def select_rows(self, rows: torch.Tensor) -> None:
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]


@dataclass
class CacheSlot:
    """One layer's place in a `KVCache`."""

    cache: KVCache
    layer: int


# A list cache holds one (k, v) per layer and grows by concatenation; a `KVCache` is written in place.
PastKV = list[tuple[torch.Tensor, torch.Tensor]] | KVCache


@dataclass
class ModelOutput:
    logits: torch.Tensor  # (B, T, V); (B, T, 0) when the loss was computed chunk by chunk (`loss_chunk`)
    loss: torch.Tensor | None = None
    past_key_values: PastKV | None = None
    token_losses: torch.Tensor | None = None  # (B, T) fp32, detached, 0 at ignored targets (`loss_chunk`)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, "rotate half" layout: pairs are (i, i + head_dim/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.head_dim, self.dropout = cfg.n_head, cfg.head_dim, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)  # one matmul for q, k, v
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, mask, past):
        B, T, D = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, H, T, hd)
        q, k = rotate(qkv[:2], cos, sin).unbind(0)  # q and k rotated in one pass
        v = qkv[2]
        if isinstance(past, CacheSlot):
            k, v = past.cache.write(past.layer, k, v)
        elif past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        # Plain causal attention takes the fused is_causal path; a doc mask or a cache offset needs a mask.
        # (With a cache and one new token, the token may see everything: no mask at all.)
        is_causal = mask is None and T > 1 and k.shape[2] == T
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=is_causal
        )
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(B, T, D))), (k, v)


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)
        self.ffn = FeedForward(cfg)

    def forward(self, x, cos, sin, mask, past):
        h, present = self.attn(self.ln1(x), cos, sin, mask, past)
        x = x + h
        return x + self.ffn(self.ln2(x)), present


class WeLM(nn.Module):
    rope_cos: torch.Tensor  # buffers (register_buffer below)
    rope_sin: torch.Tensor

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        inv_freq = 1.0 / cfg.rope_theta ** (
            torch.arange(0, cfg.head_dim, 2, dtype=torch.float64) / cfg.head_dim
        )
        angles = torch.outer(torch.arange(cfg.context_length, dtype=torch.float64), inv_freq)
        # Tables, not parameters: rebuilt from the config, so not saved in checkpoints.
        self.register_buffer("rope_cos", angles.cos().float(), persistent=False)
        self.register_buffer("rope_sin", angles.sin().float(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = self.config.init_std
        for name, p in self.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(p)
            elif p.dim() == 1:  # LayerNorm gains
                nn.init.ones_(p)
            elif name.endswith(("attn.proj.weight", "ffn.proj.weight")):
                # GPT-2: residual projections scaled by 1/sqrt(2·n_layer) keep the residual stream's variance flat.
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.config.n_layer))
            else:
                nn.init.normal_(p, 0.0, std)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # parameters() yields a tied matrix once

    @staticmethod
    def positions_from_docs(doc_ids: torch.Tensor) -> torch.Tensor:
        """Position of each token inside its document: 0 at every change of doc id along a row."""
        B, T = doc_ids.shape
        idx = torch.arange(T, device=doc_ids.device).expand(B, T)
        start = torch.ones_like(doc_ids, dtype=torch.bool)
        start[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
        return idx - torch.where(start, idx, 0).cummax(dim=1).values

    def forward(
        self,
        input_ids: torch.Tensor,
        targets: torch.Tensor | None = None,
        doc_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: PastKV | None = None,
        use_cache: bool = False,
        attn_mask: torch.Tensor | None = None,
        logits_at: torch.Tensor | None = None,
        loss_weight: torch.Tensor | None = None,
        loss_chunk: int = 0,
    ) -> ModelOutput:
        """`attn_mask` (bool, (B, 1, T, T_past + T), True = may attend) replaces the causal/cache mask: padded
        batches of an evaluator (with `position_ids`, whose range is then the only length check).
        `logits_at` (B,) computes the logits of one position per row only, shape (B, 1, V): a prompt pass
        needs only its last position, and the vocabulary projection is most of its cost at small scale.
        `loss_chunk` > 0 computes the loss `loss_chunk` tokens at a time through the output projection
        (model_loss.py): the same loss and gradients without the (B, T, V) logits, plus `token_losses`;
        `loss_weight` (B, T) then weights the token losses (default: the mean over non-ignored targets)."""
        B, T = input_ids.shape
        if isinstance(past_key_values, KVCache):
            past_len = past_key_values.length
        else:
            past_len = past_key_values[0][0].shape[2] if past_key_values else 0
        if attn_mask is not None and (position_ids is None or doc_ids is not None):
            raise ValueError("attn_mask needs position_ids (and no doc_ids)")
        if attn_mask is None and past_len + T > self.config.context_length:
            raise ValueError(
                f"sequence of {past_len + T} tokens exceeds context_length {self.config.context_length}"
            )
        mask = None
        if doc_ids is not None:
            if past_len:
                raise ValueError("doc_ids with past_key_values is not supported; pass position_ids instead")
            same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]
            mask = (same_doc & torch.ones(T, T, dtype=torch.bool, device=input_ids.device).tril())[:, None]
            if position_ids is None:
                position_ids = self.positions_from_docs(doc_ids)
        elif attn_mask is not None:
            mask = attn_mask
        elif past_len and T > 1:  # new tokens see the whole cache and each other causally
            mask = torch.arange(T, device=input_ids.device)[:, None] + past_len >= torch.arange(
                past_len + T, device=input_ids.device
            )
        if position_ids is None:
            cos, sin = self.rope_cos[past_len : past_len + T], self.rope_sin[past_len : past_len + T]
        else:
            if int(position_ids.max()) >= self.config.context_length:
                raise ValueError(f"position id {int(position_ids.max())} >= context_length")
            cos, sin = self.rope_cos[position_ids][:, None], self.rope_sin[position_ids][:, None]

        x = self.drop(self.embed(input_ids))
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        if torch.is_autocast_enabled(x.device.type):  # q, k come out of autocast matmuls in its dtype
            dt = torch.get_autocast_dtype(x.device.type)
            cos, sin = cos.to(dt), sin.to(dt)
        presents: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i, block in enumerate(self.blocks):
            if isinstance(past_key_values, KVCache):
                past: CacheSlot | tuple[torch.Tensor, torch.Tensor] | None = CacheSlot(past_key_values, i)
            else:
                past = past_key_values[i] if past_key_values else None
            x, present = block(x, cos, sin, mask, past)
            if use_cache:
                presents.append(present)
        new_past: PastKV = presents
        if isinstance(past_key_values, KVCache):
            past_key_values.length += T
            new_past = past_key_values
        if logits_at is not None:
            x = x[torch.arange(B, device=x.device), logits_at][:, None]
        if targets is not None and loss_chunk > 0:
            loss, token_losses = chunked_cross_entropy(
                self.ln_f(x).flatten(0, 1), self.lm_head.weight, targets.reshape(-1),
                None if loss_weight is None else loss_weight.reshape(-1), loss_chunk,
            )  # fmt: skip
            return ModelOutput(
                logits=x.new_empty(B, T, 0), loss=loss, token_losses=token_losses.view(B, T),
                past_key_values=new_past if use_cache else None,
            )  # fmt: skip
        if loss_weight is not None:
            raise ValueError("loss_weight needs loss_chunk > 0 (the plain path returns the mean loss)")
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            # Cross-entropy in fp32 whatever the compute dtype: bf16 logits lose the small differences.
            loss = F.cross_entropy(
                logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX
            )
        return ModelOutput(logits=logits, loss=loss, past_key_values=new_past if use_cache else None)

    def new_kv_cache(self, batch: int, capacity: int) -> KVCache:
        """An empty `KVCache` for `batch` rows of up to `capacity` positions, on the model's device and dtype."""
        cfg, w = self.config, self.embed.weight
        shape = (batch, cfg.n_head, capacity, cfg.head_dim)
        keys = [torch.empty(shape, dtype=w.dtype, device=w.device) for _ in range(cfg.n_layer)]
        return KVCache(keys, [torch.empty_like(k) for k in keys])

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        eos_id: int | None = None,
        stop_ids: list[int] | tuple[int, ...] | None = None,
    ) -> list[list[int]]:
        """Greedy decoding with the KV cache. Returns the new tokens of each row, without the stop token.

        Prompts of one batch must have the same length (no padding). Decoding stops at `eos_id`, any of
        `stop_ids`, `max_new_tokens`, or the end of the context window, whichever comes first."""
        was_training = self.training
        self.eval()
        try:
            B, T = input_ids.shape
            stops = set(stop_ids or ()) | ({eos_id} if eos_id is not None else set())
            budget = min(max_new_tokens, self.config.context_length - T + 1)
            out: list[list[int]] = [[] for _ in range(B)]
            done = [False] * B
            res = self(input_ids, use_cache=True)
            for step in range(budget):
                nxt = res.logits[:, -1].argmax(dim=-1)
                for b, tok in enumerate(nxt.tolist()):
                    if not done[b]:
                        if tok in stops:
                            done[b] = True
                        else:
                            out[b].append(tok)
                if all(done) or step == budget - 1:
                    break
                res = self(nxt[:, None], past_key_values=res.past_key_values, use_cache=True)
            return out
        finally:
            self.train(was_training)
