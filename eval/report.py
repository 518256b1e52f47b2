"""Results on disk (JSON, Markdown) and on the terminal (a rich summary table).

Results of one model under different settings never share a directory: the default one is
`runs/eval/<model hash[:12]>/<tasks>-k<shots>-n<limit>-<settings hash[:8]>/`, and `settings.json` beside
`results.json` records the settings (`result_settings`) that produced them. A directory holding
results of other settings is refused, naming what differs (`check_results_dir`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from weprompt.common.atomic import atomic_write_text
from weprompt.common.errors import UserError

SETTINGS_FILE = "settings.json"
RESULTS_FILE = "results.json"
# What results depend on besides the options, as results.json records it (older directories have no
# settings.json; these keys are compared for them).
_RECORDED_OPTIONS = ("limit", "seed", "calibrate", "prefix_eos", "max_new_tokens", "scope_probe")
# Options that change nothing in the results: not part of the key.
_UNKEYED_OPTIONS = ("batch_size", "cache_dir", "progress", "extra")


class ResultsConflictError(UserError):
    """A results directory that holds results of other settings."""


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
                    "median_sum": summ.get("median_sum_rule"),
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
        f"limit {st['limit'] or 'none'}, rank rule `{st['scoring_rule']}` (lowest perplexity); "
        "`sum median` is the same median under the summed log-likelihood (lm-evaluation-harness's `acc`).",
        "",
        "| task | category | metric | shots (used) | n | prompts | median | sum median | IQR | worst prompt | best | OOS % | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary_rows(results):
        worst = f"{_f(r['worst']['score'])} ({r['worst']['name']})" if r["worst"] else "–"
        flag = " ⚠ trained on" if r["trained_on"] else ""
        lines.append(
            f"| {r['task']}{flag} | {r['category']} | {r['metric']} | {r['shots']} ({r['shots_used']:.1f}) | {r['n']} "
            f"| {r['prompts']} | {_f(r['median'])} | {_f(r['median_sum'])} | {_f(r['iqr'])} | {worst} "
            f"| {_f(r['best']['score']) if r['best'] else '–'} | {_f(r['oos'])} | {r['errors']} |"
        )
    lines += ["", "## Per prompt", ""]
    for name, t in results["tasks"].items():
        rank = t["kind"] == "rank"
        extra = (
            "mean / sum / per-char / calibrated acc. / mean=sum %"
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
                    detail += f" / {_f(p.get('mean_sum_agree'))}"
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


# -- which settings made a results directory ------------------------------------------------------


_MISSING = object()


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, str) and len(value) >= 32 and all(c in "0123456789abcdef" for c in value):
        return value[:12]  # a fingerprint
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def input_changes(old: Any, new: Any, where: str = "") -> list[str]:
    """Each difference between recorded and current inputs, as 'key: old -> new' (nested keys dotted)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += input_changes(
                old.get(k, _MISSING), new.get(k, _MISSING), f"{where}.{k}" if where else str(k)
            )
        return out
    return [] if old == new else [f"{where}: {_show(old)} -> {_show(new)}"]


def describe_changes(changes: list[str], limit: int = 6) -> str:
    shown = changes[:limit] + ([f"and {len(changes) - limit} more"] if len(changes) > limit else [])
    return "; ".join(shown)


def bank_fingerprint(bank_dir: str | None, tasks: list[str]) -> str:
    """sha256 over the bank's catalog and the template files of `tasks` (the prompt set evaluated)."""
    from weprompt.bank import resolve_bank_dir, template_path

    h = hashlib.sha256((resolve_bank_dir(bank_dir) / "catalog.yaml").read_bytes())
    for t in sorted(tasks):
        path = template_path(t, bank_dir)
        h.update(f"\0{t}\0".encode() + (path.read_bytes() if path.is_file() else b""))
    return h.hexdigest()


