"""`weprompt eval --config configs/eval/<name>.yaml`: every evaluation setting in one typed dataclass.

Loaded by the one config system (`pretrain.config`: unknown keys and wrong types are errors naming the
key); command-line flags given explicitly override the file's values (`merge_flags`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from weprompt.common.config import ConfigError, from_dict, read_yaml_mapping

DTYPES = ("float32", "bfloat16", "float16")
NEGATIVES = ("paper", "all")


@dataclass
class EvalConfig:
    model: str | None = None  # checkpoint dir, or hf:<dir or hub id>
    tokenizer: str | None = None  # native checkpoints only (default: the one stored with it)
    tasks: list[str] | Literal["all"] = "all"  # "all": the catalog's evaluation tasks
    shots: list[int | str] = field(default_factory=lambda: [0])  # numbers and/or "paper" (catalog's)
    limit: int | None = None  # first N examples per task (null: the full evaluation split)
    seed: int = 0
    calibrate: bool = True  # also the content-free (calibrated) scores
    prefix_eos: bool = True  # prompts follow an EOS, as in training; false for lm-eval-harness parity
    # TNEWS / IFLYTEK: "paper" = the gold plus the catalog's number of seeded negatives (3);
    # "all" = every label, as lm-evaluation-harness scores them. Recorded in the results.
    negatives: Literal["paper", "all"] = "paper"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    # Which bank prompts: reviewed-and-approved (default), also those submitted for review, or all.
    prompts: Literal["approved", "with_submitted", "all"] = "approved"
    batch_size: int | Literal["auto"] = 8  # examples per model batch; scores do not depend on it
    threads: int | Literal["auto"] = "auto"  # torch CPU threads; auto: free cores (eval.runtime)
    scope_probe: int = 0
    max_new_tokens: int | None = None
    shard: str | None = None  # "i/n": this run predicts shard i of n of the task × prompt × example grid
    cache_dir: str = "runs/eval_cache"
    out: str | None = None
    bank_dir: str | None = None
    data_dir: str | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        for name in ("limit", "max_new_tokens"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"eval.{name} must be at least 1 (or null), got {v}")
        if self.scope_probe < 0:
            raise ConfigError(f"eval.scope_probe must be 0 (off) or more, got {self.scope_probe}")
        for name in ("batch_size", "threads"):
            v = getattr(self, name)
            if v != "auto" and v < 1:
                raise ConfigError(f"eval.{name} must be at least 1 or 'auto', got {v}")
        if self.shard is not None:
            parse_shard(self.shard)
        for s in self.shots:
            if isinstance(s, str) and s != "paper":
                raise ConfigError(f"eval.shots: expected numbers or 'paper', got {s!r}")


def parse_shard(spec: str) -> tuple[int, int]:
    """ "i/n" → (i, n), 0 <= i < n."""
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise ConfigError(f"eval.shard: expected i/n (e.g. 0/4), got {spec!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ConfigError(f"eval.shard: {spec!r} needs 0 <= i < n")
    return i, n


def load_eval_config(path: str | os.PathLike | None, flags: dict) -> EvalConfig:
    """The YAML at `path` (or the defaults), then every flag that was given (not None) on top."""
    data = read_yaml_mapping(path)
    data.update({k: v for k, v in flags.items() if v is not None})
    return from_dict(EvalConfig, data, str(path) if path is not None else "eval flags")
