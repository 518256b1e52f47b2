"""Where a run resumes from (or takes its initial weights from), and the checks that a checkpoint fits the
run before anything is written: verified files, weights that fit their config, the same model shape,
backend, tokenizer and number of ranks."""

from __future__ import annotations

from pathlib import Path

from weprompt.common.errors import UserError
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.engine.config import TrainerConfig
from weprompt.pretrain.engine.state import TrainerState
from weprompt.pretrain.model import ModelConfig

# A resume may not change these (dropout may change).
SHAPE_FIELDS = (
    "vocab_size",
    "n_layer",
    "n_head",
    "d_model",
    "context_length",
    "ffn_mult",
    "tie_embeddings",
    "bias",
)


def check_same_shape(old: ModelConfig, new: ModelConfig, where: Path) -> None:
    diff = [
        f"{f} {getattr(old, f)} -> {getattr(new, f)}"
        for f in SHAPE_FIELDS
        if getattr(old, f) != getattr(new, f)
    ]
    if diff:
        raise ckpt.CheckpointError(
            f"the model in {where} has a different shape ({'; '.join(diff)}); resuming would not fit. "
            "Use another run_dir (init_from can start it from weights of the same shape)"
        )


def find_resume(
    cfg: TrainerConfig, model_config: ModelConfig, world_size: int, tokenizer_fingerprint: str | None
) -> Path | None:
    """The checkpoint this run resumes from (None: a fresh start), checked to fit before anything is written."""
    mode = cfg.checkpoint.resume
    ckpt_dir = Path(cfg.checkpoint_dir)
    existing = ckpt.list_checkpoints(ckpt_dir)
    if mode == "never":
        if existing:
            raise UserError(
                f"{ckpt_dir} already holds checkpoints (newest: step {existing[-1][0]}); set "
                "checkpoint.resume=auto to continue that run, or choose another run_dir"
            )
        return None
    if mode == "auto":
        target = ckpt.latest_checkpoint(ckpt_dir) or (existing[-1][1] if existing else None)
    else:
        target = ckpt.resolve(mode)
    if target is None:
        return None
    ckpt.verify(target, hashes=cfg.checkpoint.verify)
    stored = ckpt.read_model_config(target)
    ckpt.check_weights(target, stored)
    check_same_shape(stored, model_config, target)
    state = TrainerState.read(target)
    if state.backend != ("deepspeed" if cfg.deepspeed.enabled else "torch"):
        raise ckpt.CheckpointError(
            f"{target} was written by the {state.backend} backend; resume it with deepspeed.enabled="
            f"{str(state.backend == 'deepspeed').lower()} (or start a new run with init_from)"
        )
    mine = tokenizer_fingerprint
    if state.tokenizer_fingerprint and mine and state.tokenizer_fingerprint != mine:
        raise ckpt.CheckpointError(
            f"{target} was trained with tokenizer {state.tokenizer_fingerprint[:12]}, this run uses "
            f"{mine[:12]}; token ids would mean different things. Use another run_dir"
        )
    if state.world_size != world_size:
        raise ckpt.CheckpointError(
            f"{target} was written by {state.world_size} rank(s), this run has {world_size}; "
            "an exact resume needs the same number (or start a new run with init_from)"
        )
    return target


def check_init_from(cfg: TrainerConfig, model_config: ModelConfig | None) -> Path:
    """The checkpoint `init_from` names, verified, its weights checked to fit its own config and (unless
    `model_config` is None: a model that is not a WeLM) that config to have this run's shape."""
    if cfg.init_from is None:
        raise UserError("check_init_from: the config has no init_from")
    step_dir = ckpt.open_checkpoint(cfg.init_from, hashes=cfg.checkpoint.verify)
    stored = ckpt.read_model_config(step_dir)
    ckpt.check_weights(step_dir, stored)
    if model_config is not None:
        check_same_shape(stored, model_config, step_dir)
    return step_dir
