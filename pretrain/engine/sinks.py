"""Standard logging beside the JSONL log: TensorBoard event files and an optional Weights & Biases run.

Every JSONL record becomes scalars named `<kind>/<key>` (a mapping one level down: `<kind>/<key>/<name>`,
e.g. `train/loss_by_category/nli`; a "heldout" record: `heldout/<source>/<metric>`) at its step, so
`tensorboard --logdir runs/` shows the same curves as the log. TensorBoard (`train.logging.tensorboard`, on
by default) needs the `tensorboard` package (the `train` extra). W&B (`train.logging.wandb.enabled`, off by
default) needs `wandb`, which nothing else requires: asking for it without it installed is an error that
says so. After a resume, TensorBoard drops the events of steps beyond the checkpoint (`purge_step`), as the
JSONL log drops its lines.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from weprompt.common.errors import UserError

TB_DIR = "tensorboard"


@dataclass
class WandbConfig:
    enabled: bool = False
    project: str = "weprompt"
    entity: str | None = None
    name: str | None = None  # default: the run dir's name
    mode: Literal["online", "offline"] = "online"


class Sink(Protocol):
    def write(self, record: dict) -> None: ...
    def close(self) -> None: ...


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def scalars(record: dict) -> dict[str, float]:
    """The record's numbers as `tag -> value` (see the module doc); non-numeric values are left out."""
    kind = str(record.get("kind", "log"))
    if kind == "heldout":
        prefix = f"heldout/{record.get('source', 'hook')}"
        return {f"{prefix}/{k}": float(v) for k, v in (record.get("metrics") or {}).items() if _number(v)}
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in ("kind", "step"):
            continue
        if _number(value):
            out[f"{kind}/{key}"] = float(value)
        elif isinstance(value, dict):
            out.update({f"{kind}/{key}/{k}": float(v) for k, v in value.items() if _number(v)})
    return out


class TensorBoardSink:
    def __init__(self, run_dir: Path, purge_step: int | None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise UserError(
                "train.logging.tensorboard is on but the tensorboard package is missing: install the `train` "
                "extra (pip install 'weprompt[train]') or set train.logging.tensorboard=false"
            ) from e
        self.writer = SummaryWriter(str(Path(run_dir) / TB_DIR), purge_step=purge_step, flush_secs=10)

    def write(self, record: dict) -> None:
        step = record.get("step")
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, global_step=step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class WandbSink:
    def __init__(self, cfg: WandbConfig, run_dir: Path, config: dict, resume_step: int):
        try:
            self.wandb = importlib.import_module("wandb")  # optional: never a requirement of ours
        except ImportError as e:
            raise UserError(
                "train.logging.wandb.enabled is true but wandb is not installed (pip install wandb), "
                "or set it to false; W&B is optional"
            ) from e
        self.run = self.wandb.init(
            project=cfg.project, entity=cfg.entity, name=cfg.name or Path(run_dir).name, dir=str(run_dir),
            config=config, mode=cfg.mode, resume="allow" if resume_step else None,
        )  # fmt: skip

    def write(self, record: dict) -> None:
        values = scalars(record)
        if values:
            self.run.log(values, step=record.get("step"))

    def close(self) -> None:
        self.run.finish()
