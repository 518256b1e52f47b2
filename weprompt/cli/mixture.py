"""`weprompt mixture show|export`: a fine-tuning config's mixture, planned and realised, without training."""

from __future__ import annotations

import argparse
import json
import sys


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="fine-tuning YAML (weprompt.finetune.FinetuneConfig)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mixture", help="show or export a fine-tuning config's task mixture without training")
    verbs = p.add_subparsers(dest="mixture_verb", metavar="<show|export>", required=True)
    s = verbs.add_parser(
        "show",
        help="planned shares per category/task and the realised mixture of the first packed sequences",
        description="Draws and packs the first --sequences sequences exactly as `weprompt finetune` would "
        "(tokenizer of the config's base checkpoint) and prints planned vs realised shares.",
    )
    _common(s)
    s.add_argument("--sequences", type=int, default=200, help="packed sequences to draw (default 200)")
    s.add_argument("--json", action="store_true", help="print the tables as JSON")
    s.set_defaults(func=cmd_show)
    e = verbs.add_parser(
        "export",
        help="write the rendered, sampled, capped mixture for other trainers (jsonl or LLaMA-Factory)",
        description="The first --examples draws of the training stream as input/target pairs with task, "
        "category and template id; --format llamafactory writes alpaca-style records and dataset_info.json.",
    )
    _common(e)
    e.add_argument("--format", choices=["jsonl", "llamafactory"], default="jsonl")
    e.add_argument("--out", required=True, help="output directory")
    e.add_argument("--examples", type=int, default=10000, help="draws to export (default 10000)")
    e.add_argument("--name", default="weprompt_mixture", help="dataset (and file) name")
    e.set_defaults(func=cmd_export)


def _config(args: argparse.Namespace):
    from weprompt.common.config import load_config
    from weprompt.finetune import FinetuneConfig

    return load_config(FinetuneConfig, args.config, list(args.set))


def _positive(value: int, flag: str) -> int:
    from weprompt.common.errors import UserError

    if value < 1:
        raise UserError(f"{flag} must be >= 1, got {value}")
    return value


def cmd_show(args: argparse.Namespace) -> int:
    from weprompt.finetune import BASE_HINT
    from weprompt.mixture import render_markdown
    from weprompt.mixture_tools import show_mixture
    from weprompt.pretrain import checkpoint as ckpt
    from weprompt.pretrain.tokenizer import Tokenizer

    cfg = _config(args)
    base_dir = ckpt.open_checkpoint(cfg.base, hint=BASE_HINT)
    model_cfg = ckpt.read_model_config(base_dir)
    tok = Tokenizer.load(base_dir / ckpt.TOKENIZER_DIR)
    table = show_mixture(cfg, tok, model_cfg.context_length + 1, _positive(args.sequences, "--sequences"))
    if args.json:
        print(json.dumps(table, ensure_ascii=False, indent=1))
    else:
        r = table["realised"]
        sys.stdout.write(render_markdown(table["planned"], r))
        print(f"\n{r['sequences']} sequences drawn; packing efficiency {r['packing_efficiency']:.4f}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from weprompt.mixture_tools import export_mixture

    cfg = _config(args)
    files = export_mixture(
        cfg, Path(args.out), args.format, _positive(args.examples, "--examples"), args.name
    )
    for f in files:
        print(f)
    return 0
