"""Near-dup P/R/F1 of both methods on the labelled Chinese set: SimHash (ours, staged) and datatrove's
MinHash on character shingles.

    python bench/bench_neardup.py [--work /path/to/finished/build] [--out bench/results/neardup.json]

The set is the one of bench_corpus.py (pretrain/corpus/neardup_eval.py): real rule-filtered documents
of a finished build (`<work>/filtered`), 2,000 originals with one edited copy each (about 5 % of the
characters changed), 100,000 real distractors, seed 0; truth = same original, or character 3-gram
Jaccard >= 0.7. SimHash runs at the config's shingle/Hamming; MinHash at the config's settings and the
neighbours given with --minhash (n-gram,buckets,hashes_per_bucket).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench_corpus import TEXT_DEDUP_REFERENCE, read_rows

from weprompt.common.config import load_config
from weprompt.pretrain.corpus.config import CorpusConfig
from weprompt.pretrain.corpus.neardup_eval import build_eval_set, evaluate, minhash_labels, score_labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/corpus/cpu.yaml")
    ap.add_argument("--work", default=None, help="a finished build's work dir (default: the config's)")
    ap.add_argument("--originals", type=int, default=2000)
    ap.add_argument("--distractors", type=int, default=100_000)
    ap.add_argument("--minhash", nargs="*", default=["5,14,8", "3,14,8", "5,20,5", "4,9,13"])
    ap.add_argument("--out", default="bench/results/neardup.json")
    args = ap.parse_args()
    cfg = load_config(CorpusConfig, args.config)
    work = Path(args.work) if args.work else cfg.resolved_work_dir()
    docs = [r["text"] for r in read_rows(work / "filtered")]
    es = build_eval_set(docs, args.originals, args.distractors, seed=0)
    d = cfg.dedup
    runs = []
    t0 = time.perf_counter()
    res = evaluate(es, d.shingle, d.hamming, d.min_chars)
    runs.append(res | {"seconds": round(time.perf_counter() - t0, 1)})
    print(
        f"simhash shingle={d.shingle} hamming={d.hamming}: P={res['precision']} R={res['recall']} F1={res['f1']}"
    )
    for spec in args.minhash:
        ng, nb, hb = (int(x) for x in spec.split(","))
        md = replace(d, minhash_ngram=ng, minhash_buckets=nb, minhash_hashes_per_bucket=hb)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            labels = minhash_labels(es, md, tmp)
        res = {"method": "minhash", "ngram": ng, "buckets": nb, "hashes_per_bucket": hb}
        res |= score_labels(es, labels) | {"seconds": round(time.perf_counter() - t0, 1)}
        runs.append(res)
        print(f"minhash {spec}: P={res['precision']} R={res['recall']} F1={res['f1']} ({res['seconds']} s)")
    out = {
        "work": str(work),
        "originals": args.originals,
        "distractors": args.distractors,
        "edit_rate": es.rate,
        "runs": runs,
        "text_dedup_reference": TEXT_DEDUP_REFERENCE,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
