"""Rank-scoring throughput: shared-prefix KV cache vs each (input, choice) pair as its own sequence.

Both paths score the same prompts and choices with the same model in the same run, example by
example, alternating which goes first; the separate path is given its best case (the C pair
sequences of an example in one right-padded batch). Every shared-prefix log-probability is compared
with the plain full-sequence one (max abs difference over all examples, fp32).

    python bench/bench_eval.py [--model runs/base] [--examples 60] [--threads 1]

Without --model (or when the checkpoint is absent) a randomly initialised `cpu_base` WeLM (6 layers,
d 384, context 256) with a tokenizer trained here on task text is used: throughput depends on the
shapes, not on the weights. Prompts: the first original-task prompt of the bank for CHID and OCNLI,
or the built-in fallback below when the bank has none yet (printed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from weprompt.bank import bank_catalog, load_task_templates
from weprompt.data import load_split
from weprompt.eval.examples import PromptBuilder, example_key, usable_templates
from weprompt.eval.modelio import LoadedModel, load, wrap
from weprompt.eval.scoring import score_choices, score_full
from weprompt.templates import Template, TemplateMetadata

FALLBACK = {
    "chid": Template(
        name="bench_成语填空",
        jinja="{{content.replace('#idiom#', '____')}}\n横线处应填哪个成语？ ||| {{candidates[answer]}}",
        answer_choices="{{candidates | join(' ||| ')}}",
        metadata=TemplateMetadata(original_task=True),
    ),
    "ocnli": Template(
        name="bench_关系",
        jinja="“{{sentence1}}”和“{{sentence2}}”是什么关系？ ||| {{answer_choices[label_id]}}",
        answer_choices="蕴含 ||| 中立 ||| 矛盾",
        metadata=TemplateMetadata(original_task=True),
    ),
}


def random_base(tmp: Path, catalog) -> LoadedModel:
    from weprompt.leakage import example_text
    from weprompt.pretrain.model import WeLM, preset
    from weprompt.pretrain.tokenizer import train_tokenizer

    texts = []
    for task in ("ocnli", "chid", "c3", "tnews", "cmrc2018"):
        ds = load_split(task, "train", catalog=catalog)
        texts += [example_text(r) for r in ds.select(range(min(1500, len(ds))))]
    tok = train_tokenizer(texts, tmp / "tok", vocab_size=8000, char_sets=("ascii",), character_coverage=0.995)
    torch.manual_seed(0)
    return wrap(WeLM(preset("cpu_base", vocab_size=tok.vocab_size)), tok, name="random cpu_base")


def _requests(lm: LoadedModel, task, template, rows) -> list[tuple[list[int], list[list[int]]]]:
    b = PromptBuilder(
        task, template, lm.tokenizer, lm.config.context_length, 0, 0, [], "train", task.eval_split
    )
    out = []
    for i, row in enumerate(rows):
        key = example_key(task.eval_split, i)
        r = b.render(row, key)
        choices, _ = b.choices(r, key)
        ids = lm.tokenizer.encode_batch(choices)
        prompt = b.prompt([], r.input, max(map(len, ids)))
        out.append((prompt.ids, ids))
    return out


def prompt_sets(lm: LoadedModel, task_name: str, n: int, bank_dir: str | None) -> list[tuple[str, list]]:
    """The bank's first prompt, and its prompt with the longest verbalizers when that is another one
    (letters as choices make a one-token case; idioms or label words the multi-token one)."""
    catalog = bank_catalog(bank_dir)
    task = catalog.task(task_name)
    used, _ = usable_templates(task, load_task_templates(task_name, bank_dir).templates)
    rows = load_split(task_name, task.eval_split, catalog=catalog).select(range(n)).to_list()
    if not used:
        return [(f"{FALLBACK[task_name].name} (built-in)", _requests(lm, task, FALLBACK[task_name], rows))]
    sets = [(f"{used[0].name} (bank)", _requests(lm, task, used[0], rows))]
    probe = {t.id: _requests(lm, task, t, rows[:5]) for t in used[1:]}
    mean_len = {
        k: sum(len(c) for _, cs in v for c in cs) / sum(len(cs) for _, cs in v) for k, v in probe.items()
    }
    first_len = sum(len(c) for _, cs in sets[0][1] for c in cs) / sum(len(cs) for _, cs in sets[0][1])
    if mean_len and max(mean_len.values()) > first_len:
        longest = next(t for t in used if t.id == max(mean_len, key=mean_len.get))
        sets.append((f"{longest.name} (bank)", _requests(lm, task, longest, rows)))
    return sets


def bench_task(lm: LoadedModel, task: str, name: str, reqs: list) -> dict:
    pad = lm.tokenizer.pad_id
    for prefix, choices in reqs[:2]:  # warm-up, untimed
        score_choices(lm.model, prefix, choices, pad)
        score_full(lm.model, prefix, choices, pad)
    t_shared = t_sep = max_diff = 0.0
    for i, (prefix, choices) in enumerate(reqs):
        out = {}
        for which in ("shared", "sep") if i % 2 == 0 else ("sep", "shared"):
            fn = score_choices if which == "shared" else score_full
            t0 = time.perf_counter()
            out[which] = fn(lm.model, prefix, choices, pad)
            dt = time.perf_counter() - t0
            if which == "shared":
                t_shared += dt
            else:
                t_sep += dt
        pairs = zip(out["shared"], out["sep"], strict=True)
        max_diff = max(max_diff, max(abs(x - y) for a, b in pairs for x, y in zip(a, b, strict=True)))
    n_choices = sum(len(c) for _, c in reqs) / len(reqs)
    prompt_tokens = sum(len(p) for p, _ in reqs) / len(reqs)
    choice_tokens = sum(len(x) for _, c in reqs for x in c) / sum(len(c) for _, c in reqs)
    return {
        "task": task,
        "prompt": name,
        "examples": len(reqs),
        "choices": n_choices,
        "prompt_tokens": prompt_tokens,
        "choice_tokens": choice_tokens,
        "shared_ex_per_s": len(reqs) / t_shared,
        "separate_ex_per_s": len(reqs) / t_sep,
        "speedup": t_sep / t_shared,
        "max_abs_diff": max_diff,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="checkpoint (default: runs/base when present, else a random cpu_base)")
    ap.add_argument("--examples", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    ap.add_argument("--bank-dir", help="prompt bank dir (default: the installed prompt_bank/)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = args.model or ("runs/base" if Path("runs/base").exists() else None)
    with tempfile.TemporaryDirectory() as tmp:
        lm = load(path) if path else random_base(Path(tmp), bank_catalog(args.bank_dir))
        print(f"model: {lm.name}, {sum(p.numel() for p in lm.model.parameters()):,} parameters, "
              f"context {lm.config.context_length}, fp32, {torch.get_num_threads()} thread(s)")  # fmt: skip
        print("| task | prompt | examples | choices | prompt tok | choice tok | shared ex/s | separate ex/s "
              "| speed-up | max abs diff |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|")
        for task in ("chid", "ocnli"):
            for name, reqs in prompt_sets(lm, task, args.examples, args.bank_dir):
                r = bench_task(lm, task, name, reqs)
                print(f"| {r['task']} | {r['prompt']} | {r['examples']} | {r['choices']:.1f} | {r['prompt_tokens']:.0f} "
                      f"| {r['choice_tokens']:.1f} | {r['shared_ex_per_s']:.1f} | {r['separate_ex_per_s']:.1f} "
                      f"| {r['speedup']:.2f}× | {r['max_abs_diff']:.1e} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
