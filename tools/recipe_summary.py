"""What a recipe run measured, as markdown: tokens/s and MFU of the base and of every fine-tuning unit (from
their `summary.json`), and the experiment's cells (from `report/cells.json`).

    python tools/recipe_summary.py --base runs/gpu_h100/base --experiment runs/experiments/gpu_h100

experiments/gpu_h100.sh prints this at the end of a run; the numbers are the run's own, nothing is estimated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def throughput_rows(base: Path, experiment: Path) -> list[str]:
    runs = [("base", base / "summary.json")]
    runs += [(p.parent.name, p) for p in sorted((experiment / "models").glob("*/summary.json"))]
    rows = [
        "| run | steps | tokens | train s | tokens/s | MFU | peak (source) | peak memory MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, path in runs:
        if not path.is_file():
            raise SystemExit(f"recipe_summary: {path} is missing (did that stage finish?)")
        s = json.loads(path.read_text(encoding="utf-8"))
        rows.append(
            f"| {name} | {s['step']} | {s['tokens']:,} | {s['train_seconds']:.1f} | {s['tokens_per_s']:,.0f} "
            f"| {_fmt(s.get('mfu'), '.1%')} | {s.get('peak_source', '?')} | {_fmt(s.get('peak_memory_mib'), '.0f')} |"
        )
    return rows


def cell_rows(experiment: Path) -> list[str]:
    path = experiment / "report" / "cells.json"
    if not path.is_file():
        raise SystemExit(f"recipe_summary: {path} is missing (did the experiment finish?)")
    rows = [
        "| task | mode | metric | median over prompts | chance | majority |",
        "|---|---|---|---|---|---|",
    ]
    for c in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        rows.append(
            f"| {c['task']} | {c['mode']} | {c['metric']} | {_fmt(c['score'], '.1f')} "
            f"| {_fmt(c.get('chance'), '.1f')} | {_fmt(c.get('majority'), '.1f')} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, type=Path, help="the base's pretraining run dir")
    ap.add_argument("--experiment", required=True, type=Path, help="the experiment's run dir")
    args = ap.parse_args(argv)
    out = [
        "## Throughput",
        *throughput_rows(args.base, args.experiment),
        "",
        "## Cells",
        *cell_rows(args.experiment),
    ]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