def result_settings(model: dict, tasks: list[str], shots: list[str], options: dict) -> dict:
    """Everything results depend on: the model (`LoadedModel.describe()`), the tasks, the shot settings
    and the evaluation options (`asdict(EvalOptions)`), with the bank's and data's resolved places."""
    from weprompt.bank import resolve_bank_dir
    from weprompt.data import DataError, resolve_data_dir
    from weprompt.eval.runner import SETTING_VERSION
    from weprompt.eval.scoring import DEFAULT_RULE

    opts = {k: v for k, v in options.items() if k not in _UNKEYED_OPTIONS}
    # Options added later are keyed only when not at their default, so earlier results dirs still match.
    for key, default in (("negatives", "paper"), ("prompts", "approved"), ("shard", None)):
        if opts.get(key, default) == default:
            opts.pop(key, None)
    try:
        data_dir = str(resolve_data_dir(opts.pop("data_dir")).resolve())
    except DataError:
        data_dir = None  # tasks then come from the Hub
    bank_dir = opts.pop("bank_dir")
    return {
        "model_hash": model["hash"],
        "tokenizer": model["tokenizer_fingerprint"],
        "tasks": sorted(tasks),
        "shots": [str(s) for s in shots],
        **opts,
        "bank_dir": str(resolve_bank_dir(bank_dir).resolve()),
        "bank": bank_fingerprint(bank_dir, tasks),
        "data_dir": data_dir,
        "scoring_rule": DEFAULT_RULE,
        "setting_version": SETTING_VERSION,
    }


def settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def results_dir(root: str | Path, settings: dict) -> Path:
    """`<root>/<model hash[:12]>/<tasks>-k<shots>-n<limit>-<settings hash[:8]>`: readable and unique."""
    tasks = settings["tasks"]
    label = "+".join(tasks) if len(tasks) <= 3 else f"{len(tasks)}tasks"
    name = f"{label}-k{'+'.join(settings['shots'])}-n{settings['limit'] or 'all'}-{settings_key(settings)}"
    return Path(root) / settings["model_hash"][:12] / name


def _recorded_settings(out: Path) -> dict | None:
    """The settings the results in `out` were made with (from results.json for older directories)."""
    if (out / SETTINGS_FILE).is_file():
        return json.loads((out / SETTINGS_FILE).read_text(encoding="utf-8"))["settings"]
    if not (out / RESULTS_FILE).is_file():
        return None
    res = json.loads((out / RESULTS_FILE).read_text(encoding="utf-8"))
    st = res["settings"]
    return {
        "model_hash": res["model"]["hash"],
        "tokenizer": res["model"]["tokenizer_fingerprint"],
        "tasks": sorted([*res["tasks"], *res.get("skipped", {})]),
        "shots": st["shots"],
        **{k: st.get(k) for k in _RECORDED_OPTIONS},
        "scoring_rule": st.get("scoring_rule"),
    }


def check_results_dir(out: str | Path, settings: dict) -> None:
    """Refuse `out` when it holds results of other settings (the same settings are redone in place)."""
    old = _recorded_settings(Path(out))
    if old is None:
        return
    changes = input_changes(old, {k: settings.get(k) for k in old})
    if changes:
        raise ResultsConflictError(
            f"{out} holds results of other settings ({describe_changes(changes)}); they would be "
            "overwritten. Leave out --out (each setting gets its own directory under runs/eval/) or "
            "choose another --out"
        )


def save(results: dict, out_dir: str | Path, settings: dict | None = None) -> tuple[Path, Path]:
    """results.json and results.md (and settings.json: the key of these results) into `out_dir`."""
    out = Path(out_dir)
    js, md = out / RESULTS_FILE, out / "results.md"
    if settings is not None:
        record = {"key": settings_key(settings), "settings": settings, "model_path": results["model"]["path"]}
        atomic_write_text(out / SETTINGS_FILE, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
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
        "sum median",
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
            _f(r["median"]), _f(r["median_sum"]), _f(r["iqr"]), worst, _f(r["best"]["score"]) if r["best"] else "–",
            _f(r["oos"]), str(r["errors"]),
        )  # fmt: skip
    console.print(table)
    for k, v in results.get("skipped", {}).items():
        console.print(f"[yellow]skipped[/yellow] {k}: {v}")
