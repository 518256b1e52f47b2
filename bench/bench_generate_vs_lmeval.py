"""Greedy generation throughput: `weprompt eval` vs lm-evaluation-harness `generate_until`, same model and prompts.

    python bench/bench_generate_vs_lmeval.py [--task cmrc2018] [--examples 100] [--threads 1]

The small exported model of `bench_eval_vs_lmeval.py`; the task's first evaluation prompt, rendered by our
templates for both tools (the harness task is a `generate_until` task over the rendered `input + "\\n"`,
stopping at a newline or after the same token budget; ours: no EOS before the prompt). Each tool at each of
`--batch-sizes`, best kept; model loading outside the timings. Checks that both produce the same answer
text per example (`same_answers`). Last line: a JSON object with `ours_ex_per_s`, `lmeval_ex_per_s`,
`ratio`, `same_answers`, and `decode_s_by_cache`: our decoder alone (`eval.batching.generate_batch` on the
same prompts at the best batch size) with the preallocated cache and with the list cache it replaced, both in
this run, and whether they decoded the same tokens (`same_tokens_static_vs_list`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import yaml
from bench_eval_vs_lmeval import build_model, one_prompt_bank

from weprompt.bank import bank_catalog, load_task_templates
from weprompt.common.atomic import atomic_write_text
from weprompt.data import load_split
from weprompt.eval.batching import generate_batch, length_batches
from weprompt.eval.cache import read_predictions
from weprompt.eval.examples import example_key, render_seed
from weprompt.eval.generate import Generator, max_new_tokens_for
from weprompt.eval.runner import evaluate
from weprompt.templates import TARGET_SEP, render


def write_generation_task(
    out: Path, task_name: str, bank: Path, n: int, max_new: int
) -> tuple[str, list[dict]]:
    catalog = bank_catalog(str(bank))
    task = catalog.task(task_name)
    (tpl,) = load_task_templates(task_name, str(bank)).templates
    rows = load_split(task_name, task.eval_split, catalog=catalog).select(range(n)).to_list()
    docs = []
    for i, row in enumerate(rows):
        key = example_key(task.eval_split, i)
        r = render(tpl, row, seed=render_seed(0, key))
        docs.append({"query": r.input + TARGET_SEP, "answer": r.target or "", "key": key})
    out.mkdir(parents=True, exist_ok=True)
    data = out / "gen.test.jsonl"
    atomic_write_text(data, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    name = f"weprompt_gen_{task_name}"
    spec = {
        "task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test", "output_type": "generate_until", "doc_to_text": "query", "doc_to_target": "answer",
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": max_new, "do_sample": False},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
    }  # fmt: skip
    atomic_write_text(out / f"{name}.yaml", yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))
    return name, docs


def time_decoders(lm, docs: list[dict], max_new: int, bs: int) -> tuple[dict, bool]:
    """Seconds of our decoder over the queries, preallocated vs list cache (alternating, best of 2)."""
    gen = Generator(lm.model, lm.tokenizer)
    ctx = lm.model.config.context_length
    prompts = [lm.tokenizer.encode(d["query"])[-(ctx - max_new) :] for d in docs]
    stops = [*gen.stop_ids, lm.tokenizer.eos_id]
    groups = length_batches([len(p) for p in prompts], bs)
    seconds: dict[str, float] = {"static": float("inf"), "list": float("inf")}
    tokens: dict[str, list] = {}
    for _ in range(2):
        for name in ("static", "list"):
            t0 = time.perf_counter()
            tokens[name] = [generate_batch(lm.model, [prompts[i] for i in g], [max_new] * len(g), stops,
                                           lm.tokenizer.pad_id, static_cache=name == "static") for g in groups]  # fmt: skip
            seconds[name] = min(seconds[name], time.perf_counter() - t0)
    return seconds, tokens["static"] == tokens["list"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="cmrc2018")
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-sizes", default="8,32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from weprompt.pretrain.hf.export import export_checkpoint

    sizes = [int(x) for x in args.batch_sizes.split(",")]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        lm, run = build_model(tmp, "cpu_small", 512)
        export_checkpoint(run, tmp / "hf")
        bank = one_prompt_bank(tmp, [args.task], "first")
        task = bank_catalog(str(bank)).task(args.task)
        max_new = max_new_tokens_for(task.task_type, task.category)
        name, docs = write_generation_task(tmp / "lmeval", args.task, bank, args.examples, max_new)
        ours_s, lm_s, ours_pred, lm_pred = {}, {}, {}, {}
        for bs in sizes:
            t0 = time.perf_counter()
            res = evaluate(lm, [args.task], [0], limit=args.examples, batch_size=bs, prefix_eos=False,
                           bank_dir=str(bank), cache_dir=str(tmp / f"c{bs}"), progress=False)  # fmt: skip
            ours_s[bs] = time.perf_counter() - t0
            (p,) = res["tasks"][args.task]["shots"]["0"]["prompts"]
            ours_pred = {k: r.get("prediction") for k, r in read_predictions(p["predictions"]).items()}
            model = HFLM(pretrained=str(tmp / "hf"), dtype="float32", device="cpu", batch_size=bs)
            tm = TaskManager(include_path=str(tmp / "lmeval"), include_defaults=False)
            t0 = time.perf_counter()
            out = simple_evaluate(model=model, tasks=[name], task_manager=tm, log_samples=True)
            lm_s[bs] = time.perf_counter() - t0
            lm_pred = {s["doc"]["key"]: s["filtered_resps"][0] for s in out["samples"][name]}
        best_bs = min(ours_s, key=lambda b: ours_s[b])
        decode_s, same_tokens = time_decoders(lm, docs, max_new, best_bs)
    same = sum(str(lm_pred.get(k, "")).split("\n")[0].strip() == (v or "") for k, v in ours_pred.items())
    n = len(docs)
    summary = {"task": args.task, "examples": n, "threads": args.threads, "max_new_tokens": max_new,
               "ours_s_by_batch": ours_s, "lmeval_s_by_batch": lm_s,
               "ours_ex_per_s": n / min(ours_s.values()), "lmeval_ex_per_s": n / min(lm_s.values()),
               "ratio": min(lm_s.values()) / min(ours_s.values()), "same_answers": f"{same}/{len(ours_pred)}",
               "decode_batch_size": best_bs, "decode_s_by_cache": decode_s,
               "same_tokens_static_vs_list": same_tokens}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
