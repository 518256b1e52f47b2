"""`weprompt catalog` and `weprompt data`: look at the task catalog and at real examples."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    cat = sub.add_parser("catalog", help="list the task catalog (tasks per category)")
    cat.add_argument("--category", help="only this category")
    cat.add_argument("--json", action="store_true")
    cat.set_defaults(func=cmd_catalog)

    data = sub.add_parser("data", help="show real examples of a task split")
    data.add_argument("task")
    data.add_argument("--split", help="default: the task's evaluation split")
    data.add_argument("-n", type=int, default=3, help="number of examples")
    data.add_argument("--data-dir")
    data.set_defaults(func=cmd_data)


def cmd_catalog(args: argparse.Namespace) -> int:
    from weprompt.catalog import load_catalog

    catalog = load_catalog()
    cats = [args.category] if args.category else list(catalog.categories)
    if args.json:
        out = {c: [t.__dict__ for t in catalog.in_category(c)] for c in cats}
        json.dump(out, sys.stdout, ensure_ascii=False, indent=1, default=list)
        print()
        return 0
    for c in cats:
        tasks = catalog.in_category(c)
        print(f"{c} ({len(tasks)})")
        for t in tasks:
            star = " *" if t.held_out_eval else ""
            splits = ", ".join(f"{k} {v}" for k, v in t.splits.items())
            print(
                f"  {t.name}{star}  [{t.task_type}, {t.metric}, family {t.family}, {t.few_shot}-shot]  {splits}"
            )
    print(
        f"\n{len(catalog.tasks)} tasks in {len(catalog.categories)} categories; * = one of the paper's evaluation tasks"
    )
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from weprompt.catalog import load_catalog
    from weprompt.data import load_split

    task = load_catalog().task(args.task)
    split = args.split or task.eval_split
    ds = load_split(task.name, split, args.data_dir)
    print(f"{task.name} / {split}: {len(ds)} examples; fields: {', '.join(ds.column_names)}")
    for i in range(min(args.n, len(ds))):
        print(f"--- [{i}]")
        print(json.dumps(ds[i], ensure_ascii=False, indent=1)[:2000])
    return 0
