"""One corpus config, three executors: local with 1 and 2 tasks, a real local Ray cluster (2 workers)
and Slurm (sbatch scripts checked, then each array task run from its pickled executor as Slurm would):
the shards are byte-identical in every case."""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

import pytest

from weprompt.cli.main import main

SLICE = {
    "books/chinese_poetry_classical": 80,
    "books/four_classic_novels": 3,
    "forums/medical_qa_forum": 40,
    "news/english_bbc_news": 12,
    "academic/csl_abstracts_train_splits": 40,
}


@pytest.fixture(scope="module")
def corpus_slice(tmp_path_factory, corpus_docs, data_dir):
    root = tmp_path_factory.mktemp("slice")
    for rel, n in SLICE.items():
        docs = corpus_docs(rel, n)
        lines = [json.dumps(d, ensure_ascii=False) for d in docs]
        lines += lines[:2]  # exact duplicates, so that dedup has work
        if rel == "forums/medical_qa_forum":  # and a near duplicate
            lines.append(
                json.dumps(dict(docs[1], text=docs[1]["text"][:-6] + "。谢谢医生"), ensure_ascii=False)
            )
        (root / "corpus" / rel.split("/")[0]).mkdir(parents=True, exist_ok=True)
        with gzip.open(root / "corpus" / f"{rel}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    (root / "data" / "cmrc2018").mkdir(parents=True)
    with gzip.open(data_dir / "cmrc2018" / "validation.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [next(f) for _ in range(5)]
    (root / "data" / "cmrc2018" / "validation.jsonl").write_text("".join(rows), encoding="utf-8")
    return root


def build_args(root: Path, work: Path, *sets: str) -> list[str]:
    args = ["corpus", "build", "--config", "configs/corpus/cpu.yaml"]
    for s in (
        f"corpus_dir={root / 'corpus'}",
        f"decontam.data_dir={root / 'data'}",
        f"work_dir={work}",
        "balance.targets={books: 0.6, forums: 0.2, news: 0.1, academic: 0.1}",
        "quality.per_class=60",
        "tokenizer.vocab_size=3000",
        "tokenizer.character_coverage=0.98",
        "reader.progress=false",
        *sets,
    ):
        args += ["--set", s]
    return args


def shard_bytes(work: Path) -> dict[str, bytes]:
    files = sorted((work / "shards").iterdir())
    assert any(f.name.startswith("shard_") for f in files)
    return {f.name: f.read_bytes() for f in files}


@pytest.fixture(scope="module")
def reference(corpus_slice):
    work = corpus_slice / "local1"
    assert main(build_args(corpus_slice, work, "tasks=1", "workers=1")) == 0
    return shard_bytes(work)


def test_local_two_tasks_byte_identical(corpus_slice, reference):
    work = corpus_slice / "local2"
    assert main(build_args(corpus_slice, work, "tasks=2", "workers=2")) == 0
    assert len(list((work / "clean").glob("*.jsonl.gz"))) == 2  # really two tasks
    report = json.loads((work / "dedup" / "report.json").read_text())
    assert report["exact_duplicate"] >= 10 and report["near_duplicate"] >= 1
    assert shard_bytes(work) == reference


def test_simhash_method_runs_its_staged_dedup(corpus_slice):
    work = corpus_slice / "simhash"
    assert main(build_args(corpus_slice, work, "tasks=2", "workers=2", "dedup.method=simhash")) == 0
    assert len(list((work / "logs" / "dedup_pairs" / "completions").iterdir())) == 2
    assert not (work / "logs" / "minhash_sigs").exists()
    report = json.loads((work / "dedup" / "report.json").read_text())
    assert report["exact_duplicate"] >= 10 and report["near_duplicate"] >= 1


@pytest.mark.slow
def test_ray_local_cluster_byte_identical(corpus_slice, reference):
    ray = pytest.importorskip("ray")
    work = corpus_slice / "ray"
    try:
        args = build_args(corpus_slice, work, "tasks=2", "workers=2", "executor.kind=ray")
        assert main([*args, "--set", "executor.ray.num_cpus=2"]) == 0
        assert ray.cluster_resources()["CPU"] == 2
    finally:
        ray.shutdown()
    assert len(list((work / "logs" / "minhash_buckets" / "completions").iterdir())) == 14
    assert shard_bytes(work) == reference


FAKE_SBATCH = """#!/bin/bash
# Records each submission (its arguments and script) and answers like sbatch.
n=$(ls "$SBATCH_RECORD" | grep -c '\\.args$')
n=$((n + 100))
printf '%s\\n' "$@" > "$SBATCH_RECORD/$n.args"
cp "${@: -1}" "$SBATCH_RECORD/$n.slurm"
echo "Submitted batch job $n"
"""


def test_slurm_scripts_and_pickled_tasks(corpus_slice, reference, tmp_path, monkeypatch):
    import dill

    record, bindir = tmp_path / "record", tmp_path / "bin"
    record.mkdir()
    bindir.mkdir()
    (bindir / "sbatch").write_text(FAKE_SBATCH)
    (bindir / "scontrol").write_text('#!/bin/bash\necho "$3"\n')  # `scontrol show hostnames <list>`
    for tool in ("sbatch", "scontrol"):
        (bindir / tool).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_RECORD", str(record))
    work = corpus_slice / "slurm"
    sets = ("tasks=2", "workers=2", "executor.kind=slurm", "executor.slurm.partition=cpu")
    args = build_args(corpus_slice, work, *sets, "executor.slurm.env_command=source /opt/venv/bin/activate")
    assert main(args) == 0
    assert not (work / "shards").exists()  # submitted, not run
    stages = ["filter", "quality_train", "score", "minhash_sigs", "minhash_buckets", "dedup_clusters"]
    stages += ["decontam_index"]
    stages += ["final", "tokenizer", "tokenize", "shards"]
    jobs = {}  # stage -> job id, from the scripts sbatch received (merge_stats jobs in between)
    for f in sorted(record.glob("*.slurm")):
        text = f.read_text()
        name = next(ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith("#SBATCH --job-name"))
        if "launch_pickled_pipeline" in text:
            jobs[name.removeprefix("corpus_")] = (int(f.stem), text, (record / f"{f.stem}.args").read_text())
    assert list(jobs) == stages  # submitted in pipeline order
    for i, st in enumerate(stages):
        job, text, sargs = jobs[st]
        parallel = st in {"filter", "score", "minhash_sigs", "final", "tokenize"}
        array = "0-13%2" if st == "minhash_buckets" else "0-1%2" if parallel else "0-0%1"  # 14 buckets
        assert f"#SBATCH --array={array}" in text
        assert "#SBATCH --partition=cpu" in text and "source /opt/venv/bin/activate" in text
        assert str(work / "logs" / st / "executor.pik") in text
        if i:  # each stage waits for the one before
            assert f"--dependency=afterok:{jobs[stages[i - 1]][0]}" in sargs
    # Run every array task from its pickled executor, in dependency order, as Slurm would.
    monkeypatch.setenv("SLURM_NODELIST", "localhost")
    for st in stages:
        with open(work / "logs" / st / "executor.pik", "rb") as fh:
            executor = dill.load(fh)
        for task in range(executor.tasks):
            monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
            executor.run()
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    assert shard_bytes(work) == reference


def test_slurm_without_partition_is_a_config_error(corpus_slice, capsys):
    args = build_args(corpus_slice, corpus_slice / "bad", "executor.kind=slurm")
    assert main(args) != 0
    assert "executor.slurm.partition is required" in capsys.readouterr().err
    assert not (corpus_slice / "bad").exists()  # nothing started


def test_minhash_method_computes_no_simhash(corpus_slice, reference):
    work = corpus_slice / "local1"  # the reference build (default method: minhash)
    assert not (work / "dedup" / "buckets").exists()  # no SimHash band files
    assert len(list((work / "dedup" / "minhash" / "buckets").glob("*.dups"))) == 14
