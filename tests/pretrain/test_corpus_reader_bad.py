"""A corpus file that is not what its name says, or is cut short, is one clear error naming it (not skipped).

Every file here is synthetic, written to tmp_path: no shared corpus needed.
"""

from __future__ import annotations

import gzip
import json
import random

import pytest

from weprompt.cli.main import main
from weprompt.pretrain.corpus.reader import CorpusInputError, CorpusReader, check_corpus_files

DOCS = [
    {"text": f"第{i}篇：今天天气很好，我们去公园散步，看见湖边的柳树发了新芽。", "lang": "zh"}
    for i in range(3000)
]
JSONL = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS).encode()


def _corpus(tmp_path, name: str, data: bytes):
    """A corpus with one good source (books) and `data` as news/<name>."""
    (tmp_path / "books").mkdir(parents=True)
    (tmp_path / "news").mkdir(parents=True)
    (tmp_path / "books" / "good.jsonl").write_bytes(JSONL[:2000].rsplit(b"\n", 1)[0] + b"\n")
    (tmp_path / "news" / name).write_bytes(data)
    return tmp_path, tmp_path / "news" / name


def _read(corpus, world_size: int = 1) -> list:
    reader = CorpusReader(corpus)
    return [d for rank in range(world_size) for d in reader.run(None, rank=rank, world_size=world_size)]


def _truncated() -> bytes:
    data = gzip.compress(JSONL)
    return data[: len(data) // 2]


def _corrupt() -> bytes:
    data = bytearray(gzip.compress(JSONL))
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)  # a run of zeros in the middle of the deflate stream
    return bytes(data)


GARBAGE = random.Random(0).randbytes(5000)
CASES = {
    "plain JSONL named .jsonl.gz": (
        "a.jsonl.gz",
        JSONL,
        r"a\.jsonl\.gz: the name ends in \.gz but the file is not gzip",
    ),
    "plain text named .jsonl.gz": (
        "b.jsonl.gz",
        "春眠不觉晓，处处闻啼鸟。\n".encode() * 50,
        r"b\.jsonl\.gz: the name ends in \.gz but the file is not gzip",
    ),
    "gzip named .jsonl": (
        "c.jsonl",
        gzip.compress(JSONL),
        r"c\.jsonl: the file is gzip-compressed but its name",
    ),
    "binary garbage .jsonl": (
        "d.jsonl",
        b"\x00\x01" + GARBAGE,
        r"d\.jsonl:1: not JSON Lines: .*control byte 0x00",
    ),
    "plain text .jsonl": (
        "e.jsonl",
        b"\n\n" + "春眠不觉晓\n".encode() * 50,
        r"e\.jsonl:3: not JSON Lines: the first record does not start with '\{'",
    ),
    "truncated gzip": ("f.jsonl.gz", _truncated(), r"f\.jsonl\.gz: truncated gzip file"),
    "corrupt gzip": ("g.jsonl.gz", _corrupt(), r"g\.jsonl\.gz: corrupt gzip data"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("world_size", [1, 2])
def test_bad_file_is_an_error_naming_it(tmp_path, case, world_size):
    name, data, message = CASES[case]
    corpus, _ = _corpus(tmp_path, name, data)
    with pytest.raises(CorpusInputError, match=message):
        _read(corpus, world_size)


@pytest.mark.parametrize("case", [c for c in CASES if "gzip" not in c or "named" in c])
def test_mislabelled_file_is_refused_before_any_work(tmp_path, case):
    name, data, message = CASES[case]
    corpus, _ = _corpus(tmp_path, name, data)
    with pytest.raises(CorpusInputError, match=message):
        check_corpus_files(corpus)


def test_bad_lines_in_a_good_file_stay_counted_drops(tmp_path):
    # The first record is broken (not UTF-8) but starts like a JSON object: a bad line, not a bad file.
    lines = [b'{"text": "\xff\xfe broken"}', b"", b'{"text": "unterminated', JSONL.split(b"\n")[0]]
    corpus, _ = _corpus(tmp_path, "ok.jsonl.gz", gzip.compress(b"\n".join(lines) + b"\n"))
    (corpus / "news" / "empty.jsonl").write_bytes(b"")
    check_corpus_files(corpus)
    reader = CorpusReader(corpus)
    docs = list(reader.run(None, 0, 1))
    news = reader.counts["news"]
    assert news["docs_dropped:invalid_utf8"] == 1 and news["docs_dropped:invalid_json"] == 1
    assert news["empty_file"] == 1
    assert [d.text for d in docs if d.metadata["source"] == "news"] == [DOCS[0]["text"]]


def _build(corpus, work) -> int:
    return main(
        [
            "corpus", "build", "--config", "configs/corpus/cpu.yaml",
            "--set", f"corpus_dir={corpus}", "--set", f"work_dir={work}",
            "--set", "workers=1", "--set", "reader.progress=false",
            "--set", "quality.enabled=false", "--set", "decontam.enabled=false",
        ]
    )  # fmt: skip


@pytest.mark.parametrize("case", ["plain JSONL named .jsonl.gz", "truncated gzip"])
def test_corpus_build_prints_one_line(tmp_path, capfd, case):
    name, data, message = CASES[case]
    corpus, _ = _corpus(tmp_path / "corpus", name, data)
    assert _build(corpus, tmp_path / "work") == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err
    # A mislabelled file is found before the build starts; a truncation only when the file is read.
    assert ("filter" in err) == (case == "truncated gzip")
    (line,) = [x for x in err.splitlines() if "weprompt: error:" in x]
    assert line.startswith(f"weprompt: error: {corpus / 'news' / name}")


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("validation.jsonl.gz", _truncated(), r"validation\.jsonl\.gz: truncated gzip file"),
        (
            "validation.jsonl",
            b'{"context": "ok"}\n{"context": broken\n',
            r"validation\.jsonl:2: not a JSON line",
        ),
    ],
    ids=["truncated", "bad-json"],
)
def test_decontam_index_names_a_bad_task_file(tmp_path, name, data, message):
    from weprompt.pretrain.corpus.decontam import build_index

    (tmp_path / "data" / "cmrc2018").mkdir(parents=True)
    (tmp_path / "data" / "cmrc2018" / name).write_bytes(data)
    with pytest.raises(CorpusInputError, match=message):
        build_index(tmp_path / "data", ["validation"], (17, 34), tmp_path / "index")


@pytest.mark.parametrize("case", ["truncated gzip", "plain JSONL named .jsonl.gz"])
def test_tokenizer_train_names_a_bad_input_file(tmp_path, capfd, case):
    name, data, _ = CASES[case]
    (tmp_path / name).write_bytes(data)
    assert (
        main(
            [
                "tokenizer",
                "train",
                str(tmp_path / name),
                "--out",
                str(tmp_path / "tok"),
                "--vocab-size",
                "1000",
            ]
        )
        == 2
    )
    (line,) = [x for x in capfd.readouterr().err.splitlines() if "weprompt: error:" in x]
    assert line.startswith(f"weprompt: error: {tmp_path / name}: ")
    assert not (tmp_path / "tok").exists()
