"""`weprompt eval`: zero- and few-shot evaluation of a model on held-out tasks under all their prompts.

    weprompt eval --model runs/base --tasks ocnli,c3 --shots 0,paper
    weprompt eval --config configs/eval/full.yaml --model hf:/models/qwen --shard 0/4
    weprompt eval merge runs/eval/<hash>/<shard dirs>...

Settings come from `--config` (`eval.config.EvalConfig`) with every flag given on top of it.
"""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)


def _int_or_auto(text: str) -> int | str:
    return text if text == "auto" else int(text)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="zero/few-shot evaluation of a checkpoint or a Hugging Face model on held-out tasks, every prompt",
        description="Score a model on evaluation tasks under every original-task prompt of the bank: "
        "rank classification (lowest perplexity; the summed log-likelihood of lm-evaluation-harness's `acc` "
        "is reported beside it) or greedy generation; per task the median, IQR and worst prompt. "
        "Predictions are cached, so an interrupted run resumes. `weprompt eval merge DIR...` combines the "
        "results dirs of `--shard i/n` runs.",
    )
    p.add_argument("command", nargs="*", help="`merge <shard results dir>...` (otherwise nothing)")
    p.add_argument("--config", help="YAML of eval.config.EvalConfig (e.g. configs/eval/full.yaml)")
    p.add_argument("--model", help="checkpoint (step, checkpoints or run dir), or hf:<dir or hub id>")
    p.add_argument("--tokenizer", help="tokenizer dir (default: the one stored with the checkpoint)")
    p.add_argument("--tasks", help="comma-separated task names, or 'all' (the catalog's evaluation tasks)")
    p.add_argument("--shots", help="comma-separated: numbers and/or 'paper' (the catalog's 1/2/5); default 0")
    p.add_argument("--limit", type=int, help="only the first N examples of each task (default: full split)")
    p.add_argument("--seed", type=int, help="demonstrations, negatives, template randomness (default 0)")
    p.add_argument("--batch-size", type=_int_or_auto, help="examples per model batch, or auto (default 8)")
    p.add_argument("--no-calibrate", dest="calibrate", action="store_const", const=False,
                   help="skip the content-free (calibrated) scores")  # fmt: skip
    p.add_argument("--no-prefix-eos", dest="prefix_eos", action="store_const", const=False,
                   help="prompts do not start after EOS (lm-evaluation-harness parity)")  # fmt: skip
    p.add_argument("--negatives", choices=("paper", "all"),
                   help="TNEWS/IFLYTEK: gold + 3 seeded negatives (paper, default) or all labels (harness)")  # fmt: skip
    p.add_argument("--prompts", choices=("approved", "with_submitted", "all"),
                   help="bank prompts by review status (default approved; unreviewed prompts count as approved)")  # fmt: skip
    p.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16"), help="model dtype (default float32)"
    )
    p.add_argument("--scope-probe", type=int,
                   help="rank tasks: also decode open answers for the first N examples (out-of-scope rate)")  # fmt: skip
    p.add_argument("--max-new-tokens", type=int, help="generation budget (default: per task type)")
    p.add_argument("--shard", help="i/n: predict shard i of n of the task × prompt × example grid")
    p.add_argument("--cache-dir", help="prediction cache (default runs/eval_cache)")
    p.add_argument(
        "--out",
        help="results dir (default runs/eval/<model hash>/<tasks>-k<shots>-n<limit>-<settings hash>, one per "
        "setting); a dir holding results of other settings is refused",
    )
    p.add_argument("--bank-dir", help="prompt bank dir (default: the installed prompt_bank/)")
    p.add_argument("--data-dir", help="task data dir (default: $WEPROMPT_DATA_DIR, then ../shared/data)")
    p.add_argument(
        "--threads", type=_int_or_auto, help="torch CPU threads, or auto (default: the free cores)"
    )
    p.add_argument("--quiet", action="store_const", const=True, help="no progress bars")
    p.set_defaults(func=cmd_eval)


