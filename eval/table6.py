"""The experiment report, shaped like the WeLM paper's Table 6 (Markdown + HTML + plots).

Input: a list of result cells, one per (task, mode), each
    {"task", "category", "mode", "metric", "score" (median over prompts, 0-100), "iqr": [q1, q3],
     "worst", "prompts": {template name: score}, "per_example": [mean-over-prompts score per example],
     "example_ids": [...], "out_of_scope": rate or None}
plus a `meta` dict stating the scale (model size, tokens seen, steps) and the training curves.
Rows are tasks grouped by category, columns are modes; each cell shows our number and the paper's.
Cells may also carry their trivial baselines (see `eval.experiment.cell_baselines`): "chance",
"majority" (0-100, in the cell's metric, None where there is none) and "majority_answer",
"constant_prompts"; a cell that does not beat the better of the two is marked.
"""

from __future__ import annotations

import html
import json
import statistics
from pathlib import Path

import yaml

from weprompt.common.atomic import atomic_write_text
from weprompt.eval.bootstrap import mean_interval, paired_bootstrap
from weprompt.eval.heldout_report import PLOT_FILE as HELDOUT_PLOT
from weprompt.eval.heldout_report import heldout_series, heldout_table, plot_heldout

MODES = {
    "welm_zero_shot": "WeLM zero-shot",
    "welm_few_shot": "WeLM few-shot",
    "weprompt_strong": "WePrompt strong",
    "weprompt_weak": "WePrompt weak",
    "weprompt_all": "WePrompt all",
    "welm_finetune": "WeLM fine-tuned",
}
# Paired comparisons the paper's findings rest on: (better?, than).
COMPARISONS = [
    ("weprompt_strong", "welm_zero_shot", "strong > WeLM zero-shot"),
    ("weprompt_weak", "weprompt_strong", "weak > strong"),
    ("weprompt_weak", "welm_zero_shot", "weak > WeLM zero-shot"),
    ("weprompt_all", "welm_finetune", "all > single-task fine-tuning"),
]
PAPER_FILE = Path(__file__).with_name("paper_table6.yaml")
BELOW = "†"  # a cell that does not beat its better trivial baseline
LEGEND = (
    f"{BELOW} does not beat the better of its two trivial baselines: **chance** (rank tasks scored by "
    "accuracy: the mean over the scored examples of 1 / number of answer choices, so 33.3 for 3 labels "
    "and 25.0 for TNEWS / IFLYTEK's gold + 3 negatives; no chance level for generation) and **majority** "
    "(the metric of always giving the most frequent gold answer of the scored examples: label for "
    "classification, answer position for multiple choice, reference answer for generation)."
)


def load_paper() -> dict:
    return yaml.safe_load(PAPER_FILE.read_text(encoding="utf-8"))


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def best_baseline(cell: dict) -> float | None:
    known = [x for x in (cell.get("chance"), cell.get("majority")) if x is not None]
    return max(known) if known else None


def beats_baseline(cell: dict) -> bool | None:
    """Whether the cell's score is above the better of its baselines (None: no score or no baseline)."""
    base = best_baseline(cell)
    if base is None or cell.get("score") is None:
        return None
    return cell["score"] > base + 1e-9


def _mark(cell: dict | None) -> str:
    return BELOW if cell and beats_baseline(cell) is False else ""


def baseline_summary(cells: list[dict]) -> dict:
    judged = [c for c in cells if beats_baseline(c) is not None]
    return {
        "cells": len(cells),
        "judged": len(judged),
        "beat": sum(bool(beats_baseline(c)) for c in judged),
        "prompts": sum(len(c["prompts"]) for c in cells),
        "constant_prompts": sum(c.get("constant_prompts") or 0 for c in cells),
    }


def _summary_lines(cells: list[dict]) -> list[str]:
    b = baseline_summary(cells)
    if not b["judged"]:
        return []
    text = (
        f"> **Baselines.** {b['beat']} of {b['judged']} cells beat the better of their chance and "
        f"majority-class baselines"
    )
    text += (
        "." if b["beat"] == b["judged"] else f"; the other {b['judged'] - b['beat']} (marked {BELOW}) do not."
    )
    if b["beat"] == 0:
        text += " No result in this report is better than a trivial baseline."
    if b["constant_prompts"]:
        text += (
            f" {b['constant_prompts']} of the {b['prompts']} prompt scores come from a model giving one and the "
            "same answer to every example (such a score is exactly that answer's share)."
        )
    if b["judged"] < b["cells"]:
        text += f" {b['cells'] - b['judged']} cells have no baseline."
    return [text, ""]


