"""Time to the first fine-tuning step: `weprompt finetune --steps 1` from launch until the training loop
starts (the trainer's `train:` progress bar appears), for this source tree and optionally a peer tree
(e.g. an older commit unpacked with `git archive <rev> | tar -x -C /tmp/before`), alternating runs so
host load hits both alike. Each run writes its own run dir; the runs' outputs must be byte-identical
between the trees (leakage report, split, mixture, the loss at step 1 and the end-of-run validation,
held-out loss and accuracy), which the script checks and prints.

    python bench/bench_finetune_startup.py --config /tmp/cpu.yaml --before /tmp/before --rounds 2

The config's base and shards should be absolute paths: each run starts in its own tree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from weprompt.common import paths

TIMING_KEYS = {"tokens_per_s", "mfu", "elapsed_s", "seconds"}
ROOT = Path(__file__).resolve().parents[1]
# Each run starts in its own tree (`python -m` puts the working directory first on sys.path, so the
# tree must be the working directory, not only PYTHONPATH); the data dir is fixed for both.
DATA_DIR = str(paths.data_dir()[0])
COMPARED_FILES = ("leakage.json", "split.json", "prompts.json", "mixture.json")


def run_once(tree: Path, config: str, run_dir: Path) -> dict:
    """One `weprompt finetune --steps 1` in `tree`: seconds to the training loop and in all."""
    cmd = [sys.executable, "-m", "weprompt.cli.main", "finetune", "--config", config, "--steps", "1",
           "--run-dir", str(run_dir), "--set", "train.logging.plot=false"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree), paths.DATA_ENV: DATA_DIR}
    start = time.perf_counter()
    first_loop = None
    lines: list[str] = []
    proc = subprocess.Popen(
        cmd, cwd=tree, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert proc.stderr is not None
    buf = ""
    while chunk := proc.stderr.read(1):
        buf += chunk
        if chunk in "\r\n":
            if first_loop is None and buf.lstrip().startswith("train:"):
                first_loop = time.perf_counter() - start
            lines.append(buf.rstrip())
            buf = ""
    if proc.wait() != 0:
        raise SystemExit(f"{tree}: finetune failed:\n" + "\n".join(lines[-20:]))
    return {"to_loop_s": round(first_loop or float("nan"), 2), "total_s": round(time.perf_counter() - start, 2),
            "startup_log": [ln for ln in lines if "start-up" in ln or "leakage:" in ln]}  # fmt: skip


def outputs(run_dir: Path) -> dict:
    """What must not change: the compared files' bytes (prompts.json without the bank's place), the log's
    numbers without timings."""
    out = {name: (run_dir / name).read_text(encoding="utf-8") for name in COMPARED_FILES}
    prompts = json.loads(out["prompts.json"])  # where the bank is and its git revision differ by tree
    out["prompts.json"] = {k: v for k, v in prompts.items() if k not in ("bank_dir", "bank_revision")}
    records = [json.loads(ln) for ln in (run_dir / "train_log.jsonl").read_text().splitlines()]
    out["train_log"] = [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--before", help="a peer source tree to compare with (same config, same data)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    trees = {"after": ROOT}
    if args.before:
        trees = {"before": Path(args.before).resolve(), **trees}
    times: dict[str, list[dict]] = {k: [] for k in trees}
    seen: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench_ft_start_") as tmp:
        for r in range(args.rounds):
            for name in list(trees)[:: 1 if r % 2 == 0 else -1]:
                run_dir = Path(tmp) / f"{name}_{r}"
                times[name].append(run_once(trees[name], args.config, run_dir))
                seen.setdefault(name, outputs(run_dir))
                print(name, r, {k: v for k, v in times[name][-1].items() if k != "startup_log"}, flush=True)
    for name, runs in times.items():
        print(
            f"{name}: to the training loop {[t['to_loop_s'] for t in runs]} s; in all {[t['total_s'] for t in runs]} s"
        )
    print("start-up log of the last 'after' run:\n  " + "\n  ".join(times["after"][-1]["startup_log"]))
    if args.before:
        same = {k: seen["before"][k] == seen["after"][k] for k in seen["after"]}
        print("identical outputs before/after:", same)
        if not all(same.values()):
            raise SystemExit("outputs differ between the trees")
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    main()
