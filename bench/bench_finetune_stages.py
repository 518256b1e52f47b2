"""The data stages of a fine-tuning start-up, timed one by one in-process, in whichever source tree
PYTHONPATH names (compare an older commit unpacked with `git archive <rev> | tar -x -C /tmp/before`):
bank + split, leakage report, training pools, validation batches. Needs no model beyond the base's
tokenizer. Run it from outside the trees (the script's folder goes first on sys.path, not the cwd):

    for t in /tmp/before $PWD; do PYTHONPATH=$t python $PWD/bench/bench_finetune_stages.py /tmp/cpu.yaml /tmp/st; done
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

T0 = time.perf_counter()

from weprompt import finetune as ft  # noqa: E402 - imports are part of what is timed
from weprompt.common.config import load_config  # noqa: E402
from weprompt.pretrain import checkpoint as ckpt  # noqa: E402


def main() -> None:
    config, run_dir = sys.argv[1], sys.argv[2]
    cfg = load_config(ft.FinetuneConfig, config, [f"train.run_dir={run_dir}"])
    base = ckpt.open_checkpoint(cfg.base)
    model_cfg = ckpt.read_model_config(base)
    tok, _ = ft._base_tokenizer(cfg, base, model_cfg)
    times = {"imports + tokenizer": time.perf_counter() - T0}
    last = time.perf_counter()

    def mark(key: str) -> None:
        nonlocal last
        now = time.perf_counter()
        times[key], last = now - last, now

    catalog, bank, split = ft._write_split(cfg, Path(run_dir))
    mark("bank + split")
    ft._check_leakage(cfg, catalog, split, Path(run_dir))
    mark("leakage report")
    ft._pools(cfg, split, bank, lambda n: "train")
    mark("training pools")
    ft._validation_batches(cfg, catalog, bank, split, tok, model_cfg.context_length + 1)
    mark("validation batches")
    times["total"] = sum(times.values())
    print(ft.__file__, json.dumps({k: round(v, 1) for k, v in times.items()}), "load", os.getloadavg()[0])


if __name__ == "__main__":
    main()