def _range(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    lo, hi = min(known), max(known)
    return _fmt(lo) if round(lo, 1) == round(hi, 1) else f"{_fmt(lo)}–{_fmt(hi)}"


def _grid(cells: list[dict]) -> tuple[list[str], dict[str, list[str]], dict[tuple[str, str], dict]]:
    by = {(c["task"], c["mode"]): c for c in cells}
    modes = [m for m in MODES if any(c["mode"] == m for c in cells)]
    cats: dict[str, list[str]] = {}
    for c in cells:
        if c["task"] not in cats.setdefault(c["category"], []):
            cats[c["category"]].append(c["task"])
    return modes, cats, by


def findings(cells: list[dict], samples: int = 2000, seed: int = 0) -> list[dict]:
    """Each paper finding checked task by task, with a paired bootstrap on the same examples."""
    _, cats, by = _grid(cells)
    out = []
    for better, worse, label in COMPARISONS:
        rows = []
        for tasks in cats.values():
            for t in tasks:
                a, b = by.get((t, better)), by.get((t, worse))
                if not a or not b:
                    continue
                test = None
                if a.get("example_ids") and a.get("example_ids") == b.get("example_ids"):
                    test = paired_bootstrap(a["per_example"], b["per_example"], samples, seed)
                rows.append(
                    {
                        "task": t,
                        "a": a["score"],
                        "b": b["score"],
                        # The same statistic the bootstrap tests: the paired mean over examples (and
                        # prompts). Medians over prompts can disagree with it on a near-tie.
                        "holds": test["diff"] > 0
                        if test and test["diff"] is not None
                        else a["score"] > b["score"],
                        "bootstrap": test,
                    }
                )
        if rows:
            out.append(
                {
                    "finding": label,
                    "better": better,
                    "worse": worse,
                    "rows": rows,
                    "holds_on": sum(r["holds"] for r in rows),
                    "of": len(rows),
                    "significant_on": sum(
                        1 for r in rows if r["bootstrap"] and r["bootstrap"]["significant"] and r["holds"]
                    ),
                }
            )
    oos = [(c["mode"], c["out_of_scope"]) for c in cells if c.get("out_of_scope") is not None]
    if oos:
        mean = {m: statistics.mean(v for mm, v in oos if mm == m) for m in {m for m, _ in oos}}
        base = mean.get("welm_zero_shot")
        out.append(
            {
                "finding": "WePrompt produces fewer out-of-scope answers",
                "out_of_scope_by_mode": mean,
                "holds_on": sum(
                    1 for m, v in mean.items() if m.startswith("weprompt") and base is not None and v < base
                ),
                "of": sum(1 for m in mean if m.startswith("weprompt")) if base is not None else 0,
            }
        )
    return out


def _results_table(cells: list[dict], paper: dict) -> list[str]:
    modes, cats, by = _grid(cells)
    lines = ["| category | task | metric | chance | majority | " + " | ".join(MODES[m] for m in modes) + " |"]
    lines.append("|---|---|---|---:|---:|" + "---:|" * len(modes))
    for cat, tasks in cats.items():
        for t in tasks:
            mine = [by[(t, m)] for m in modes if (t, m) in by]
            row = [cat, t, mine[0]["metric"], _range([c.get("chance") for c in mine])]
            row.append(_range([c.get("majority") for c in mine]))
            for m in modes:
                c = by.get((t, m))
                p = paper["tasks"].get(t, {}).get(m)
                row.append(f"{_fmt(c['score'] if c else None)}{_mark(c)} / {_fmt(p)}")
            lines.append("| " + " | ".join(row) + " |")
        means = []
        for m in modes:
            vals = [by[(t, m)]["score"] for t in tasks if (t, m) in by]
            means.append(_fmt(statistics.mean(vals)) if vals else "–")
        lines.append(f"| **{cat}** | *category mean* | | | | " + " | ".join(means) + " |")
    return lines


def _interval(cell: dict) -> str:
    """The cell's mean over examples (each example's score averaged over prompts) with its bootstrap 95% CI."""
    ci = mean_interval(cell.get("per_example") or [])
    if ci["mean"] is None:
        return "–"
    lo, hi = ci["ci95"]
    return f"{100 * ci['mean']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _spread_table(cells: list[dict]) -> list[str]:
    lines = [
        "| task | mode | prompts | median | IQR | worst | mean over examples [95% CI] | chance "
        "| majority (answer) | beats both | one answer for all | out-of-scope |",
        "|---|---|---:|---:|---|---:|---|---:|---|---|---:|---:|",
    ]
    for c in cells:
        oos = "–" if c.get("out_of_scope") is None else f"{c['out_of_scope']:.1%}"
        beats = {True: "yes", False: f"no {BELOW}", None: "–"}[beats_baseline(c)]
        answer = f" ({c['majority_answer']})" if c.get("majority_answer") is not None else ""
        one = "–" if c.get("constant_prompts") is None else f"{c['constant_prompts']}/{len(c['prompts'])}"
        one += f" ({c['constant_answer']})" if c.get("constant_answer") else ""
        lines.append(
            f"| {c['task']} | {MODES[c['mode']]} | {len(c['prompts'])} | {_fmt(c['score'])} | "
            f"[{_fmt(c['iqr'][0])}, {_fmt(c['iqr'][1])}] | {_fmt(c['worst'])} | {_interval(c)} | "
            f"{_range([c.get('chance')])} | {_range([c.get('majority')])}{answer} | {beats} | {one} | {oos} |"
        )
    return lines


def markdown(cells: list[dict], meta: dict, plots: dict[str, str], heldout: list[str] | None = None) -> str:
    paper = load_paper()
    lines = ["# WePrompt held-out evaluation (Table-6 shaped)", ""]
    lines += [
        "> **Scale.** " + meta.get("scale_statement", "") + " The paper's numbers are for WeLM 10B "
        "trained on about 300B tokens; ours come from a CPU-sized model and say nothing about that scale "
        "except the *direction* of each finding.",
        "",
    ]
    lines += _summary_lines(cells)
    for k, v in meta.items():
        if k != "scale_statement":
            lines.append(f"- {k}: {v}")
    lines += ["", "## Results (median over prompts; our score / the paper's)", ""]
    lines += _results_table(cells, paper)
    lines += ["", LEGEND, "", "## Spread over prompts (median [IQR], worst prompt) and baselines", ""]
    lines += _spread_table(cells)
    lines += ["", "## The paper's findings at our scale", ""]
    for f in findings(cells):
        if "rows" in f:
            lines.append(
                f"- **{f['finding']}**: holds on {f['holds_on']}/{f['of']} tasks "
                f"(significant, paired bootstrap p < 0.05: {f['significant_on']})"
            )
            for r in f["rows"]:
                b = r["bootstrap"]
                sig = (
                    ""
                    if not b
                    else f", diff {100 * b['diff']:+.1f} pts, 95% CI [{100 * b['ci95'][0]:+.1f}, "
                    f"{100 * b['ci95'][1]:+.1f}], p={b['p']:.3f}"
                )
                lines.append(f"  - {r['task']}: {_fmt(r['a'])} vs {_fmt(r['b'])}{sig}")
        else:
            lines.append(
                f"- **{f['finding']}**: out-of-scope rate by mode "
                + ", ".join(f"{MODES[m]} {v:.1%}" for m, v in sorted(f["out_of_scope_by_mode"].items()))
            )
    if heldout:
        lines += ["", "## Held-out test tasks during fine-tuning (accuracy and loss against step)", ""]
        lines += heldout
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{name}]({path})" for name, path in plots.items()]
    lines += ["", f"Paper numbers: {paper['source']} (via ../shared/REFERENCES.md §5.1)."]
    return "\n".join(lines) + "\n"