def _flags(args: argparse.Namespace) -> dict:
    flags = {k: getattr(args, k) for k in ("model", "tokenizer", "limit", "seed", "batch_size", "calibrate",
             "prefix_eos", "negatives", "prompts", "dtype", "scope_probe", "max_new_tokens", "shard", "cache_dir", "out",
             "bank_dir", "data_dir", "threads", "quiet")}  # fmt: skip
    if args.tasks is not None:
        flags["tasks"] = (
            "all" if args.tasks.strip() == "all" else [t.strip() for t in args.tasks.split(",") if t.strip()]
        )
    if args.shots is not None:
        flags["shots"] = [
            int(s) if s.strip().isdigit() else s.strip() for s in args.shots.split(",") if s.strip()
        ]
    return flags


def cmd_eval(args: argparse.Namespace) -> int:
    from weprompt.common.errors import UserError

    if args.command:
        if args.command[0] != "merge" or len(args.command) < 2:
            raise UserError(
                f"unknown eval command {' '.join(args.command)!r}; use: weprompt eval merge DIR..."
            )
        return cmd_merge(args.command[1:], args.cache_dir, args.out)
    from weprompt.eval.config import load_eval_config

    cfg = load_eval_config(args.config, _flags(args))
    if cfg.model is None:
        raise UserError("--model (or `model:` in the config) is required")
    return run_config(cfg)


def run_config(cfg) -> int:
    from dataclasses import asdict

    from weprompt.bank import bank_catalog
    from weprompt.eval import modelio, report
    from weprompt.eval.runner import EvalOptions, evaluate
    from weprompt.eval.runtime import auto_batch_size, set_threads
    from weprompt.eval.shards import write_manifest

    threads = set_threads(cfg.threads)
    lm = modelio.load(cfg.model, cfg.tokenizer, cfg.dtype)
    batch_size = auto_batch_size(lm) if cfg.batch_size == "auto" else cfg.batch_size
    log.info("eval: %d threads, batch size %d", threads, batch_size)
    tasks = None if cfg.tasks == "all" else list(cfg.tasks)
    opts = EvalOptions(
        limit=cfg.limit, scope_probe=cfg.scope_probe, seed=cfg.seed, batch_size=batch_size,
        calibrate=cfg.calibrate, prefix_eos=cfg.prefix_eos, negatives=cfg.negatives, prompts=cfg.prompts, shard=cfg.shard,
        max_new_tokens=cfg.max_new_tokens, cache_dir=cfg.cache_dir, bank_dir=cfg.bank_dir,
        data_dir=cfg.data_dir, progress=not cfg.quiet,
        extra={"argv": sys.argv[1:], "threads": threads, "dtype": cfg.dtype},
    )  # fmt: skip
    names = tasks or [t.name for t in bank_catalog(cfg.bank_dir).eval_tasks()]
    settings = report.result_settings(lm.describe(), names, list(cfg.shots), asdict(opts))
    out = cfg.out or report.results_dir("runs/eval", settings)
    report.check_results_dir(out, settings)  # before any work
    results = evaluate(lm, tasks, list(cfg.shots), options=opts)
    if cfg.shard:
        path = write_manifest(results, out)
        print(f"shard {cfg.shard}: {len(results['cells'])} prediction files\nmanifest: {path}\n"
              f"({results['seconds']:.0f} s); combine with `weprompt eval merge <every shard's dir>`")  # fmt: skip
        return 0
    js, md = report.save(results, out, settings)
    report.print_summary(results)
    print(f"results: {js}\ntable:   {md}\n({results['seconds']:.0f} s)")
    return 0


def cmd_merge(dirs: list[str], cache_dir: str | None, out: str | None) -> int:
    from weprompt.eval import report
    from weprompt.eval.shards import merge

    results = merge(dirs, cache_dir)
    st = results["settings"]
    settings = report.result_settings(results["model"], list(results["tasks"]) + list(results["skipped"]),
                                      st["shots"], {k: v for k, v in st.items() if k not in _RESULT_ONLY})  # fmt: skip
    where = out or report.results_dir("runs/eval", settings)
    report.check_results_dir(where, settings)
    js, md = report.save(results, where, settings)
    report.print_summary(results)
    print(f"merged {len(dirs)} shards\nresults: {js}\ntable:   {md}")
    return 0


_RESULT_ONLY = ("shots", "scoring_rule", "rules")
