"""Per-stage throughput of the corpus pipeline with tasks = 1 vs 2 (vs more), and a projection to 1 TB.

    python bench/bench_corpus_scale.py [--fraction 0.1] [--tasks 1,2] [--out bench/results/corpus_scale.json]

Builds a slice of the shared corpus (the first `fraction` of the lines of every file, gzip JSONL, under
--root), runs `weprompt corpus build` on it once per task count (tasks = workers, fresh work dir each),
and reads each stage's wall seconds (logs/<stage>/SECONDS). MB/s of a stage = MB of raw corpus JSONL in
the slice / the stage's wall seconds, so stage rates add up as times: wall(X MB) = sum X / rate.

The projection (printed and stored, clearly a projection): wall time for 1 TB of raw JSONL on C cores,
taking each parallel stage's measured single-task rate as the per-core rate times C (perfect scaling,
which the 1 vs 2 speed-up on this host bounds; minhash_buckets at most one core a bucket), the stages that run as one task at their single-task
rate (dedup_clusters and shards grow with the data; quality_train, decontam_index and tokenizer work
on fixed-size samples, so they are kept at their measured seconds).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

from weprompt.common.config import load_config
from weprompt.pretrain.corpus.config import CorpusConfig
from weprompt.pretrain.corpus.pipeline import CorpusPipeline

FIXED_SIZE = {"quality_train", "decontam_index", "tokenizer"}  # work on samples of a fixed size


def make_slice(corpus: Path, out: Path, fraction: float) -> float:
    """The first `fraction` of every file's lines; returns the slice's MB of uncompressed JSONL."""
    total = 0
    for f in sorted(corpus.glob("*/*.jsonl*")):
        with gzip.open(f, "rb") if f.suffix == ".gz" else open(f, "rb") as fh:
            lines = fh.readlines()
        keep = lines[: max(1, int(len(lines) * fraction))]
        total += sum(map(len, keep))
        dst = out / f.parent.name / (f.name if f.suffix == ".gz" else f.name + ".gz")
        dst.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(dst, "wb", compresslevel=1) as g:
            g.writelines(keep)
    return total / 1e6


def build(config: str, corpus: Path, work: Path, tasks: int) -> dict[str, float]:
    overrides = [f"corpus_dir={corpus}", f"work_dir={work}", f"tasks={tasks}", f"workers={tasks}"]
    overrides.append("reader.progress=false")
    pipe = CorpusPipeline(load_config(CorpusConfig, config, overrides))
    pipe.run()
    return pipe.stage_seconds()


def projection(
    rates1: dict[str, float], secs1: dict[str, float], parallel: dict[str, int], cores: int
) -> dict:
    """`parallel`: stage -> its most useful tasks (0 = any number, e.g. MinHash buckets: one a bucket)."""
    mb = 1e6  # 1 TB
    per_stage = {}
    for stage, rate in rates1.items():
        if stage in FIXED_SIZE:
            per_stage[stage] = secs1[stage]
        elif stage in parallel:
            per_stage[stage] = mb / (rate * min(cores, parallel[stage] or cores))
        else:
            per_stage[stage] = mb / rate
    return {
        "cores": cores,
        "hours": round(sum(per_stage.values()) / 3600, 1),
        "stage_hours": {k: round(v / 3600, 2) for k, v in per_stage.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/corpus/cpu.yaml")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--tasks", default="1,2")
    ap.add_argument("--cores", default="16,64,256,1024")
    ap.add_argument("--root", default="runs/bench_scale")
    ap.add_argument("--out", default="bench/results/corpus_scale.json")
    ap.add_argument("--reproject", action="store_true", help="only redo the projection of --out's runs")
    args = ap.parse_args()
    cfg = load_config(CorpusConfig, args.config)
    if args.reproject:
        write_projection(json.loads(Path(args.out).read_text()), cfg, args.cores, args.out)
        return
    root = Path(args.root).resolve()
    mb = make_slice(cfg.resolved_corpus_dir(), root / "corpus", args.fraction)
    print(f"slice: {mb:.1f} MB JSONL ({args.fraction:.0%} of every file)")
    out: dict = {"slice_MB_jsonl": round(mb, 2), "fraction": args.fraction, "load_before": os.getloadavg()}
    runs: dict[int, dict] = {}
    for n in (int(x) for x in args.tasks.split(",")):
        t0 = time.perf_counter()
        secs = build(args.config, root / "corpus", root / f"work_t{n}", n)
        runs[n] = {
            "wall_s": round(time.perf_counter() - t0, 1),
            "stage_seconds": secs,
            "MB_per_s": {k: round(mb / v, 3) for k, v in secs.items() if v > 0},
            "load_after": os.getloadavg(),
        }
        print(
            f"tasks={n}: {runs[n]['wall_s']} s  "
            + "  ".join(f"{k} {v}" for k, v in runs[n]["MB_per_s"].items())
        )
    out["runs"] = runs
    write_projection(out, cfg, args.cores, args.out)


def write_projection(out: dict, cfg: CorpusConfig, cores: str, path: str) -> None:
    parallel = {s.name: s.tasks for s in CorpusPipeline(cfg).stages if s.parallel}
    base = out["runs"][min(out["runs"], key=int)]
    out["projection_1TB"] = [
        projection(base["MB_per_s"], base["stage_seconds"], parallel, int(c)) for c in cores.split(",")
    ]
    for p in out["projection_1TB"]:
        print(f"projection: 1 TB on {p['cores']} cores ~ {p['hours']} h")
    Path(path).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
