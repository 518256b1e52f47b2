"""Merge the per-task step counts into one stats file and render the summary tables.

- steps table: per step, documents in / kept / dropped by reason, seconds and MB/s (UTF-8 text bytes in
  per second of the step's own time, summed over tasks, i.e. per-core throughput);
- Table 1 (WeLM's shape): per source, raw size, % filtered (of characters), remaining tokens, share of
  tokens before balancing, target, and share after balancing.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

STEP_ORDER = [
    "read",
    "lang_id",
    "rule_length",
    "rule_mojibake",
    "rule_cjk",
    "rule_symbols",
    "rule_boilerplate",
    "rule_repetition",
    "rule_code",
    "rule_offensive",
    "quality",
    "dedup_signatures",
    "dedup",
    "decontam",
    "tokenize",
    "balance_shards",
]


def merge_step_counts(stats_dir: str | Path) -> dict[str, dict]:
    """step -> {"seconds", "tasks", "counts": {source|_total: Counter}} summed over task files."""
    out: dict[str, dict] = {}
    for step_dir in sorted(Path(stats_dir).iterdir()) if Path(stats_dir).is_dir() else []:
        if not step_dir.is_dir():
            continue
        seconds, tasks = 0.0, 0
        counts: dict[str, Counter] = defaultdict(Counter)
        for f in sorted(step_dir.glob("*.json")):
            row = json.loads(f.read_text(encoding="utf-8"))
            seconds += row["seconds"]
            tasks += 1
            for key, c in row["counts"].items():
                counts[key].update(c)
        out[step_dir.name] = {
            "seconds": round(seconds, 3),
            "tasks": tasks,
            "counts": {k: dict(v) for k, v in counts.items()},
        }
    order = {name: i for i, name in enumerate(STEP_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


def drop_reasons(counts: dict) -> dict[str, int]:
    return {k.split(":", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith("docs_dropped:")}


def steps_table(steps: dict[str, dict]) -> list[dict]:
    rows = []
    for name, st in steps.items():
        tot = st["counts"].get("_total", {})
        mb = tot.get("bytes_in", 0) / 1e6
        rows.append(
            {
                "step": name,
                "docs_in": tot.get("docs_in", 0),
                "kept": tot.get("docs_kept", 0),
                "dropped": drop_reasons(tot),
                "notes": {
                    k: v
                    for k, v in tot.items()
                    if not k.startswith(("docs_", "chars_", "bytes_")) and ":" not in k
                },
                "seconds": st["seconds"],
                "mb_in": round(mb, 2),
                "mb_per_s": round(mb / st["seconds"], 2) if st["seconds"] > 0 else None,
            }
        )
    return rows


def table1(steps: dict[str, dict], balance_report: dict | None, raw_mb: dict[str, float]) -> list[dict]:
    """Per source: raw MB, docs, % filtered (chars), remaining tokens, share before / target / after."""
    read = steps.get("read", {}).get("counts", {})
    tok = steps.get("tokenize", {}).get("counts", {})
    sources = sorted(s for s in read if s != "_total")
    tokens = {s: tok.get(s, {}).get("tokens", 0) for s in sources}
    total_tokens = sum(tokens.values()) or 1
    rows = []
    for s in sources:
        chars_raw = read[s].get("chars_in", 0)
        chars_left = tok.get(s, {}).get("chars_in", 0)
        row = {
            "source": s,
            "raw_MB": round(raw_mb.get(s, read[s].get("bytes_in", 0) / 1e6), 1),
            "docs_raw": read[s].get("docs_in", 0),
            "docs_left": tok.get(s, {}).get("docs_in", 0),
            "pct_filtered": round(100 * (1 - chars_left / chars_raw), 1) if chars_raw else 0.0,
            "tokens_left": tokens[s],
            "share_before": round(tokens[s] / total_tokens, 4),
        }
        if balance_report:
            row["target"] = round(balance_report["target_share"].get(s, 0.0), 4)
            row["share_after"] = balance_report["share_after"].get(s, 0.0)
            row["tokens_after"] = balance_report["tokens_after"].get(s, 0)
        rows.append(row)
    return rows


def render_markdown(table: list[dict], columns: list[str] | None = None) -> str:
    if not table:
        return "(empty)\n"
    columns = columns or list(table[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table:
        cells = []
        for c in columns:
            v = row.get(c, "")
            if isinstance(v, dict):
                v = ", ".join(f"{k} {n}" for k, n in v.items()) or "-"
            elif isinstance(v, float):
                v = f"{v:,.4g}" if abs(v) < 1 else f"{v:,.1f}"
            elif isinstance(v, int):
                v = f"{v:,}"
            cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def print_rich_table(title: str, table: list[dict], columns: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c, no_wrap=c != "dropped")
    for row in table:
        cells = []
        for c in columns:
            v = row.get(c, "")
            if isinstance(v, dict):
                v = ", ".join(f"{k} {n}" for k, n in v.items()) or "-"
            elif isinstance(v, float):
                v = f"{v:.4g}" if abs(v) < 1 else f"{v:,.1f}"
            elif isinstance(v, int):
                v = f"{v:,}"
            cells.append(str(v))
        t.add_row(*cells)
    Console(width=max(140, Console().width)).print(t)
