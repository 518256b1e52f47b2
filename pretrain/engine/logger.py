"""The run's JSONL log (`train_log.jsonl`) and the loss / learning-rate plot (`curves.png`).

One JSON object per line, flushed at once. Kinds: "train" (every `logging.every` steps: loss, lr,
grad_norm, loss_scale, tokens/s, MFU, ...), "eval" (val_loss), "spike" (a recovery). After a resume, lines
of steps beyond the checkpoint are dropped first, so a resumed run's log reads exactly like an
uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from weprompt.common.atomic import atomic_write_text
from weprompt.pretrain.engine.sinks import Sink

LOG_FILE = "train_log.jsonl"
PLOT_FILE = "curves.png"
GROUP_PLOT_FILE = "group_curves.png"


def read_log(path: Path) -> list[dict]:
    """All complete records (a line torn by a crash is ignored)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class JsonlLogger:
    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path = Path(run_dir) / LOG_FILE
        self.enabled = enabled
        self._f: TextIO | None = None
        self.sinks: list[Sink] = []  # TensorBoard, W&B: every record goes to them too (engine/sinks.py)

    def truncate_after(self, step: int) -> None:
        """Keep only records up to `step` (resume from the checkpoint of that step)."""
        if not self.enabled or not self.path.exists():
            return
        keep = [r for r in read_log(self.path) if r.get("step", 0) <= step or r.get("kind") == "spike"]
        atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._f.flush()
        for sink in self.sinks:
            sink.write(record)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        for sink in self.sinks:
            sink.close()
        self.sinks = []


def plot_curves(run_dir: Path) -> Path | None:
    """Loss (train, val) and learning rate against step; spike rollbacks as vertical lines."""
    records = read_log(Path(run_dir) / LOG_FILE)
    train = {r["step"]: r for r in records if r.get("kind") == "train"}  # last record of a step wins
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted(train)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax.plot(steps, [train[s]["loss"] for s in steps], lw=1, label="train loss")
    evals = sorted((r["step"], r["val_loss"]) for r in records if r.get("kind") == "eval")
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", ms=3, label="val loss")
    for r in records:
        if r.get("kind") == "spike":
            ax.axvline(r["step"], color="red", ls=":", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax2 = ax.twinx()
    ax2.plot(steps, [train[s]["lr"] for s in steps], color="gray", lw=1, ls="--", label="lr")
    ax2.set_ylabel("learning rate")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper right")
    ax.set_title(Path(run_dir).name)
    return _save(fig, Path(run_dir) / PLOT_FILE)


def _save(fig: Any, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out


def _series(
    records: list[dict], kind: str, key: str, source: str | None = None
) -> dict[str, list[tuple[int, float]]]:
    """{name: [(step, value)]} from the `key` mapping of every record of `kind` (and `source`)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for r in records:
        if r.get("kind") == kind and r.get("source") == source and isinstance(r.get(key), dict):
            for name, value in r[key].items():
                out.setdefault(name, []).append((r["step"], value))
    return out


def plot_group_curves(run_dir: Path) -> Path | None:
    """One panel per family of per-group curves in the log: training loss per category (train records),
    per task ("group_loss" records), and one panel per source of "heldout" records (metrics against step)."""
    records = read_log(Path(run_dir) / LOG_FILE)
    sources = sorted({r["source"] for r in records if r.get("kind") == "heldout" and r.get("source")})
    panels = [(title, series) for title, series in (
        ("train loss by category", _series(records, "train", "loss_by_category")),
        ("train loss by task", _series(records, "group_loss", "loss_by_group")),
        *((src, _series(records, "heldout", "metrics", src)) for src in sources),
    ) if series]  # fmt: skip
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 3.6 * len(panels)), dpi=110, squeeze=False)
    for ax, (title, series) in zip(axes[:, 0], panels, strict=True):
        for name, points in sorted(series.items()):
            ax.plot(
                *zip(*points, strict=True), marker="o" if len(points) < 30 else None, ms=3, lw=1, label=name
            )
        ax.set_title(title)
        ax.set_xlabel("step")
        if len(series) <= 12:
            ax.legend(fontsize=7, loc="best")
    return _save(fig, Path(run_dir) / GROUP_PLOT_FILE)