def to_html(md: str) -> str:
    """A small, dependency-free Markdown → HTML for this report's subset (headings, lists, tables, images)."""
    out, in_table = [], False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-:") for c in cells):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                out.append("<table>")
                in_table = True
            out.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("![") and "](" in line:
            alt, src = line[2:].split("](", 1)
            out.append(
                f'<p><img alt="{html.escape(alt)}" src="{html.escape(src.rstrip(")"))}" width="720"></p>'
            )
        elif line.lstrip().startswith("- "):
            out.append(f"<li>{_inline(line.lstrip()[2:])}</li>")
        elif line.startswith(">"):
            out.append(f"<blockquote>{_inline(line[1:].strip())}</blockquote>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_table:
        out.append("</table>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>WePrompt report</title><style>{style}</style>"
        f"</head><body>{''.join(out)}</body></html>\n"
    )


def _inline(text: str) -> str:
    import re

    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    return re.sub(r"\*(.+?)\*", r"<i>\1</i>", t)


BASELINE_STYLE = {"chance": ("--", "0.35"), "majority": (":", "k")}


def _draw_baselines(ax, spans: list[tuple[float, float, dict]]) -> None:
    """Horizontal chance / majority lines over x ranges [(x0, x1, cell-like dict with the baselines)]."""
    for name, (style, color) in BASELINE_STYLE.items():
        labelled = False
        for x0, x1, c in spans:
            if c.get(name) is not None:
                ax.hlines(c[name], x0, x1, linestyles=style, colors=color, linewidth=1.2,
                          label=None if labelled else f"{name} baseline")  # fmt: skip
                labelled = True


def _mean_of(cells: list[dict], key: str) -> float | None:
    known = [c[key] for c in cells if c.get(key) is not None]
    return statistics.mean(known) if known else None


def _plot_bars(cells: list[dict], plt, out: Path) -> None:
    """Category mean per mode, with the category's mean chance and majority baselines drawn across."""
    modes, cats, by = _grid(cells)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(1, len(modes))
    for i, m in enumerate(modes):
        vals = [
            statistics.mean([by[(t, m)]["score"] for t in ts if (t, m) in by] or [0]) for ts in cats.values()
        ]
        ax.bar([j + i * width for j in range(len(cats))], vals, width, label=MODES[m])
    spans = []
    for j, (cat, _) in enumerate(cats.items()):
        mine = [c for c in cells if c["category"] == cat]
        base = {k: _mean_of(mine, k) for k in BASELINE_STYLE}
        spans.append((j - width / 2, j + 0.8 - width / 2, base))
    _draw_baselines(ax, spans)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cats))], list(cats), fontsize=8)
    ax.set_ylabel("score (median over prompts)")
    ax.legend(fontsize=7)
    ax.set_title("Category means by mode")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _plot_boxes(cells: list[dict], plt, out: Path) -> bool:
    """Per-prompt scores per task and mode, each box with its cell's baselines."""
    shown = [c for c in cells if c["prompts"]]
    if not shown:
        return False
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(shown)), 4))
    ax.boxplot([list(c["prompts"].values()) for c in shown])
    _draw_baselines(ax, [(i + 0.6, i + 1.4, c) for i, c in enumerate(shown)])
    labels = [f"{c['task']}{_mark(c)}\n{MODES[c['mode']]}" for c in shown]
    ax.set_xticks(range(1, len(shown) + 1), labels, rotation=90, fontsize=6)
    ax.set_ylabel("score per prompt")
    ax.set_title("Spread across prompts")
    if any(c.get(k) is not None for c in shown for k in BASELINE_STYLE):
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def _plot_curves(curves: dict[str, list[dict]], plt, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, rows in curves.items():
        pts = [(r["step"], r["loss"]) for r in rows if "loss" in r and "step" in r]
        if pts:
            ax.plot(*zip(*pts, strict=True), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=7)
    ax.set_title("Training curves")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_all(
    cells: list[dict],
    curves: dict[str, list[dict]],
    out_dir: Path,
    heldout: dict[str, list[dict]] | None = None,
) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    _plot_bars(cells, plt, out_dir / "bars_by_category.png")
    plots["category means"] = "bars_by_category.png"
    if _plot_boxes(cells, plt, out_dir / "box_prompts.png"):
        plots["spread across prompts"] = "box_prompts.png"
    if curves:
        _plot_curves(curves, plt, out_dir / "training_curves.png")
        plots["training curves"] = "training_curves.png"
    if heldout and plot_heldout(heldout, plt, out_dir / HELDOUT_PLOT):
        plots["held-out accuracy and loss"] = HELDOUT_PLOT
    return plots


def write_report(cells: list[dict], meta: dict, curves: dict[str, list[dict]], out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells = [{**c, "baseline": best_baseline(c), "beats_baseline": beats_baseline(c)} for c in cells]
    heldout = {unit: heldout_series(records) for unit, records in curves.items()}
    plots = plot_all(cells, curves, out, heldout)
    md = markdown(cells, meta, plots, heldout_table(heldout))
    atomic_write_text(out / "report.md", md)
    atomic_write_text(out / "report.html", to_html(md))
    data = {"meta": meta, "baselines": baseline_summary(cells), "cells": cells}
    atomic_write_text(out / "cells.json", json.dumps(data, ensure_ascii=False, indent=1))
    return out / "report.md"
