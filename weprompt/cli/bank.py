"""`weprompt bank validate|stats`: check the prompt bank against real data, and count it."""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    bank = sub.add_parser("bank", help="validate and count the prompt bank")
    verbs = bank.add_subparsers(dest="bank_verb", metavar="<bank verb>", required=True)

    v = verbs.add_parser("validate", help="render every template on real examples and report problems")
    v.add_argument("--task", action="append", help="only this task (repeatable); default: all")
    v.add_argument("--examples", type=int, default=20, help="examples per split to render on (default 20)")
    v.add_argument(
        "--budget", type=int, default=2048, help="length budget (tokens, or characters without --tokenizer)"
    )
    v.add_argument("--tokenizer", help="tokenizer dir: count the budget in tokens instead of characters")
    v.add_argument("--warnings", action="store_true", help="also list warnings")
    _common(v)
    v.set_defaults(func=cmd_validate)

    s = verbs.add_parser("stats", help="tasks, categories, prompts per task and category, diversity")
    _common(s)
    s.set_defaults(func=cmd_stats)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bank-dir", help="prompt bank dir (default: the installed prompt_bank/, or $WEPROMPT_BANK_DIR)"
    )
    p.add_argument("--data-dir", help="task data dir (default: $WEPROMPT_DATA_DIR, then ../shared/data)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def cmd_validate(args: argparse.Namespace) -> int:
    from weprompt.bank_check import check_bank

    count_tokens = None
    if args.tokenizer:
        from weprompt.pretrain.tokenizer import Tokenizer

        tok = Tokenizer.load(args.tokenizer)
        count_tokens = lambda text: len(tok.encode(text))  # noqa: E731
    start = time.perf_counter()
    report = check_bank(
        args.bank_dir,
        args.data_dir,
        args.task,
        args.examples,
        args.budget,
        count_tokens,
        progress=not args.json and sys.stderr.isatty(),
    )
    seconds = time.perf_counter() - start
    errors = report.errors
    if args.json:
        json.dump(
            {
                "ok": not errors,
                "seconds": round(seconds, 2),
                "templates": report.templates,
                "examples": report.examples,
                "excluded": report.excluded,
                "issues": [i.to_dict() for i in report.issues],
            },
            sys.stdout,
            ensure_ascii=False,
            indent=1,
        )
        print()
        return 1 if errors else 0
    shown = report.issues if args.warnings else errors
    for issue in shown:
        print(issue)
    n_warn = len(report.issues) - len(errors)
    if report.excluded:
        by_reason: dict[str, list[str]] = {}
        for name, reason in report.excluded.items():
            by_reason.setdefault(reason, []).append(name)
        for reason, names in by_reason.items():
            print(f"excluded {len(names)} task(s), {reason}: {', '.join(names)}")
    unit = "tokens" if count_tokens else "characters (no --tokenizer: length counted in characters)"
    print(
        f"\nvalidated {sum(report.templates.values())} templates of {len(report.templates)} tasks on "
        f"{sum(report.examples.values())} real examples in {seconds:.1f}s; budget {args.budget} {unit}"
    )
    print(
        f"{len(errors)} error(s), {n_warn} warning(s)"
        + ("" if args.warnings or not n_warn else " (--warnings lists them)")
    )
    return 1 if errors else 0


def cmd_stats(args: argparse.Namespace) -> int:
    from weprompt.bank import load_bank
    from weprompt.bank_stats import MAX_MEAN_SIMILARITY, bank_stats

    catalog, bank = load_bank(args.bank_dir)
    stats = bank_stats(catalog, bank)
    if args.json:
        json.dump(stats, sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"prompt bank: {stats['prompts']} prompts, {stats['tasks']} tasks, {stats['categories']} categories"
    )
    for col in ("category", "tasks", "with prompts", "prompts", "min / task", "mean similarity"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for cat, c in stats["per_category"].items():
        sim = "-" if c["mean_similarity"] is None else f"{c['mean_similarity']:.3f}"
        table.add_row(
            cat, str(c["tasks"]), str(c["tasks_with_prompts"]), str(c["prompts"]), str(c["min_prompts"]), sim
        )
    console = Console()
    console.print(table)
    tasks = Table(
        title="per task (similarity: mean pairwise char-bigram Jaccard of the fixed text; lower = more diverse)"
    )
    for col in ("task", "category", "prompts", "original task", "similarity"):
        tasks.add_column(col, justify="left" if col in ("task", "category") else "right")
    for t in stats["per_task"]:
        sim = "-" if t["similarity"] is None else f"{t['similarity']:.3f}"
        if t["similarity"] is not None and t["similarity"] > MAX_MEAN_SIMILARITY:
            sim = f"[red]{sim}[/red]"
        tasks.add_row(t["task"], t["category"], str(t["prompts"]), str(t["original_task"]), sim)
    console.print(tasks)
    return 0
