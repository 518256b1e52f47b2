"""`weprompt corpus build|summary` and `weprompt tokenizer train|encode`.

Registration imports nothing heavy; datatrove, sentencepiece and numpy load inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from weprompt.common.errors import UserError

DEFAULT_CONFIG = "configs/corpus/cpu.yaml"


def register(subparsers) -> None:
    corpus = subparsers.add_parser(
        "corpus", help="pretraining corpus pipeline (clean, dedup, balance, shards)"
    )
    csub = corpus.add_subparsers(dest="corpus_cmd", metavar="<action>")
    build = csub.add_parser(
        "build",
        help="raw corpus -> cleaned corpus -> tokenizer -> token shards, with the Table-1 summary",
        description="Run every stage (finished stages are skipped) and print the summary tables.",
    )
    _config_args(build)
    build.add_argument("--only", action="append", metavar="STAGE", help="run only this stage (repeatable)")
    build.add_argument("--verbose", action="store_true", help="show datatrove's per-task logs")
    build.set_defaults(func=_build)
    summary = csub.add_parser("summary", help="print the summary of an earlier build")
    _config_args(summary)
    summary.set_defaults(func=_summary)
    corpus.set_defaults(func=lambda a: _help(corpus))

    tok = subparsers.add_parser("tokenizer", help="train or try a SentencePiece tokenizer")
    tsub = tok.add_subparsers(dest="tokenizer_cmd", metavar="<action>")
    train = tsub.add_parser("train", help="train a tokenizer on text / JSONL files or a cleaned corpus dir")
    train.add_argument("inputs", nargs="+", help="files (.txt, .jsonl, .jsonl.gz) or directories of them")
    train.add_argument("--out", required=True, help="output directory (tokenizer.model, .vocab, .json)")
    train.add_argument("--vocab-size", type=int, default=16000)
    train.add_argument("--model-type", choices=["unigram", "bpe"], default="bpe")
    train.add_argument("--character-coverage", type=float, default=0.9995)
    train.add_argument("--max-chars", type=int, default=20_000_000, help="training sample size in characters")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=_tokenizer_train)
    enc = tsub.add_parser("encode", help="show how a tokenizer splits a text")
    enc.add_argument("tokenizer", help="tokenizer dir or .model file")
    enc.add_argument("text")
    enc.set_defaults(func=_tokenizer_encode)
    tok.set_defaults(func=lambda a: _help(tok))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"corpus config YAML (default {DEFAULT_CONFIG})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. tasks=2")


def _load(args):
    from weprompt.common.config import load_config
    from weprompt.pretrain.corpus.config import CorpusConfig

    return load_config(CorpusConfig, Path(args.config), args.set)


def _build(args) -> int:
    from rich.console import Console

    from weprompt.pretrain.corpus.pipeline import CorpusPipeline

    cfg = _load(args)
    pipe = CorpusPipeline(cfg, verbose=args.verbose)
    console = Console(stderr=True)
    console.print(f"[bold]corpus build[/] {pipe.corpus_dir} -> {pipe.work.root}")
    unknown = set(args.only or []) - {s.name for s in pipe.stages}
    if unknown:
        raise UserError(f"unknown stage(s) {sorted(unknown)}; stages: {[s.name for s in pipe.stages]}")

    def progress(stage: str, state: str) -> None:
        console.print(f"  [cyan]{stage:<15}[/] {state}")

    pipe.run(only=args.only, progress=progress)
    if cfg.executor.kind == "slurm":
        console.print("submitted to Slurm; `weprompt corpus summary` reports once the jobs have finished")
        return 0
    _print_summary(pipe.write_summary())
    return 0


def _summary(args) -> int:
    from weprompt.pretrain.corpus.pipeline import CorpusPipeline

    pipe = CorpusPipeline(_load(args))
    if not (pipe.work.root / "summary.json").is_file():
        raise UserError(f"no summary in {pipe.work.root}; run `weprompt corpus build` first")
    _print_summary(pipe.write_summary())
    return 0


def _print_summary(summary: dict) -> None:
    from weprompt.pretrain.corpus.stats import print_rich_table

    print_rich_table(
        "Pipeline steps", summary["steps"], ["step", "docs_in", "kept", "dropped", "seconds", "mb_per_s"]
    )
    cols = [
        "source",
        "raw_MB",
        "docs_raw",
        "pct_filtered",
        "tokens_left",
        "share_before",
        "target",
        "share_after",
    ]
    print_rich_table("Table 1: sources (WeLM-style)", summary["table1"], cols)
    q = summary.get("quality") or {}
    if q:
        m = q["metrics"]
        key = next(k for k in m if k not in ("n", "at_0.5"))
        print(
            f"quality classifier (held-out n={m['n']}): {key}: P={m[key]['precision']} R={m[key]['recall']}"
        )
    b = summary.get("balance") or {}
    if b:
        print(
            f"English share: {b['english_share_before']} before, {b['english_share_after']} after balancing"
        )
        print(f"shards: {b['tokens_in_stream']:,} tokens, {b['documents_in_stream']:,} documents")
    stages = summary.get("stage_seconds") or {}
    if stages:
        print(
            "stage seconds: "
            + ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
            + f"; total {sum(stages.values()):.0f}"
        )
    out = summary["outputs"]
    print(f"tokenizer: {out['tokenizer']}\nshards:    {out['shards']}\ncleaned:   {out['clean']}")


def _iter_texts(inputs: list[str]):
    import io
    import json

    from weprompt.common.gzfile import open_maybe_gzip

    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(
                f for f in p.rglob("*") if f.is_file() and f.name.endswith((".txt", ".jsonl", ".jsonl.gz"))
            )
        elif p.is_file():
            files.append(p)
        else:
            raise UserError(f"{item}: no such file or directory")
    for f in files:
        with open_maybe_gzip(f) as raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as fh:
            if f.name.endswith(".txt"):
                yield fh.read()
                continue
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    text = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError) as e:
                    raise UserError(f"{f}:{n}: not a JSON object ({e})") from e
                if isinstance(text, str):
                    yield text


def _tokenizer_train(args) -> int:
    import time

    from weprompt.pretrain.tokenizer import train_tokenizer

    t0 = time.perf_counter()
    tok = train_tokenizer(
        _iter_texts(args.inputs),
        args.out,
        vocab_size=args.vocab_size,
        seed=args.seed,
        model_type=args.model_type,
        character_coverage=args.character_coverage,
        max_chars=args.max_chars,
    )
    print(f"{tok} -> {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _tokenizer_encode(args) -> int:
    from weprompt.pretrain.tokenizer import Tokenizer

    tok = Tokenizer.load(args.tokenizer)
    ids = tok.encode(args.text)
    sys.stdout.write(" ".join(f"{tok.id_to_piece(i)!r}:{i}" for i in ids) + "\n")
    return 0
