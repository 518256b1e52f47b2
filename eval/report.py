"""Results on disk (JSON, Markdown) and on the terminal (a rich summary table)."""

from __future__ import annotations

import json
from pathlib import Path

from pretrain.atomic import atomic_write_text


def _f(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def summary_rows(results: dict) -> list[dict]:
    rows = []
    for name, t in results["tasks"].items():
        for key, s in t["shots"].items():
            summ = s["summary"]
            prompts = s["prompts"]
            n_err = sum(p["errors"] for p in prompts)
            oos = [
                p["oos_rate"] for p in prompts if p.get("score") is not None and p.get("oos_rate") is not None
            ]
            rows.append(
                {
                    "task": name,
                    "category": t["category"],
                    "metric": t["metric"],
                    "shots": key,
                    "shots_used": (sum(p["shots_mean"] for p in prompts) / len(prompts)) if prompts else 0.0,
                    "n": t["n_examples"],
                    "prompts": summ.get("n_prompts", 0),
                    "median": summ.get("median"),
                    "iqr": summ.get("iqr"),
                    "worst": summ.get("worst"),
                    "best": summ.get("best"),
                    "oos": sum(oos) / len(oos) if oos else None,
                    "errors": n_err,
                    "trained_on": t.get("trained_on"),
                }
            )
    return rows


def to_markdown(results: dict) -> str:
    m = results["model"]
    st = results["settings"]
    lines = [
        f"# Evaluation of `{m['name']}`",
        "",
        f"model hash `{m['hash'][:16]}`, tokenizer `{m['tokenizer_fingerprint'][:16]}`, "
        f"{m['parameters']:,} parameters, context {m['config']['context_length']}; seed {st['seed']}, "
        f"limit {st['limit'] or 'none'}, rank rule `{st['scoring_rule']}` (lowest perplexity).",
        "",
        "| task | category | metric | shots (used) | n | prompts | median | IQR | worst prompt | best | OOS % | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary_rows(results):
        worst = f"{_f(r['worst']['score'])} ({r['worst']['name']})" if r["worst"] else "–"
        flag = " ⚠ trained on" if r["trained_on"] else ""
        lines.append(
            f"| {r['task']}{flag} | {r['category']} | {r['metric']} | {r['shots']} ({r['shots_used']:.1f}) | {r['n']} "
            f"| {r['prompts']} | {_f(r['median'])} | {_f(r['iqr'])} | {worst} "
            f"| {_f(r['best']['score']) if r['best'] else '–'} | {_f(r['oos'])} | {r['errors']} |"
        )
    lines += ["", "## Per prompt", ""]
    for name, t in results["tasks"].items():
        rank = t["kind"] == "rank"
        extra = (
            "mean / sum / per-char / calibrated acc."
            if rank
            else "F1 / EM / ROUGE-1 / ROUGE-L / BLEU / OOS %"
        )
        lines += [f"### {name} ({t['split']}, {t['n_examples']} of {t['split_size']} examples)", ""]
        lines += [
            f"| shots | prompt | {t['metric']} | {extra} | truncated | errors |",
            "|---|---|---|---|---|---|",
        ]
        for key, s in t["shots"].items():
            for p in s["prompts"]:
                if rank:
                    detail = " / ".join(
                        _f(p["rules"].get(r)) for r in ("mean", "sum", "per_char", "calibrated")
                    )
                else:
                    mm = p["metrics"]
                    detail = " / ".join(
                        _f(mm.get(x)) for x in ("f1", "exact_match", "rouge_1", "rouge_l", "bleu")
                    )
                    detail += f" / {_f(p['oos_rate'])}"
                lines.append(
                    f"| {key} | {p['name']} | {_f(p['score'])} | {detail} | {p['truncated']} | {p['errors']} |"
                )
        if t["templates_skipped"]:
            names = ", ".join(x["name"] for x in t["templates_skipped"])
            lines.append(f"\nNot used (training-only or unusable): {names}.")
        lines.append("")
    if results.get("skipped"):
        lines += ["## Skipped tasks", ""]
        lines += [f"- {k}: {v}" for k, v in results["skipped"].items()]
        lines.append("")
    return "\n".join(lines)


def save(results: dict, out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    js, md = out / "results.json", out / "results.md"
    atomic_write_text(js, json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    atomic_write_text(md, to_markdown(results))
    return js, md


def print_summary(results: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=200)
    table = Table(title=f"weprompt eval — {results['model']['name']}", show_lines=False)
    for col in (
        "task",
        "metric",
        "shots",
        "n",
        "prompts",
        "median",
        "IQR",
        "worst (prompt)",
        "best",
        "OOS %",
        "errors",
    ):
        table.add_column(col, justify="left" if col in ("task", "metric", "worst (prompt)") else "right")
    for r in summary_rows(results):
        worst = f"{_f(r['worst']['score'])} ({r['worst']['name']})" if r["worst"] else "–"
        task = f"[red]{r['task']} (trained on)[/red]" if r["trained_on"] else r["task"]
        table.add_row(
            task, r["metric"], f"{r['shots']} ({r['shots_used']:.1f})", str(r["n"]), str(r["prompts"]),
            _f(r["median"]), _f(r["iqr"]), worst, _f(r["best"]["score"]) if r["best"] else "–",
            _f(r["oos"]), str(r["errors"]),
        )  # fmt: skip
    console.print(table)
    for k, v in results.get("skipped", {}).items():
        console.print(f"[yellow]skipped[/yellow] {k}: {v}")
