"""Corpus pipeline benchmarks: per-step throughput, near-dup precision/recall, tokenizer size/speed.

    python bench/bench_corpus.py [--work runs/corpus] [--skip-tokenizer] [--out bench/results/corpus.json]

Needs a finished `weprompt corpus build` in --work (it reads summary.json for the step timings, the
rule-filtered documents for the near-dup set, and the cleaned corpus for the tokenizer). Parts:

1. steps: MB/s of each step (UTF-8 text bytes in / the step's own CPU-side seconds, summed over tasks,
   i.e. per core) and the wall seconds of each stage;
2. near-dup: SimHash precision/recall/F1 on the constructed set (pretrain/corpus/neardup_eval.py) at
   the configured shingle/Hamming and a few neighbours, with text-dedup's published numbers for its
   own benchmark as context (MinHash F1 0.952, SimHash F1 0.852; different data, not comparable 1:1);
3. langid: how often plain langdetect calls a real classical poem Korean (why the script guard);
4. tokenizer: training seconds, encode MB/s (2 threads) and tokens per character for several
   vocabulary sizes, on the same target-weighted sample the pipeline trains on.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from weprompt.common.config import load_config
from weprompt.pretrain.corpus.config import CorpusConfig
from weprompt.pretrain.corpus.neardup_eval import build_eval_set, evaluate
from weprompt.pretrain.corpus.text import HAN_RE

TEXT_DEDUP_REFERENCE = {"minhash_f1": 0.952, "simhash_f1": 0.852, "source": "text-dedup README benchmark"}


def step_throughput(work: Path) -> dict:
    summary = json.loads((work / "summary.json").read_text())
    steps = {
        r["step"]: {"mb_in": r["mb_in"], "seconds": r["seconds"], "mb_per_s": r["mb_per_s"]}
        for r in summary["steps"]
    }
    stages = summary["stage_seconds"]
    raw_mb = sum(r["raw_MB"] for r in summary["table1"])
    total = sum(stages.values())
    return {
        "steps": steps,
        "stage_seconds": stages,
        "pipeline_seconds": round(total, 1),
        "raw_MB_gz": round(raw_mb, 1),
        # Whole pipeline: JSONL bytes read / summed stage wall seconds.
        "pipeline_MB_per_s_jsonl": round(steps["read"]["mb_in"] / total, 3) if total else None,
    }


def read_rows(folder: Path, limit: int | None = None) -> list[dict]:
    import gzip

    rows = []
    for f in sorted(folder.glob("*.jsonl*")):
        opener = gzip.open if f.name.endswith(".gz") else open
        with opener(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                rows.append(json.loads(line))
                if limit and len(rows) >= limit:
                    return rows
    return rows


def neardup(work: Path, cfg: CorpusConfig, n_originals: int, n_distractors: int) -> dict:
    docs = [r["text"] for r in read_rows(work / "filtered")]
    es = build_eval_set(docs, n_originals, n_distractors, seed=0)
    out = {"originals": n_originals, "distractors": n_distractors, "edit_rate": es.rate, "runs": []}
    d = cfg.dedup
    for shingle, hamming in [
        (d.shingle, d.hamming),
        (d.shingle, d.hamming - 2),
        (d.shingle + 1, d.hamming),
        (3, 6),
    ]:
        t0 = time.perf_counter()
        res = evaluate(es, shingle, hamming, d.min_chars)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        out["runs"].append(res)
        print(
            f"  simhash shingle={shingle} hamming={hamming}: P={res['precision']} R={res['recall']} F1={res['f1']}"
        )
    out["text_dedup_reference"] = TEXT_DEDUP_REFERENCE
    return out


def langid(cfg: CorpusConfig, n: int = 400) -> dict:
    import gzip

    from weprompt.pretrain.corpus.langid import LanguageFilter

    path = cfg.resolved_corpus_dir() / "books" / "chinese_poetry_classical.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        poems = [json.loads(line)["text"] for i, line in enumerate(f) if i % 450 == 0]
    poems = poems[:n]
    plain, guarded = LanguageFilter(["zh", "en"], script_guard=False), LanguageFilter(["zh", "en"])
    t0 = time.perf_counter()
    labels = [plain.detect(p) for p in poems]
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    guard = [guarded.detect(p) for p in poems]
    t_guard = time.perf_counter() - t0
    return {
        "poems": len(poems),
        "plain_langdetect": {k: labels.count(k) for k in sorted(set(labels))},
        "with_script_guard": {k: guard.count(k) for k in sorted(set(guard))},
        "ms_per_doc_plain": round(1000 * t_plain / len(poems), 2),
        "ms_per_doc_guard": round(1000 * t_guard / len(poems), 3),
    }


def tokenizer(
    work: Path, cfg: CorpusConfig, sizes: list[int], coverages: list[float], eval_docs: int
) -> dict:
    from weprompt.pretrain.corpus.tokenize_stage import TokenizerTrainStep
    from weprompt.pretrain.tokenizer import Tokenizer, TokenizerError, train_tokenizer

    step = TokenizerTrainStep(str(work / "clean"), "", cfg.tokenizer, cfg.balance)
    texts, taken = step.sample()
    rows = read_rows(work / "clean")
    random.Random(1).shuffle(rows)
    rows = rows[:eval_docs]
    zh = [r["text"] for r in rows if r["metadata"].get("lang") == "zh"]
    en = [r["text"] for r in rows if r["metadata"].get("lang") == "en"]
    enc_texts = [r["text"] for r in rows]
    enc_mb = sum(len(t.encode()) for t in enc_texts) / 1e6
    out = {"sample_chars": sum(taken.values()), "sample_by_source": taken, "sizes": []}
    for vs, cov in [(v, c) for v in sizes for c in coverages]:
        t0 = time.perf_counter()
        out_dir = work / "bench_tokenizers" / f"{vs}_{cov}"
        try:
            tok = train_tokenizer(texts, out_dir, vs, seed=0, character_coverage=cov, max_chars=None)
        except TokenizerError as e:  # coverage needs more single-character pieces than the vocabulary has
            out["sizes"].append({"vocab_size": vs, "character_coverage": cov, "infeasible": str(e)[-120:]})
            print(f"  vocab {vs} coverage {cov}: infeasible")
            continue
        train_s = time.perf_counter() - t0
        tok = Tokenizer.load(out_dir, num_threads=2)
        t0 = time.perf_counter()
        ids = tok.encode_batch(enc_texts)
        enc_s = time.perf_counter() - t0
        zh_tokens = sum(len(x) for x in tok.encode_batch(zh))
        zh_chars = sum(len(t) for t in zh)
        han = sum(len(HAN_RE.findall(t)) for t in zh)
        en_tokens = sum(len(x) for x in tok.encode_batch(en))
        en_chars = sum(len(t) for t in en)
        en_words = sum(len(t.split()) for t in en)
        res = {
            "vocab_size": vs,
            "character_coverage": cov,
            "byte_fallback_share": round(
                sum(tok.id_to_piece(i).startswith("<0x") for x in ids for i in x) / sum(map(len, ids)), 4
            ),
            "train_seconds": round(train_s, 1),
            "encode_MB_per_s_2threads": round(enc_mb / enc_s, 2),
            "tokens_per_zh_char": round(zh_tokens / zh_chars, 3),
            "tokens_per_han_char": round(zh_tokens / han, 3),
            "tokens_per_en_char": round(en_tokens / en_chars, 3),
            "tokens_per_en_word": round(en_tokens / en_words, 3),
            "roundtrip_ok": all(tok.decode(i) == t for i, t in zip(ids[:500], enc_texts[:500], strict=True)),
        }
        out["sizes"].append(res)
        print(f"  vocab {vs}: {res}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/corpus/cpu.yaml")
    ap.add_argument("--work", default=None, help="a finished build's work dir (default: the config's)")
    ap.add_argument("--originals", type=int, default=2000)
    ap.add_argument("--distractors", type=int, default=100_000)
    ap.add_argument("--vocab-sizes", default="8000,12000,16000")
    ap.add_argument("--coverages", default="0.995,0.999,0.9995")
    ap.add_argument("--skip-neardup", action="store_true")
    ap.add_argument("--eval-docs", type=int, default=20000)
    ap.add_argument("--skip-tokenizer", action="store_true")
    ap.add_argument("--out", default="bench/results/corpus.json")
    args = ap.parse_args()
    cfg = load_config(CorpusConfig, args.config)
    work = Path(args.work) if args.work else cfg.resolved_work_dir()
    results: dict = {"work": str(work)}
    print("steps (from summary.json):")
    results["throughput"] = step_throughput(work)
    for name, st in results["throughput"]["steps"].items():
        print(f"  {name:<17} {st['mb_in']:>8} MB {st['seconds']:>8} s {st['mb_per_s']} MB/s")
    print(f"  pipeline: {results['throughput']['pipeline_seconds']} s (stage wall seconds, summed)")
    if not args.skip_neardup:
        print("near-dup:")
        results["neardup"] = neardup(work, cfg, args.originals, args.distractors)
    print("langid:")
    results["langid"] = langid(cfg)
    print(f"  {results['langid']}")
    if not args.skip_tokenizer:
        print("tokenizer:")
        sizes = [int(x) for x in args.vocab_sizes.split(",")]
        coverages = [float(x) for x in args.coverages.split(",")]
        results["tokenizer"] = tokenizer(work, cfg, sizes, coverages, args.eval_docs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
