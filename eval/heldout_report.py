"""Held-out accuracy and loss against step, for the experiment report: is zero-shot transfer appearing?

The fine-tuning runs log a "heldout" record at every validation pass (weprompt.finetune_heldout):
`{"kind": "heldout", "step": s, "source": "heldout_loss" | "heldout_accuracy", "metrics": {...}}`.
`heldout_series` turns a unit's log into one row per step (held-out loss, mean accuracy over the test
tasks and each task's accuracy); the report shows them as a table and as `heldout_curves.png`.
"""

from __future__ import annotations

from pathlib import Path

PLOT_FILE = "heldout_curves.png"


def heldout_series(records: list[dict]) -> list[dict]:
    """[{"step", "loss", "accuracy", "accuracy_by_task"}] in step order, from one run's log records.

    "loss" is the held-out loss over all test tasks, "accuracy" the mean of the task medians; either is
    None at a step where the run did not measure it."""
    rows: dict[int, dict] = {}
    for r in records:
        if r.get("kind") != "heldout" or "step" not in r:
            continue
        row = rows.setdefault(int(r["step"]), {"step": int(r["step"]), "loss": None, "accuracy": None,
                                               "accuracy_by_task": {}})  # fmt: skip
        metrics = r.get("metrics") or {}
        if r.get("source") == "heldout_loss":
            row["loss"] = metrics.get("loss")
        elif r.get("source") == "heldout_accuracy":
            row["accuracy"] = metrics.get("mean")
            row["accuracy_by_task"] = {k: v for k, v in metrics.items() if k != "mean"}
    return [rows[s] for s in sorted(rows)]


def _num(x: float | None, digits: int) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def heldout_table(series: dict[str, list[dict]]) -> list[str]:
    """Markdown lines: one row per unit and step (empty when no unit logged a held-out record)."""
    shown = {unit: rows for unit, rows in series.items() if rows}
    if not shown:
        return []
    lines = [
        "| unit | step | held-out loss | held-out accuracy (mean of tasks) | accuracy by task |",
        "|---|---:|---:|---:|---|",
    ]
    for unit, rows in shown.items():
        for r in rows:
            by_task = ", ".join(f"{t} {v:.1f}" for t, v in sorted(r["accuracy_by_task"].items()))
            lines.append(
                f"| {unit} | {r['step']} | {_num(r['loss'], 3)} | {_num(r['accuracy'], 1)} | {by_task or '–'} |"
            )
    return lines


def plot_heldout(series: dict[str, list[dict]], plt, out: Path) -> bool:
    """Held-out accuracy and loss against step, one line per unit; False (no file) when nothing was logged."""
    if not any(series.values()):
        return False
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    for unit, rows in series.items():
        for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
            pts = [(r["step"], r[key]) for r in rows if r[key] is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=unit)
    for ax, label in ((acc_ax, "held-out accuracy (mean of task medians)"), (loss_ax, "held-out loss")):
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle("Held-out test tasks during fine-tuning")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True
