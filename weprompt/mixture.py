"""Mixture specs a user can trust: planned weights over categories and tasks, checked against the split, and
the table of what was actually drawn.

    mixture:
      categories: {nli: 0.3, sentiment: 0.2, topic: 0.5}   # shares of the draws (optional)
      tasks: {tnews: 2.0, lcqmc: 0}                       # multipliers on a task's weight (optional)

A task's base weight comes from `sampler.mixing` (uniform, examples-proportional, temperature). Task
multipliers scale it (0 drops the task). With `categories`, every training category must be given a share
(0 drops it) and the tasks of a category split its share in proportion to their (scaled) weights. A weight
on a held-out task or category, on a task or category not in the split, a negative weight or a mixture that
leaves nothing to draw is an error naming the key. `planned_table` and `realised_table` give the shares per
task and category; the realised one counts the examples and tokens the packer actually emitted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from weprompt.common.atomic import atomic_write_text
from weprompt.common.errors import UserError


class MixtureError(UserError):
    pass


@dataclass
class MixtureConfig:
    categories: dict[str, float] = field(default_factory=dict)  # category -> share of the draws
    tasks: dict[str, float] = field(default_factory=dict)  # task -> multiplier on its weight


def _check_tasks(mix: MixtureConfig, tasks: list[str], excluded: dict[str, str]) -> None:
    for name, w in mix.tasks.items():
        if name in excluded:
            raise MixtureError(
                f"mixture.tasks.{name}: a weight on a task this split does not train: {excluded[name]}"
            )
        if name not in tasks:
            raise MixtureError(f"mixture.tasks.{name}: not a task of the catalog")
        if w < 0:
            raise MixtureError(f"mixture.tasks.{name}: weight {w} is negative")


def _check_categories(
    mix: MixtureConfig, tasks: list[str], category_of: dict[str, str], excluded: dict[str, str]
) -> None:
    train_cats = {category_of[t] for t in tasks}
    for name, w in mix.categories.items():
        if name not in train_cats:
            held = sorted(t for t, why in excluded.items() if category_of.get(t) == name)
            why = (
                f"held out in this split ({held[0]}: {excluded[held[0]]})"
                if held
                else "not a category of the catalog"
            )
            raise MixtureError(f"mixture.categories.{name}: {why}")
        if w < 0:
            raise MixtureError(f"mixture.categories.{name}: share {w} is negative")
    missing = sorted(train_cats - set(mix.categories))
    if mix.categories and missing:
        raise MixtureError(
            f"mixture.categories: give every training category a share (0 drops it); missing: {', '.join(missing)}"
        )


def plan_weights(
    tasks: list[str],
    base: list[float],
    category_of: dict[str, str],
    excluded: dict[str, str],
    mix: MixtureConfig,
) -> list[float]:
    """Normalised draw probabilities of `tasks` (the training tasks, the pools' order) from their base weights
    and `mix`; `category_of` maps every catalog task to its category, `excluded` the split's untrained tasks."""
    _check_tasks(mix, tasks, excluded)
    _check_categories(mix, tasks, category_of, excluded)
    scaled = {t: b * mix.tasks.get(t, 1.0) for t, b in zip(tasks, base, strict=True)}
    if mix.categories:
        per_cat: dict[str, float] = {}
        for t, w in scaled.items():
            per_cat[category_of[t]] = per_cat.get(category_of[t], 0.0) + w
        share_total = sum(mix.categories[c] for c in per_cat if per_cat[c] > 0)
        scaled = {
            t: (mix.categories[category_of[t]] / share_total) * w / per_cat[category_of[t]] if w > 0 else 0.0
            for t, w in scaled.items()
        } if share_total > 0 else {t: 0.0 for t in scaled}  # fmt: skip
    total = sum(scaled.values())
    if total <= 0:
        raise MixtureError("mixture: every training task has weight 0; nothing to draw")
    return [scaled[t] / total for t in tasks]


def planned_table(tasks: list[str], weights: list[float], category_of: dict[str, str]) -> dict:
    by_cat: dict[str, float] = {}
    for t, w in zip(tasks, weights, strict=True):
        by_cat[category_of.get(t, t)] = by_cat.get(category_of.get(t, t), 0.0) + w
    return {
        "tasks": {t: round(w, 6) for t, w in zip(tasks, weights, strict=True)},
        "categories": {c: round(w, 6) for c, w in sorted(by_cat.items())},
    }


def _shares(counts: dict[str, int]) -> dict[str, dict]:
    total = sum(counts.values())
    return {k: {"n": n, "share": round(n / total, 6) if total else 0.0} for k, n in sorted(counts.items())}


def realised_table(
    examples_per_task: dict[str, int],
    tokens_per_task: dict[str, int],
    prompts_drawn: dict[str, int],
    category_of: dict[str, str],
) -> dict:
    """Examples and tokens the packer emitted per task and category, and draws per prompt, with shares."""
    ex_cat, tok_cat = Counter[str](), Counter[str]()
    for t, n in examples_per_task.items():
        ex_cat[category_of.get(t, t)] += n
    for t, n in tokens_per_task.items():
        tok_cat[category_of.get(t, t)] += n
    return {
        "examples_per_task": _shares(dict(examples_per_task)),
        "tokens_per_task": _shares(dict(tokens_per_task)),
        "examples_per_category": _shares(dict(ex_cat)),
        "tokens_per_category": _shares(dict(tok_cat)),
        "draws_per_prompt": _shares(dict(prompts_drawn)),
    }


def render_markdown(planned: dict, realised: dict, step: int | None = None) -> str:
    head = "# Mixture" + (f" at step {step}" if step is not None else "")
    lines = [head, "", "| category | planned share | examples | example share | tokens | token share |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    ex, tok = realised["examples_per_category"], realised["tokens_per_category"]
    for c in sorted(set(planned["categories"]) | set(ex)):
        e, k = ex.get(c, {"n": 0, "share": 0.0}), tok.get(c, {"n": 0, "share": 0.0})
        p = planned["categories"].get(c, 0.0)
        lines.append(f"| {c} | {p:.4f} | {e['n']} | {e['share']:.4f} | {k['n']} | {k['share']:.4f} |")
    lines += ["", "| task | planned share | examples | example share | tokens | token share |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    ex, tok = realised["examples_per_task"], realised["tokens_per_task"]
    for t in sorted(set(planned["tasks"]) | set(ex)):
        e, k = ex.get(t, {"n": 0, "share": 0.0}), tok.get(t, {"n": 0, "share": 0.0})
        p = planned["tasks"].get(t, 0.0)
        lines.append(f"| {t} | {p:.4f} | {e['n']} | {e['share']:.4f} | {k['n']} | {k['share']:.4f} |")
    return "\n".join(lines) + "\n"


def write_mixture(out_dir: Path, planned: dict, realised: dict, step: int | None = None) -> None:
    """`mixture.json` and `mixture.md` in `out_dir` (atomic writes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"step": step, "planned": planned, "realised": realised}
    atomic_write_text(out_dir / "mixture.json", json.dumps(data, ensure_ascii=False, indent=1))
    atomic_write_text(out_dir / "mixture.md", render_markdown(planned, realised, step))


def mixture_writer(
    source, tasks: list[str], weights: list[float], category_of: dict[str, str], run_dir: Path
):
    """A checkpoint hook: the planned and realised mixture of the batch source `source` (a FinetuneBatches)
    into `run_dir` (latest) and `run_dir/mixture/step_<n>/` (one per checkpoint)."""
    planned = planned_table(tasks, weights, category_of)

    def write(step: int | None) -> dict:
        pk = source.packer
        realised = realised_table(
            pk.stats.examples_per_task, pk.stats.tokens_per_task, pk.source.stats.prompts, category_of
        )
        write_mixture(run_dir, planned, realised, step)
        if step is not None:
            write_mixture(run_dir / "mixture" / f"step_{step:08d}", planned, realised, step)
        return {"planned": planned, "realised": realised}

    return write
