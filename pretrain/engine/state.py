"""What a checkpoint holds besides weights and optimizer: trainer state and per-rank RNG + data state.

Bit-exact resume needs every source of randomness and every counter: torch / CUDA / numpy / python RNG
states (dropout, sampling), the batch source's position, the loss scaler, the spike detector's window (a
different window could flag a different step), the learning-rate factor left by earlier spike recoveries.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from weprompt.pretrain.checkpoint import STATE_FILE, CheckpointError, rank_file, read_json, read_torch_file

STATE_VERSION = 1


@dataclass
class TrainerState:
    step: int = 0
    tokens_seen: int = 0
    lr_scale: float = 1.0  # product of spike-recovery lr_factors so far
    train_seconds: float = 0.0
    loss_scaler: dict | None = None
    detector: dict = field(default_factory=dict)
    spike_events: list[dict] = field(default_factory=list)
    backend: str = "torch"
    precision: str = "fp32"
    world_size: int = 1
    tokenizer_fingerprint: str | None = None
    data_state_rank0: dict = field(default_factory=dict)  # informational copy; the real one is per rank
    version: int = STATE_VERSION

    def write(self, step_dir: Path) -> None:
        (step_dir / STATE_FILE).write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, step_dir: Path) -> TrainerState:
        data = read_json(step_dir / STATE_FILE)
        if data.get("version") != STATE_VERSION:
            raise CheckpointError(
                f"{step_dir / STATE_FILE}: state version {data.get('version')} != {STATE_VERSION}"
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    np_state = np.random.get_state()
    if not isinstance(np_state, tuple):  # the legacy tuple: numpy's global generator is always MT19937
        raise RuntimeError(f"numpy's global random state is not the legacy MT19937 tuple: {type(np_state)}")
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        # numpy's state holds an ndarray; stored as a tensor so the file loads with weights_only=True
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(_tupleize(state["python"]))


def _tupleize(x):
    return tuple(_tupleize(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_rank_state(tmp_dir: Path, rank: int, data_state: dict) -> None:
    torch.save({"rng": rng_state(), "data": data_state}, tmp_dir / rank_file(rank))


def load_rank_state(step_dir: Path, rank: int) -> dict:
    path = step_dir / rank_file(rank)
    if not path.is_file():
        raise CheckpointError(
            f"{step_dir} has no state for rank {rank} ({path.name}); was it written with fewer ranks?"
        )
    return read_torch_file(path)
