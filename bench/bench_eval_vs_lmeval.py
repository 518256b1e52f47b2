"""Rank-classification throughput: `weprompt eval` vs lm-evaluation-harness on the same model and examples.

    python bench/bench_eval_vs_lmeval.py [--examples 200] [--threads 1] [--tasks ocnli,c3]

1. Builds a small model: a randomly initialised WeLM (`--preset`, context `--context`; throughput depends on
   shapes, not weights) with a SentencePiece tokenizer trained here on task text, written as a checkpoint.
2. Exports it (`weprompt export`) and writes the harness task of each task's first evaluation prompt
   (`--template longest`: the prompt with the longest answer choices; `--template all`: one harness task
   per original-task prompt, what an evaluator runs) with `weprompt lmeval-task`: the same rendered
   examples and templates for both tools. With `all`, the harness gets every prompt's task in one
   `simple_evaluate` call (its requests are batched across them) and ours one `evaluate` call.
3. Times both on the first `--examples` examples, threads fixed: the harness (`simple_evaluate`, fp32, CPU)
   at each of `--lmeval-batch-sizes`, keeping its best; ours (`eval.runner.evaluate` under the harness
   settings: no EOS before the prompt, every label, no calibration) at each of `--batch-sizes`, keeping
   our best. Model loading is outside the timings; rendering, data and scoring are inside, for both.
   Requests = (example, choice) pairs, as the harness counts them.
4. Compares every log-likelihood: the harness scores `"\\n" + choice` after the query (it moves the
   query's trailing newline into the continuation); ours scores the choice after `query + "\\n"`. So
   ours + log p("\\n" | query) must equal the harness's, request by request (`max_abs_loglik_diff`).

The last line printed is one JSON object: per task and overall `ours_req_per_s`, `lmeval_req_per_s`,
`ratio` and `max_abs_loglik_diff`. Results: bench/results/eval_vs_lmeval.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from weprompt.bank import bank_catalog, load_task_templates
from weprompt.common.paths import PACKAGE_BANK_DIR
from weprompt.eval.modelio import LoadedModel, wrap
from weprompt.eval.runner import evaluate
from weprompt.eval.scoring import score_full
from weprompt.templates import dump_templates


def build_model(tmp: Path, preset_name: str, context: int) -> tuple[LoadedModel, Path]:
    """A random WeLM with a tokenizer trained on task text, as a checkpoint in the trainer's layout."""
    from weprompt.data import load_split
    from weprompt.leakage import example_text
    from weprompt.pretrain import checkpoint as ck
    from weprompt.pretrain.engine.state import STATE_VERSION
    from weprompt.pretrain.model import WeLM, preset
    from weprompt.pretrain.tokenizer import train_tokenizer

    texts = []
    for task in ("ocnli", "c3", "chid", "tnews", "cmrc2018"):
        ds = load_split(task, "train")
        texts += [example_text(r) for r in ds.select(range(min(1500, len(ds))))]
    tok = train_tokenizer(texts, tmp / "tok", vocab_size=8000, char_sets=("ascii",), character_coverage=0.995)
    torch.manual_seed(0)
    lm = wrap(WeLM(preset(preset_name, vocab_size=tok.vocab_size, context_length=context)), tok, "bench")
    step = tmp / "run" / "checkpoints" / ck.step_name(1)
    step.mkdir(parents=True)
    torch.save(lm.model.state_dict(), step / ck.MODEL_FILE)
    ck.write_model_config(step, lm.model.config)
    tok.save(step / ck.TOKENIZER_DIR)
    state = {"step": 1, "tokenizer_fingerprint": tok.fingerprint(), "version": STATE_VERSION}
    (step / ck.STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    ck.write_manifest(step)
    ck.point_latest(tmp / "run" / "checkpoints", step)
    return lm, tmp / "run"


def _mean_choice_chars(task, template, rows: list[dict]) -> float:
    from weprompt.eval.examples import example_key, render_seed
    from weprompt.templates import render

    sizes = []
    for i, row in enumerate(rows):
        try:
            r = render(template, row, seed=render_seed(0, example_key(task.eval_split, i)))
        except Exception:
            continue
        sizes += [len(c) for c in r.answer_choices or []]
    return sum(sizes) / max(1, len(sizes))


def one_prompt_bank(tmp: Path, tasks: list[str], which: str) -> Path:
    """A bank dir holding one evaluation prompt per task: the first (the one `lmeval-task` writes by
    default) or the one with the longest answer choices (multi-token choices: where prefix sharing pays);
    `all`: every evaluation prompt."""
    from weprompt.data import load_split
    from weprompt.eval.examples import usable_templates

    root = tmp / f"bank-{which}"
    (root / "templates").mkdir(parents=True)
    shutil.copy(PACKAGE_BANK_DIR / "catalog.yaml", root / "catalog.yaml")
    catalog = bank_catalog(None)
    for name in tasks:
        task = catalog.task(name)
        used, _ = usable_templates(task, load_task_templates(name).templates)
        if which == "longest":
            rows = load_split(name, task.eval_split, catalog=catalog).select(range(20)).to_list()
            used = sorted(used, key=lambda t: -_mean_choice_chars(task, t, rows))
        kept = used if which == "all" else used[:1]
        (root / "templates" / f"{name}.yaml").write_text(dump_templates(name, kept), encoding="utf-8")
    return root


def time_lmeval(
    hf_dir: Path, task_dir: Path, names: list[str], batch_sizes: list[int]
) -> tuple[float, dict, dict[str, list]]:
    """The harness over the harness tasks `names` in one call, at each batch size: (best s, s by batch size,
    samples by task name)."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    best, per_bs, samples = float("inf"), {}, {}
    for bs in batch_sizes:
        model = HFLM(pretrained=str(hf_dir), dtype="float32", device="cpu", batch_size=bs)
        tm = TaskManager(include_path=str(task_dir), include_defaults=False)
        t0 = time.perf_counter()
        res = simple_evaluate(model=model, tasks=names, task_manager=tm, log_samples=True)
        dt = time.perf_counter() - t0
        per_bs[bs] = dt
        if dt < best:
            best, samples = dt, {n: res["samples"][n] for n in names}
    return best, per_bs, samples


def time_ours(lm: LoadedModel, task: str, n: int, bank: Path, tmp: Path, batch_sizes: list[int]):
    best, per_bs, results = float("inf"), {}, None
    for bs in batch_sizes:
        cache = tmp / f"cache-{task}-{bs}"
        t0 = time.perf_counter()
        res = evaluate(lm, [task], [0], limit=n, batch_size=bs, prefix_eos=False, negatives="all",
                       calibrate=False, bank_dir=str(bank), cache_dir=str(cache), progress=False)  # fmt: skip
        dt = time.perf_counter() - t0
        per_bs[bs] = dt
        if dt < best:
            best, results = dt, res
    return best, per_bs, results


def loglik_diff(
    lm: LoadedModel, samples: dict[str, list], results: dict, task: str
) -> tuple[float, int, int]:
    """max |harness loglik − (ours + log p("\\n" | query))| over requests of every prompt; (diff, requests,
    skipped examples). `samples`: the harness's, by harness task name (one per template)."""
    from weprompt.eval.cache import read_predictions
    from weprompt.pretrain.hf.lmeval import task_name

    worst, n, skipped = 0.0, 0, 0
    prompts = results["tasks"][task]["shots"]["0"]["prompts"]
    if {task_name(task, p["template_id"]) for p in prompts} != set(samples):
        raise RuntimeError(f"{task}: our prompts and the harness tasks differ")
    for prompt in prompts:
        ours = read_predictions(prompt["predictions"])
        w, k, sk = _loglik_diff_prompt(lm, samples[task_name(task, prompt["template_id"])], ours)
        worst, n, skipped = max(worst, w), n + k, skipped + sk
    return worst, n, skipped


def _loglik_diff_prompt(lm: LoadedModel, samples: list, ours: dict) -> tuple[float, int, int]:
    tok = lm.tokenizer
    worst, n, skipped = 0.0, 0, 0
    for s in samples:
        rec = ours.get(s["doc"]["key"])
        if rec is None or rec.get("error") or rec.get("truncated"):
            skipped += 1
            continue
        query = s["arguments"][0][0]
        ctx, full = tok.encode(query), tok.encode(query + "\n")
        if full[: len(ctx)] != ctx or len(ctx) + 1 > lm.config.context_length - max(
            map(len, rec["logprobs"])
        ):
            skipped += 1
            continue
        nl = sum(score_full(lm.model, ctx, [full[len(ctx) :]])[0])
        for ((ll, _greedy),), lps in zip(s["resps"], rec["logprobs"], strict=True):
            worst = max(worst, abs(ll - (nl + sum(lps))))
            n += 1
    return worst, n, skipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tasks", default="ocnli,c3")
    ap.add_argument("--preset", default="cpu_small", help="model shape (pretrain.model.PRESETS)")
    ap.add_argument("--context", type=int, default=512, help="context length of the bench model")
    ap.add_argument("--batch-sizes", default="1,8,32", help="ours: tried, best kept")
    ap.add_argument("--lmeval-batch-sizes", default="1,8,32", help="the harness: tried, best kept")
    ap.add_argument("--template", choices=("first", "longest", "all"), default="first",
                    help="each task's first evaluation prompt, the one with the longest answer choices, or all")  # fmt: skip
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from weprompt.cli.main import main as cli
    from weprompt.pretrain.hf.export import export_checkpoint

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    ours_bs = [int(x) for x in args.batch_sizes.split(",")]
    lm_bs = [int(x) for x in args.lmeval_batch_sizes.split(",")]
    summary: dict = {
        "template": args.template,
        "threads": args.threads,
        "examples": args.examples,
        "model": f"{args.preset}, context {args.context}",
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        lm, run = build_model(tmp, args.preset, args.context)
        export_checkpoint(run, tmp / "hf")
        bank = one_prompt_bank(tmp, tasks, args.template)
        print(
            f"model: {summary['model']}, {lm.describe()['parameters']:,} parameters, {args.threads} thread(s)"
        )
        tot = {"ours": 0.0, "lmeval": 0.0, "req": 0, "diff": 0.0}
        for task in tasks:
            tdir = tmp / f"lmeval-{task}"
            for tpl in load_task_templates(task, str(bank)).templates:
                cli(["lmeval-task", "--task", task, "--template", tpl.id, "--bank-dir", str(bank),
                     "--limit", str(args.examples), "--out", str(tdir)])  # fmt: skip
            names = sorted(f.stem for f in tdir.glob("*.yaml"))
            t_lm, lm_per, samples = time_lmeval(tmp / "hf", tdir, names, lm_bs)
            t_ours, ours_per, results = time_ours(lm, task, args.examples, bank, tmp, ours_bs)
            requests = sum(len(s["arguments"]) for ss in samples.values() for s in ss)
            diff, n_cmp, skipped = loglik_diff(lm, samples, results, task)
            row = {"prompts": len(names), "requests": requests, "ours_req_per_s": requests / t_ours, "lmeval_req_per_s": requests / t_lm,
                   "ratio": t_lm / t_ours, "max_abs_loglik_diff": diff, "compared": n_cmp, "skipped_examples": skipped,
                   "ours_s_by_batch": ours_per, "lmeval_s_by_batch": lm_per}  # fmt: skip
            summary[task] = row
            print(f"{task}: {json.dumps(row)}", flush=True)
            tot["ours"] += t_ours
            tot["lmeval"] += t_lm
            tot["req"] += requests
            tot["diff"] = max(tot["diff"], diff)
    summary.update(ours_req_per_s=tot["req"] / tot["ours"], lmeval_req_per_s=tot["req"] / tot["lmeval"],
                   ratio=tot["lmeval"] / tot["ours"], max_abs_loglik_diff=tot["diff"])  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
