"""WeLM ↔ transformers GPT-NeoX: the configuration and the weights, both ways.

Why GPT-NeoX (checked against transformers 5.23, models/gpt_neox/modeling_gpt_neox.py): it is the one
architecture in transformers with all of WeLM's choices as options — pre-norm LayerNorm, rotary
"rotate half" on the full head (`partial_rotary_factor: 1.0`), sequential residuals
(`use_parallel_residual: false`: x + Attn(LN1 x), then + MLP(LN2 ·)), a plain 4·d GELU MLP
(`hidden_act: gelu_pytorch_tanh` is `F.gelu(approximate="tanh")`, ours), a fused qkv projection, no
positional parameters, optional attention biases (`attention_bias`), tied or untied output embeddings
(`tie_word_embeddings`), scaling 1/sqrt(head_dim). GPT-2 has learned positions, GPT-J interleaved rotary
and parallel residuals, Llama RMSNorm and SwiGLU, Phi/StableLM parallel or gated blocks.

Two layout differences, both exact:
- qkv rows: ours are [q heads…, k heads…, v heads…] (view(B, T, 3, H, hd)); GPT-NeoX's are per head
  [q, k, v] (view(B, T, H, 3·hd)). A row permutation, no arithmetic.
- GPT-NeoX's LayerNorms and MLP always have biases: with `bias: false` they are exported as zeros,
  which compute exactly what no bias computes (x + 0.0 == x in floating point).

Weights are named as in the original GPT-NeoX checkpoints (`embed_out.weight` for an untied head), the
names transformers 4 and vLLM read and transformers 5 renames on load.
"""

from __future__ import annotations

import torch

from weprompt.pretrain.hf import InteropError
from weprompt.pretrain.model import ModelConfig

ARCHITECTURE = "GPTNeoXForCausalLM"
MODEL_TYPE = "gpt_neox"
HIDDEN_ACT = "gelu_pytorch_tanh"
PREFIX = "gpt_neox."


def hf_config(cfg: ModelConfig, bos_id: int, eos_id: int, pad_id: int) -> dict:
    """config.json for `cfg` (GPTNeoXConfig fields; legacy rope keys kept for transformers 4)."""
    return {
        "architectures": [ARCHITECTURE],
        "model_type": MODEL_TYPE,
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "intermediate_size": cfg.d_ff,
        "hidden_act": HIDDEN_ACT,
        "attention_dropout": cfg.dropout,
        "hidden_dropout": cfg.dropout,
        "max_position_embeddings": cfg.context_length,
        "initializer_range": cfg.init_std,
        "layer_norm_eps": cfg.norm_eps,
        "use_cache": True,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "tie_word_embeddings": cfg.tie_embeddings,
        "use_parallel_residual": False,
        "attention_bias": cfg.bias,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": cfg.rope_theta,
            "partial_rotary_factor": 1.0,
        },
        "rotary_pct": 1.0,
        "rotary_emb_base": cfg.rope_theta,
        "dtype": "float32",
    }


def _get(c: dict, key: str, where: str):
    if key not in c:
        raise InteropError(f"{where}: field '{key}' is missing")
    return c[key]


def _rope(c: dict, where: str) -> tuple[float, float]:
    rope = c.get("rope_parameters") or c.get("rope_scaling") or {}
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind != "default":
        raise InteropError(
            f"{where}: rope_parameters.rope_type '{kind}' is not supported (WeLM has plain RoPE)"
        )
    theta = rope.get("rope_theta", c.get("rotary_emb_base", 10000.0))
    pct = rope.get("partial_rotary_factor", c.get("rotary_pct", 0.25))  # GPT-NeoX's default is 0.25
    return float(theta), float(pct)


