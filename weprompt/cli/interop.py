"""`weprompt export`, `weprompt import-hf`, `weprompt lmeval-task`: the Hugging Face ecosystem (docs/interop.md).

export        a checkpoint → a transformers directory (GPT-NeoX, fast tokenizer, model card), verified
import-hf     such a directory → our checkpoint (exact inverse), e.g. a base for `weprompt finetune`
lmeval-task   one bank template on one task → an lm-evaluation-harness task (YAML + rendered JSONL)
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a WeLM / WePrompt checkpoint as a Hugging Face transformers directory",
        description="Write config.json, model.safetensors, tokenizer files, generation config and a model card "
        "(GPT-NeoX architecture: loads with plain transformers, no custom code). The directory is staged and "
        "checked with transformers (logits and tokenizer) before it appears under --out.",
    )
    p.add_argument("--checkpoint", required=True, help="step, checkpoints or run directory")
    p.add_argument("--out", required=True, help="output directory (must not exist unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing export in --out")
    p.add_argument(
        "--no-verify", action="store_true", help="skip the transformers check (faster for big models)"
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import-hf",
        help="turn a transformers directory (GPT-NeoX in WeLM's configuration) into our checkpoint",
        description="The inverse of `weprompt export` (exact). Writes <out>/checkpoints/step_N with model.pt, "
        "model_config.yaml and tokenizer/, usable as `base` for `weprompt finetune` or as a model to evaluate.",
    )
    p.add_argument("hf_dir", help="directory with config.json, model.safetensors and tokenizer.model")
    p.add_argument("--out", required=True, help="run directory to create (must not exist unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing import in --out")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "lmeval-task",
        help="write an lm-evaluation-harness task (YAML + JSONL) from one bank template",
        description="Render one template of the bank on a task's evaluation split (and optionally train rows "
        "for few-shot) and write a harness task using our prompt layout. Then run e.g. `lm_eval --model hf "
        "--model_args pretrained=<export dir>,dtype=float32 --include_path <out> --tasks <name>`.",
    )
    p.add_argument("--task", required=True, help="task name of the catalog, e.g. ocnli")
    p.add_argument("--template", help="template name or id (default: the first evaluation template)")
    p.add_argument("--out", required=True, help="directory for the YAML and JSONL files")
    p.add_argument("--limit", type=int, default=200, help="evaluation examples to write (default 200)")
    p.add_argument("--fewshot-rows", type=int, default=0, help="train rows to write for --num_fewshot")
    p.add_argument("--seed", type=int, default=0, help="render seed, as `weprompt eval --seed`")
    p.add_argument("--bank-dir", help="prompt bank directory (default: the package's)")
    p.add_argument("--data-dir", help="task data directory (default: ../shared/data)")
    p.set_defaults(func=cmd_lmeval_task)


def cmd_export(args: argparse.Namespace) -> int:
    from weprompt.pretrain.hf.export import export_checkpoint

    r = export_checkpoint(args.checkpoint, args.out, force=args.force, verify=not args.no_verify)
    print(f"exported {r.step_dir} -> {r.out}")
    print(f"files: {', '.join(r.files)}")
    if r.verified:
        v = r.verified
        print(
            f"verified with transformers {v['transformers']}: max |logit diff| {v['max_abs_logit_diff']:.2e} "
            f"over {v['tokens']} tokens; tokenizer equal on {v['tokenizer_texts']} probe texts"
        )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from weprompt.pretrain.hf.import_ import import_hf

    r = import_hf(args.hf_dir, args.out, force=args.force)
    c = r.config
    print(f"imported {args.hf_dir} -> {r.step_dir}")
    print(
        f"model: {c.n_layer} layers, d_model {c.d_model}, {c.n_head} heads, context {c.context_length}, "
        f"vocab {c.vocab_size}; tokenizer {r.tokenizer_fingerprint[:12]}"
    )
    print(f"fine-tune from it: weprompt finetune --set base={r.out} ...")
    return 0


def _rendered_examples(
    template, rows: list[dict], split: str, seed: int
) -> tuple[list[dict], dict[str, str]]:
    """The rows the template renders into scorable items, and `{example key: why}` for the rows left out."""
    from weprompt.eval.examples import example_key, render_seed
    from weprompt.templates import TemplateError, render

    out, dropped = [], {}
    for i, row in enumerate(rows):
        key = example_key(split, i)
        try:
            r = render(template, row, seed=render_seed(seed, key))
        except TemplateError as e:  # left out and reported, as `weprompt eval` counts it
            dropped[key] = str(e)
            continue
        if not r.input.strip() or not r.answer_choices or r.target not in r.answer_choices:
            dropped[key] = "empty input, no answer choices, or a target that is not one of them"
            continue
        out.append(
            {
                "query": r.input,
                "choices": r.answer_choices,
                "gold": r.answer_choices.index(r.target),
                "key": key,
            }
        )
    return out, dropped


def _report_dropped(what: str, dropped: dict[str, str]) -> None:
    if dropped:
        key, why = next(iter(dropped.items()))
        print(
            f"left out {len(dropped)} {what} row(s) the template cannot render; first, {key}: {why}",
            file=sys.stderr,
        )


def cmd_lmeval_task(args: argparse.Namespace) -> int:
    from weprompt.bank import load_bank
    from weprompt.common.errors import UserError
    from weprompt.data import iter_rows
    from weprompt.eval.examples import usable_templates
    from weprompt.pretrain.hf.lmeval import task_name, write_task

    catalog, bank = load_bank(args.bank_dir, tasks=[args.task])
    task = catalog.task(args.task)
    if not task.is_rank:
        raise UserError(
            f"task '{args.task}' is not a rank-classification task; lmeval-task writes multiple_choice tasks"
        )
    used, _ = usable_templates(task, bank[task.name].templates)
    if args.template:
        used = [t for t in bank[task.name].templates if args.template in (t.name, t.id)]
    if not used:
        raise UserError(
            f"task '{args.task}': no evaluation template{' ' + repr(args.template) if args.template else ''}"
        )
    tpl = used[0]
    split = task.eval_split
    rows = list(iter_rows(task.name, split, args.data_dir, limit=args.limit, catalog=catalog))
    examples, dropped = _rendered_examples(tpl, rows, split, args.seed)
    _report_dropped(split, dropped)
    fewshot = None
    if args.fewshot_rows > 0 and "train" in task.splits:
        train = list(iter_rows(task.name, "train", args.data_dir, limit=args.fewshot_rows, catalog=catalog))
        fewshot, dropped = _rendered_examples(tpl, train, "train", args.seed)
        _report_dropped("few-shot", dropped)
    name = task_name(task.name, tpl.id)
    meta = {"weprompt_task": task.name, "template_id": tpl.id, "template_name": tpl.name, "split": split}
    path = write_task(args.out, name, examples, fewshot, meta)
    print(f"wrote {path} ({len(examples)} examples{f', {len(fewshot)} few-shot rows' if fewshot else ''})")
    print(
        f"run: lm_eval --model hf --model_args pretrained=<export dir>,dtype=float32 --device cpu "
        f"--include_path {path.parent} --tasks {name}"
    )
    return 0
