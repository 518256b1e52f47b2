"""The full-split evaluation's wall time, measured on a sample and projected.

    python bench/bench_eval_full_split.py --model runs/quickstart/base --limit 10 [--shots 0,paper]

Runs `weprompt eval`'s own `evaluate` on the first `--limit` examples of every evaluation task present
(every original-task prompt, each shot setting, a fresh cache), and prints per task and shot setting the
measured examples/s (example × prompt predictions per second) and the projected wall time of the full
evaluation split (`split_size × prompts / rate`), then the total. The full run itself is

    weprompt eval --config configs/eval/full.yaml --model <checkpoint> [--shard i/n]
"""

from __future__ import annotations

import argparse
import json
import tempfile

from weprompt.eval.runner import evaluate
from weprompt.eval.runtime import set_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--shots", default="0,paper")
    ap.add_argument("--tasks", default=None, help="comma-separated (default: every evaluation task)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", default="auto")
    args = ap.parse_args()
    threads = set_threads(args.threads if args.threads == "auto" else int(args.threads))
    shots = [s if s == "paper" else int(s) for s in args.shots.split(",")]
    tasks = args.tasks.split(",") if args.tasks else None
    with tempfile.TemporaryDirectory() as cache:
        res = evaluate(args.model, tasks, shots, limit=args.limit, batch_size=args.batch_size,
                       cache_dir=cache, progress=False)  # fmt: skip
    print(f"model {res['model']['name']} ({res['model']['parameters']:,} parameters), {threads} thread(s), "
          f"sample: first {args.limit} examples")  # fmt: skip
    print("| task | split size | prompts | shots | sample s | examples/s | projected full split |")
    print("|---|---|---|---|---|---|---|")
    total, rows = 0.0, []
    for name, t in res["tasks"].items():
        for key, s in t["shots"].items():
            secs = sum(p["seconds"] for p in s["prompts"])
            done = t["n_examples"] * len(s["prompts"])
            rate = done / secs if secs else float("inf")
            full = t["split_size"] * len(s["prompts"]) / rate
            total += full
            rows.append({"task": name, "split_size": t["split_size"], "prompts": len(s["prompts"]), "shots": key,
                         "sample_s": secs, "examples_per_s": rate, "projected_s": full})  # fmt: skip
            print(f"| {name} | {t['split_size']} | {len(s['prompts'])} | {key} | {secs:.1f} | {rate:.1f} "
                  f"| {full / 3600:.2f} h |")  # fmt: skip
    print(f"\ntotal projected: {total / 3600:.1f} h on {threads} thread(s); skipped: {res['skipped']}")
    print(json.dumps({"projected_hours": total / 3600, "threads": threads, "rows": rows}))


if __name__ == "__main__":
    main()
