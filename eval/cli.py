"""`weprompt eval`: zero- and few-shot evaluation of a checkpoint on held-out tasks under all their prompts."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="zero/few-shot evaluation of a checkpoint on held-out tasks, every prompt",
        description="Score a checkpoint on evaluation tasks under every original-task prompt of the bank: "
        "rank classification (lowest perplexity) or greedy generation; per task the median, IQR and worst "
        "prompt. Predictions are cached, so an interrupted run resumes.",
    )
    p.add_argument("--model", required=True, help="checkpoint: a step dir, a checkpoints dir or a run dir")
    p.add_argument("--tokenizer", help="tokenizer dir (default: the one stored with the checkpoint)")
    p.add_argument(
        "--tasks", default="all", help="comma-separated task names, or 'all' (the catalog's evaluation tasks)"
    )
    p.add_argument(
        "--shots",
        default="0",
        help="comma-separated shot settings: numbers and/or 'paper' (the catalog's 1/2/5); default 0",
    )
    p.add_argument("--limit", type=int, help="only the first N examples of each task (quick looks)")
    p.add_argument("--seed", type=int, default=0, help="demonstrations, negatives, template randomness")
    p.add_argument(
        "--batch-size", type=int, default=8, help="examples per cache write (scores do not depend on it)"
    )
    p.add_argument("--no-calibrate", action="store_true", help="skip the content-free (calibrated) scores")
    p.add_argument(
        "--scope-probe",
        type=int,
        default=0,
        help="rank tasks: also decode open answers for the first N examples (out-of-scope rate)",
    )
    p.add_argument("--max-new-tokens", type=int, help="generation budget (default: per task type)")
    p.add_argument(
        "--cache-dir", default="runs/eval_cache", help="prediction cache (default runs/eval_cache)"
    )
    p.add_argument(
        "--out",
        help="results dir (default runs/eval/<model hash>/<tasks>-k<shots>-n<limit>-<settings hash>, one per "
        "setting); a dir holding results of other settings is refused",
    )
    p.add_argument("--bank-dir", help="prompt bank dir (default: the installed prompt_bank/)")
    p.add_argument("--data-dir", help="task data dir (default: $WEPROMPT_DATA_DIR, then ../shared/data)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from weprompt.bank import bank_catalog
    from weprompt.common.errors import UserError
    from weprompt.eval import modelio, report
    from weprompt.eval.runner import EvalOptions, evaluate

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    if args.scope_probe < 0:
        raise UserError("--scope-probe must be 0 (off) or more")
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    tasks = None if args.tasks.strip() == "all" else [t.strip() for t in args.tasks.split(",") if t.strip()]
    shots = [s.strip() for s in args.shots.split(",") if s.strip()]
    opts = EvalOptions(
        limit=args.limit,
        scope_probe=args.scope_probe,
        seed=args.seed,
        batch_size=args.batch_size,
        calibrate=not args.no_calibrate,
        max_new_tokens=args.max_new_tokens,
        cache_dir=args.cache_dir,
        bank_dir=args.bank_dir,
        data_dir=args.data_dir,
        progress=not args.quiet,
        extra={"argv": sys.argv[1:]},
    )
    lm = modelio.load(args.model, args.tokenizer)
    names = tasks or [t.name for t in bank_catalog(args.bank_dir).eval_tasks()]
    settings = report.result_settings(lm.describe(), names, shots, asdict(opts))
    out = args.out or report.results_dir("runs/eval", settings)
    report.check_results_dir(out, settings)  # before any work
    results = evaluate(lm, tasks, shots, options=opts)
    js, md = report.save(results, out, settings)
    report.print_summary(results)
    print(f"results: {js}\ntable:   {md}\n({results['seconds']:.0f} s)")
    return 0
