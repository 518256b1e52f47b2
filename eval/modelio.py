"""The model under evaluation: a checkpoint (via `pretrain.checkpoint.load_model`) or objects in memory.

`model_hash` identifies the weights and config (sha256 over the config and every tensor of the state
dict, in name order), so the prediction cache is keyed by what the model computes, not by where its
file lies. The tokenizer must be the one the model was trained with: its fingerprint is checked
against the checkpoint's `trainer_state.json` (and the copy stored with the checkpoint), and its
vocabulary must fit the model's embedding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from weprompt.common.errors import UserError

if TYPE_CHECKING:
    from weprompt.pretrain.model import ModelConfig, WeLM
    from weprompt.pretrain.tokenizer import Tokenizer


class ModelMismatchError(UserError):
    pass


MODEL_HINT = (
    "pass a step dir, a checkpoints dir or the run dir of a finished run; make one with "
    "`weprompt pretrain --config configs/pretrain/cpu.yaml` (writes runs/base) or `weprompt finetune` "
    "(writes runs/finetune)"
)


@dataclass
class LoadedModel:
    model: WeLM
    tokenizer: Tokenizer
    name: str
    model_hash: str
    path: str | None = None

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def tokenizer_fingerprint(self) -> str:
        return self.tokenizer.fingerprint()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "path": self.path,
            "hash": self.model_hash,
            "tokenizer_fingerprint": self.tokenizer_fingerprint,
            "config": dataclasses.asdict(self.config),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }


def weights_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if cfg is not None and dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        h.update(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def check_tokenizer(model: WeLM, tokenizer: Tokenizer, expected_fingerprint: str | None, where: str) -> None:
    vocab = model.config.vocab_size
    if tokenizer.vocab_size > vocab:
        raise ModelMismatchError(
            f"{where}: the tokenizer has {tokenizer.vocab_size} pieces but the model's vocabulary is {vocab}; "
            "this is not the model's tokenizer"
        )
    if expected_fingerprint and tokenizer.fingerprint() != expected_fingerprint:
        raise ModelMismatchError(
            f"{where}: tokenizer fingerprint {tokenizer.fingerprint()[:12]} differs from the one the model was "
            f"trained with ({expected_fingerprint[:12]}); pass the model's own tokenizer"
        )


def wrap(model: WeLM, tokenizer: Tokenizer, name: str = "model", path: str | None = None) -> LoadedModel:
    """Objects in memory (tests, a training loop): put in eval mode, hash, check the vocabulary fits."""
    model.eval()
    check_tokenizer(model, tokenizer, None, name)
    return LoadedModel(model, tokenizer, name, weights_hash(model), path)


def eval_device() -> torch.device:
    """Where a loaded checkpoint is evaluated: the current CUDA device when there is one, else the CPU.
    (The hash and the prediction cache do not depend on it: `weights_hash` reads the tensors on the CPU.)"""
    return (
        torch.device("cuda", torch.cuda.current_device())
        if torch.cuda.is_available()
        else torch.device("cpu")
    )


def load(
    path: str | os.PathLike, tokenizer_dir: str | os.PathLike | None = None, dtype: str = "float32"
) -> LoadedModel:
    """A checkpoint (step, checkpoints or run directory) with its tokenizer, checked to match; or, for
    `hf:<dir or hub id>`, any transformers causal LM with its own tokenizer (`eval.hfmodel`)."""
    if str(path).startswith("hf:"):
        from weprompt.eval import hfmodel

        if tokenizer_dir:
            raise ModelMismatchError("--tokenizer does not apply to hf: models (their own tokenizer is used)")
        return hfmodel.load(str(path), dtype)
    from weprompt.pretrain.checkpoint import STATE_FILE, load_model, read_json, resolve
    from weprompt.pretrain.tokenizer import Tokenizer

    step_dir = resolve(path, MODEL_HINT)
    model, _cfg, stored_tok = load_model(step_dir)  # verified against its manifest first
    expected = None
    state_file = step_dir / STATE_FILE
    if state_file.is_file():
        expected = read_json(state_file).get("tokenizer_fingerprint")
    tok_dir = Path(tokenizer_dir) if tokenizer_dir else stored_tok
    if tok_dir is None:
        raise ModelMismatchError(
            f"{step_dir}: no tokenizer is stored with this checkpoint; pass --tokenizer <dir>"
        )
    tok = Tokenizer.load(tok_dir)
    if expected is None and stored_tok is not None and tokenizer_dir:
        expected = Tokenizer.load(stored_tok).fingerprint()
    check_tokenizer(model, tok, expected, str(step_dir))
    if dtype != "float32":
        model.to(getattr(torch, dtype))
    digest = weights_hash(model)  # before the move: hashing reads every tensor on the CPU
    model.to(eval_device())
    name = f"{Path(path).resolve().name}@{step_dir.name}"
    return LoadedModel(model, tok, name, digest, str(step_dir))
