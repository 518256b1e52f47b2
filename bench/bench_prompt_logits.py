"""Prompt pass with vocabulary logits at every position vs at the last position only (`logits_at`).

    python bench/bench_prompt_logits.py [--threads 1]

Random-init models (the time depends on shapes only): `cpu_base` on a 120-token prompt and `cpu_small`
(context 512) on a 500-token prompt; min over repeats, both variants in the same process, alternating.
"""

from __future__ import annotations

import argparse
import time

import torch

from weprompt.pretrain.model import WeLM, preset


def _best_ms(model, ids, repeats: int, **kw) -> float:
    best = float("inf")
    with torch.no_grad():
        model(ids, use_cache=True, **kw)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(ids, use_cache=True, **kw)
            best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("| model | prompt tokens | all positions ms | last position ms | cut |")
    print("|---|---|---|---|---|")
    for name, ctx, n in (("cpu_base", 256, 120), ("cpu_small", 512, 500)):
        torch.manual_seed(0)
        model = WeLM(preset(name, vocab_size=8000, context_length=ctx)).eval()
        ids = torch.randint(0, 8000, (1, n))
        full = last = float("inf")
        for _ in range(3):
            full = min(full, _best_ms(model, ids, args.repeats))
            last = min(last, _best_ms(model, ids, args.repeats, logits_at=torch.tensor([n - 1])))
        print(f"| {name} | {n} | {full:.1f} | {last:.1f} | {100 * (1 - last / full):.0f} % |", flush=True)


if __name__ == "__main__":
    main()