def model_config_from_hf(c: dict, where: str = "config.json") -> tuple[ModelConfig, bool]:
    """(ModelConfig, attention_bias) from a GPT-NeoX config.json; refuses what WeLM cannot compute.

    `bias` of the result is only the attention bias; `import_` widens it when other biases are non-zero."""
    if c.get("model_type") != MODEL_TYPE:
        raise InteropError(
            f"{where}: model_type '{c.get('model_type')}' is not '{MODEL_TYPE}'; only GPT-NeoX directories "
            "in WeLM's configuration can be imported"
        )
    problems = []
    if c.get("use_parallel_residual", True):
        problems.append("use_parallel_residual must be false (WeLM's residuals are sequential)")
    act = c.get("hidden_act", "gelu")
    if act != HIDDEN_ACT:
        problems.append(f"hidden_act '{act}' must be '{HIDDEN_ACT}'")
    theta, pct = _rope(c, where)
    if pct != 1.0:
        problems.append(f"partial_rotary_factor {pct} must be 1.0 (rotary on the whole head)")
    if c.get("attention_dropout", 0.0) != c.get("hidden_dropout", 0.0):
        problems.append("attention_dropout and hidden_dropout differ (WeLM has one dropout)")
    d, heads = _get(c, "hidden_size", where), _get(c, "num_attention_heads", where)
    inter = _get(c, "intermediate_size", where)
    if inter % d:
        problems.append(f"intermediate_size {inter} is not a multiple of hidden_size {d}")
    if c.get("head_dim") not in (None, d // heads):
        problems.append(f"head_dim {c.get('head_dim')} is not hidden_size / num_attention_heads")
    if problems:
        raise InteropError(f"{where}: not WeLM's architecture: " + "; ".join(problems))
    try:
        cfg = ModelConfig(
            vocab_size=_get(c, "vocab_size", where),
            n_layer=_get(c, "num_hidden_layers", where),
            n_head=heads,
            d_model=d,
            context_length=_get(c, "max_position_embeddings", where),
            ffn_mult=inter // d,
            dropout=float(c.get("hidden_dropout", 0.0)),
            tie_embeddings=bool(c.get("tie_word_embeddings", False)),
            bias=bool(c.get("attention_bias", True)),
            rope_theta=theta,
            norm_eps=float(c.get("layer_norm_eps", 1e-5)),
            init_std=float(c.get("initializer_range", 0.02)),
        )
    except Exception as e:  # ConfigError or a type error from a malformed field
        raise InteropError(f"{where}: {e}") from e
    return cfg, cfg.bias


def _qkv_to_neox(w: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    rest = w.shape[1:]
    return w.reshape(3, cfg.n_head, cfg.head_dim, *rest).transpose(0, 1).reshape(3 * cfg.d_model, *rest)


def _qkv_from_neox(w: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    rest = w.shape[1:]
    return w.reshape(cfg.n_head, 3, cfg.head_dim, *rest).transpose(0, 1).reshape(3 * cfg.d_model, *rest)


def _layer_names(i: int) -> list[tuple[str, str, bool]]:
    """(our name, GPT-NeoX name, always has a bias in GPT-NeoX) per module of block i."""
    n = f"{PREFIX}layers.{i}."
    return [
        (f"blocks.{i}.ln1", n + "input_layernorm", True),
        (f"blocks.{i}.attn.qkv", n + "attention.query_key_value", False),
        (f"blocks.{i}.attn.proj", n + "attention.dense", False),
        (f"blocks.{i}.ln2", n + "post_attention_layernorm", True),
        (f"blocks.{i}.ffn.fc", n + "mlp.dense_h_to_4h", True),
        (f"blocks.{i}.ffn.proj", n + "mlp.dense_4h_to_h", True),
    ]


def _modules(cfg: ModelConfig) -> list[tuple[str, str, bool]]:
    out = [m for i in range(cfg.n_layer) for m in _layer_names(i)]
    return out + [("ln_f", PREFIX + "final_layer_norm", True)]


def to_hf_state(state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Our state dict → GPT-NeoX tensors (fp32, contiguous, unshared), ready for safetensors."""
    out = {PREFIX + "embed_in.weight": state["embed.weight"]}
    if not cfg.tie_embeddings:
        out["embed_out.weight"] = state["lm_head.weight"]
    for ours, theirs, always_bias in _modules(cfg):
        w = state[f"{ours}.weight"]
        is_qkv = ours.endswith("attn.qkv")
        out[f"{theirs}.weight"] = _qkv_to_neox(w, cfg) if is_qkv else w
        if cfg.bias:
            b = state[f"{ours}.bias"]
            out[f"{theirs}.bias"] = _qkv_to_neox(b, cfg) if is_qkv else b
        elif always_bias:
            out[f"{theirs}.bias"] = torch.zeros(w.shape[0], dtype=w.dtype)
    return {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in out.items()}


def has_nonzero_bias(hf: dict[str, torch.Tensor]) -> bool:
    return any(k.endswith(".bias") and bool(t.any()) for k, t in hf.items())


def from_hf_state(hf: dict[str, torch.Tensor], cfg: ModelConfig, where: str) -> dict[str, torch.Tensor]:
    """GPT-NeoX tensors → our state dict for `cfg` (with `cfg.bias` already decided by the caller)."""

    def take(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        if name not in hf:
            raise InteropError(f"{where}: tensor '{name}' is missing")
        t = hf[name]
        if tuple(t.shape) != shape:
            raise InteropError(f"{where}: tensor '{name}' has shape {tuple(t.shape)}, expected {shape}")
        return t.to(torch.float32)

    d, v = cfg.d_model, cfg.vocab_size
    shapes = {"qkv": (3 * d, d), "proj": (d, d), "ln1": (d,), "ln2": (d,), "fc": (cfg.d_ff, d)}
    shapes.update({"ffn.proj": (d, cfg.d_ff), "ln_f": (d,)})
    state = {"embed.weight": take(PREFIX + "embed_in.weight", (v, d))}
    for ours, theirs, _ in _modules(cfg):
        key = "ffn.proj" if ours.endswith("ffn.proj") else ours.rsplit(".", 1)[-1]
        wshape = shapes[key]
        w = take(f"{theirs}.weight", wshape)
        is_qkv = key == "qkv"
        state[f"{ours}.weight"] = _qkv_from_neox(w, cfg) if is_qkv else w
        if cfg.bias:
            name = f"{theirs}.bias"
            b = take(name, wshape[:1]) if name in hf else torch.zeros(wshape[0])  # attention_bias: false
            state[f"{ours}.bias"] = _qkv_from_neox(b, cfg) if is_qkv else b
    if cfg.tie_embeddings:
        state["lm_head.weight"] = state["embed.weight"]
    else:
        name = "embed_out.weight" if "embed_out.weight" in hf else "lm_head.weight"
        state["lm_head.weight"] = take(name, (v, d))
    known = {f"{t}.{s}" for _, t, _ in _modules(cfg) for s in ("weight", "bias")}
    known |= {PREFIX + "embed_in.weight", "embed_out.weight", "lm_head.weight"}
    extra = sorted(set(hf) - known)
    if extra:
        raise InteropError(f"{where}: tensors WeLM has no place for: {extra[:5]}")
    return state
