"""The whole pipeline through the CLI on a small slice of the real corpus: outputs, drop reasons, the
Table-1 summary, shards the tokenizer decodes, reruns that skip finished work, one build per work dir."""

from __future__ import annotations

import gzip
import json

import pytest

from weprompt.cli.main import main
from weprompt.pretrain.shards import TokenShards
from weprompt.pretrain.tokenizer import Tokenizer

SLICE = {
    "books/chinese_poetry_classical": 60,
    "books/four_classic_novels": 3,
    "forums/medical_qa_forum": 40,
    "news/english_bbc_news": 15,
    "news/sogou_news_samples": 15,
    "academic/csl_abstracts_train_splits": 40,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_dir, corpus_docs):
    root = tmp_path_factory.mktemp("pipe")
    corpus, data, work = root / "corpus", root / "data", root / "work"
    for rel, n in SLICE.items():
        docs = corpus_docs(rel, n)
        lines = [json.dumps(d, ensure_ascii=False) for d in docs]
        if rel == "forums/medical_qa_forum":
            lines.append(lines[0])  # exact duplicate
            near = dict(docs[1], text=docs[1]["text"][:-6] + "。谢谢医生")  # near duplicate
            lines.append(json.dumps(near, ensure_ascii=False))
            lines.append('{"text": broken json')
        (corpus / rel.split("/")[0]).mkdir(parents=True, exist_ok=True)
        with gzip.open(corpus / f"{rel}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    # Evaluation data: 5 real cmrc2018 validation examples; one corpus document quotes one of them.
    (data / "cmrc2018").mkdir(parents=True)
    with gzip.open(data_dir / "cmrc2018" / "validation.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [next(f) for _ in range(5)]
    (data / "cmrc2018" / "validation.jsonl").write_text("".join(rows), encoding="utf-8")
    quote = json.loads(rows[0])["context"][:200]
    with gzip.open(corpus / "news" / "quoted.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"text": "新闻报道：" + quote, "lang": "zh"}, ensure_ascii=False) + "\n")
    args = [
        "corpus",
        "build",
        "--config",
        "configs/corpus/cpu.yaml",
        "--set",
        f"corpus_dir={corpus}",
        "--set",
        f"decontam.data_dir={data}",
        "--set",
        f"work_dir={work}",
        "--set",
        "workers=1",
        "--set",
        "quality.per_class=60",
        "--set",
        "tokenizer.vocab_size=3000",
        "--set",
        "tokenizer.character_coverage=0.98",
        "--set",
        "reader.progress=false",
    ]
    assert main(args) == 0
    return work, args


def test_outputs_and_summary(built, capsys):
    work, _ = built
    summary = json.loads((work / "summary.json").read_text())
    steps = {r["step"]: r for r in summary["steps"]}
    assert steps["read"]["dropped"] == {"invalid_json": 1}
    assert steps["dedup"]["dropped"].get("exact_duplicate", 0) >= 1
    assert steps["dedup"]["dropped"].get("near_duplicate", 0) >= 1
    assert steps["decontam"]["dropped"] == {"contaminated": 1}
    assert steps["lang_id"]["notes"]["zh_by_script"] > 100
    # Table 1: one row per source; shares after balancing follow the targets as far as max_repeat allows.
    table = {r["source"]: r for r in summary["table1"]}
    assert set(table) == {"academic", "books", "forums", "news"}
    assert all(r["tokens_left"] > 0 for r in table.values())
    assert sum(r["share_after"] for r in table.values()) == pytest.approx(1.0, abs=0.01)
    assert summary["balance"]["english_share_after"] <= 0.135
    assert summary["quality"]["metrics"]["n"] > 0
    assert "Table 1" in (work / "summary.md").read_text()


def test_shards_decode_to_cleaned_text(built):
    work, _ = built
    tok = Tokenizer.load(work / "tokenizer")
    shards = TokenShards(work / "shards", expect_fingerprint=tok.fingerprint())
    assert shards.vocab_size == tok.vocab_size == 3000
    clean = set()
    for f in (work / "clean").glob("*.jsonl.gz"):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            clean |= {json.loads(line)["text"] for line in fh}
    for i in range(0, len(shards), 17):
        assert tok.decode(shards.document(i)) in clean
    assert set(shards.source_names) <= {"academic", "books", "forums", "news"}


def test_rerun_skips_and_config_change_reruns_downstream(built, capsys):
    work, args = built
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("skipped (finished earlier)") == 11
    before = (work / "shards" / "meta.json").read_text()
    assert main([*args, "--set", "balance.seed=1"]) == 0
    err = capsys.readouterr().err
    assert "filter          skipped" in err and "shards          done" in err
    assert (work / "shards" / "meta.json").read_text() != before


def test_one_build_per_work_dir(built):
    import fcntl

    from weprompt.common.config import load_config
    from weprompt.pretrain.corpus.config import CorpusConfig, CorpusConfigError
    from weprompt.pretrain.corpus.pipeline import CorpusPipeline

    work, args = built
    overrides = [a for a in args if "=" in a]
    pipe = CorpusPipeline(load_config(CorpusConfig, "configs/corpus/cpu.yaml", overrides))
    with open(work / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CorpusConfigError, match="another corpus build"):
            pipe.run()


def test_unlisted_source_is_a_clear_cli_error(tmp_path, capsys):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "a.jsonl").write_text('{"text": "x"}\n')
    assert (
        main(["corpus", "build", "--set", f"corpus_dir={tmp_path}", "--set", f"work_dir={tmp_path / 'w'}"])
        == 2
    )
    assert "['web'] have no target" in capsys.readouterr().err
