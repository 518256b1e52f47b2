"""The sampling report of a fine-tuning run: what the sampler actually fed the model.

Realised draws per task and per prompt, tokens per task, packing efficiency (share of padding),
overlong truncations and skips, templates that failed to render (with the first error), and a
histogram of draws per task (PNG).
"""

from __future__ import annotations

import json
from pathlib import Path

from weprompt.common.atomic import atomic_write_text
from weprompt.packing import PackingStats
from weprompt.sampler import SamplerStats


def sampling_report(
    sampler_stats: SamplerStats, packing: PackingStats, epoch: float, names: dict[str, str]
) -> dict:
    """`names` maps template id -> template name for readable per-prompt rows."""
    per_prompt = {}
    for key, n in sorted(sampler_stats.prompts.items()):
        task, _, tid = key.partition("/")
        per_prompt[f"{task}/{names.get(tid, tid)}"] = n
    failures = {}
    for key, n in sampler_stats.render_failures.items():
        task, _, tid = key.partition("/")
        failures[f"{task}/{names.get(tid, tid)}"] = {
            "count": n,
            "first_error": sampler_stats.failure_examples[key],
        }
    total = packing.real_tokens + packing.pad_tokens
    return {
        "epochs_over_capped_pools": round(epoch, 3),
        "draws_per_task": dict(sorted(sampler_stats.draws.items())),
        "draws_per_prompt": per_prompt,
        "tokens_per_task": dict(sorted(packing.tokens_per_task.items())),
        "sequences": packing.sequences,
        "examples_packed": packing.examples,
        "packing_efficiency": round(packing.efficiency, 5),
        "padding_share": round(packing.pad_tokens / total, 5) if total else 0.0,
        "dropped": {
            "skipped_overlong (longer than a sequence; target over half a sequence or overlong=skip)": packing.skipped_overlong,
            "render_failures (template raised or rendered empty on the example)": sum(
                sampler_stats.render_failures.values()
            ),
        },
        "truncated_overlong (input cut from the left to fit)": packing.truncated,
        "render_failures": failures,
    }


def write_sampling_report(report: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "sampling_report.json", json.dumps(report, ensure_ascii=False, indent=1))
    lines = [
        "# Sampling report",
        "",
        f"- epochs over the capped pools: {report['epochs_over_capped_pools']}",
        f"- sequences: {report['sequences']}, examples packed: {report['examples_packed']}",
        f"- packing efficiency: {report['packing_efficiency']:.4f} (padding {report['padding_share']:.2%})",
        f"- truncated overlong examples: {report['truncated_overlong (input cut from the left to fit)']}",
    ]
    for reason, n in report["dropped"].items():
        lines.append(f"- dropped, {reason}: {n}")
    lines += ["", "| task | draws | tokens |", "|---|---:|---:|"]
    for task, n in report["draws_per_task"].items():
        lines.append(f"| {task} | {n} | {report['tokens_per_task'].get(task, 0)} |")
    if report["render_failures"]:
        lines += [
            "",
            "## Templates that failed to render",
            "",
            "| template | count | first error |",
            "|---|---:|---|",
        ]
        for name, f in report["render_failures"].items():
            lines.append(f"| {name} | {f['count']} | {f['first_error'][:120]} |")
    atomic_write_text(out_dir / "sampling_report.md", "\n".join(lines) + "\n")
    _histogram(report["draws_per_task"], out_dir / "task_histogram.png")


def _histogram(draws: dict[str, int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(draws)
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(names)), 3.5))
    ax.bar(range(len(names)), [draws[n] for n in names], color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_ylabel("examples drawn")
    ax.set_title("Realised draws per training task")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
