"""`weprompt experiment ladder RUN_DIR...`: one experiment at several base sizes, side by side.

Each run dir is a finished `weprompt experiment` (its `report/cells.json`), the same matrix on another
base (e.g. `--set base=runs/ladder/mini name=cpu_transfer_mini`). The ladder report puts every cell's
mean over examples with its bootstrap 95% interval next to the base's parameter count, plots the
held-out score against base size per task (one line per mode, chance drawn) and the held-out accuracy
the fine-tuning runs logged against step, and states for each comparison whether it grows with scale.
It is the one picture a CPU can give about a 10B result: the direction of each finding as the base
grows, never its size.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from weprompt.common.atomic import atomic_write_text
from weprompt.common.errors import UserError
from weprompt.eval.bootstrap import mean_interval, paired_bootstrap
from weprompt.eval.heldout_report import heldout_series
from weprompt.eval.table6 import MODES

log = logging.getLogger(__name__)

# Comparisons the ladder follows across sizes: (better mode, worse mode, name).
COMPARISONS = (
    ("weprompt_weak", "welm_zero_shot", "weak > WeLM zero-shot"),
    ("weprompt_strong", "welm_zero_shot", "strong > WeLM zero-shot"),
    ("weprompt_weak", "weprompt_strong", "weak > strong"),
    ("welm_finetune", "welm_zero_shot", "single-task ceiling > WeLM zero-shot"),
)


@dataclass
class Rung:
    run_dir: Path
    name: str
    params: int
    tokens: int | None
    cells: list[dict]


def load_rung(run_dir: str | Path) -> Rung:
    path = Path(run_dir) / "report" / "cells.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no report/cells.json — run `weprompt experiment` there first")
    data = json.loads(path.read_text(encoding="utf-8"))
    meta = data.get("meta", {})
    params = meta.get("base parameters")
    if not isinstance(params, int):
        raise UserError(
            f"{path}: meta has no 'base parameters' (made before ladders existed: rerun the report)"
        )
    return Rung(Path(run_dir), str(meta.get("experiment", Path(run_dir).name)), params,
                meta.get("base pretraining tokens"), data["cells"])  # fmt: skip


def _by_key(rung: Rung) -> dict[tuple[str, str], dict]:
    return {(c["task"], c["mode"]): c for c in rung.cells}


def _interval(cell: dict | None) -> tuple[float | None, list[float] | None]:
    if cell is None:
        return None, None
    ci = mean_interval(cell.get("per_example") or [])
    return ci["mean"], ci["ci95"]


def ladder_table(rungs: list[Rung]) -> list[str]:
    tasks = list(dict.fromkeys(c["task"] for r in rungs for c in r.cells))
    modes = [m for m in MODES if any(c["mode"] == m for r in rungs for c in r.cells)]
    head = "| task | mode | " + " | ".join(f"{r.params / 1e6:.1f}M ({r.name})" for r in rungs) + " |"
    lines = [head, "|---|---|" + "---|" * len(rungs)]
    for task in tasks:
        for mode in modes:
            row = []
            for r in rungs:
                mean, ci = _interval(_by_key(r).get((task, mode)))
                row.append(
                    "–"
                    if mean is None or ci is None
                    else f"{100 * mean:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
                )
            lines.append(f"| {task} | {MODES[mode]} | " + " | ".join(row) + " |")
    return lines


def ladder_findings(rungs: list[Rung]) -> list[str]:
    """Per comparison and task: the paired difference (points, 95% CI) at each size, smallest first."""
    lines = []
    tasks = list(dict.fromkeys(c["task"] for r in rungs for c in r.cells))
    for better, worse, name in COMPARISONS:
        rows = []
        for task in tasks:
            diffs = []
            for r in rungs:
                cells = _by_key(r)
                a, b = cells.get((task, better)), cells.get((task, worse))
                if a is None or b is None or len(a["per_example"]) != len(b["per_example"]):
                    diffs.append("–")
                    continue
                t = paired_bootstrap(a["per_example"], b["per_example"])
                mark = "*" if t["significant"] else ""
                diffs.append(
                    f"{100 * t['diff']:+.1f}{mark} [{100 * t['ci95'][0]:+.1f}, {100 * t['ci95'][1]:+.1f}]"
                )
            if any(d != "–" for d in diffs):
                rows.append(f"  - {task}: " + " → ".join(diffs))
        if rows:
            lines += [
                f"- **{name}** (paired difference in points by base size, smallest first; * p < 0.05)",
                *rows,
            ]
    return lines


def heldout_curves(rung: Rung) -> dict[str, list[tuple[int, float]]]:
    """Held-out accuracy logged during fine-tuning, per unit: [(step, mean of the test tasks' accuracy)]."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for log_path in sorted((rung.run_dir / "models").glob("*/train_log.jsonl")):
        records = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line]
        points = [(r["step"], r["accuracy"]) for r in heldout_series(records) if r["accuracy"] is not None]
        if points:
            curves[log_path.parent.name] = points
    return curves


def plot_ladder(rungs: list[Rung], out_dir: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    tasks = list(dict.fromkeys(c["task"] for r in rungs for c in r.cells))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for mode in MODES:
            pts: list[tuple[int, float, list[float]]] = []
            for r in rungs:
                m, ci = _interval(_by_key(r).get((task, mode)))
                if m is not None and ci is not None:
                    pts.append((r.params, m, ci))
            if pts:
                xs = [p for p, _, _ in pts]
                ys = [100 * m for _, m, _ in pts]
                err = [[100 * (m - ci[0]) for _, m, ci in pts], [100 * (ci[1] - m) for _, m, ci in pts]]
                ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=MODES[mode])
        chance = [c.get("chance") for r in rungs for c in r.cells if c["task"] == task and c.get("chance")]
        if chance:
            ax.axhline(chance[0], color="grey", linestyle=":", label="chance")
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("base parameters")
    axes[0][0].set_ylabel("mean score over examples (%)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "score_vs_size.png", dpi=110)
    plt.close(fig)
    plots["held-out score against base size"] = "score_vs_size.png"
    curves = {(f"{r.params / 1e6:.1f}M", unit): pts for r in rungs for unit, pts in heldout_curves(r).items()}
    if curves:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        for (size, unit), curve in curves.items():
            ax.plot([s for s, _ in curve], [a for _, a in curve], marker=".", label=f"{size} {unit}")
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("held-out accuracy (probe)")
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(out_dir / "heldout_vs_step.png", dpi=110)
        plt.close(fig)
        plots["held-out accuracy against fine-tuning step"] = "heldout_vs_step.png"
    return plots


def write_ladder(run_dirs: list[str], out: str | Path) -> Path:
    if len(run_dirs) < 2:
        raise UserError("a ladder needs at least two experiment run dirs (one per base size)")
    rungs = sorted((load_rung(d) for d in run_dirs), key=lambda r: r.params)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = plot_ladder(rungs, out_dir)
    sizes = ", ".join(
        f"{r.name}: {r.params / 1e6:.1f}M parameters"
        + (f", {r.tokens:,} pretraining tokens" if r.tokens else "")
        for r in rungs
    )
    lines = ["# Scale ladder", "", f"Bases: {sizes}.", "",
             "## Mean score over examples [95% bootstrap CI], by base size", "", *ladder_table(rungs),
             "", "## Does each finding grow with scale?", "", *ladder_findings(rungs), "", "## Plots", "",
             *[f"![{k}]({v})" for k, v in plots.items()]]  # fmt: skip
    path = out_dir / "ladder.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    log.info("ladder report: %s", path)
    return path
