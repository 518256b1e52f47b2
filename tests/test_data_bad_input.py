"""Task data files that are cut short or not what their name says: one DataError naming the file.

Synthetic files in tmp_path (the real catalog and bank, no shared data).
"""

from __future__ import annotations

import gzip
import json
import random

import pytest

from weprompt.cli.main import main
from weprompt.data import DataError, iter_rows, load_split

ROWS = "".join(
    json.dumps(
        {"id": i, "sentence1": f"他今天去了第{i}家书店。", "sentence2": "他出门了。", "label": "entailment"}
    )
    + "\n"
    for i in range(3000)
).encode()


def _split_file(tmp_path, name: str, data: bytes):
    (tmp_path / "ocnli").mkdir(exist_ok=True)
    (tmp_path / "ocnli" / name).write_bytes(data)
    return tmp_path / "ocnli" / name


def _truncated() -> bytes:
    data = gzip.compress(ROWS)
    return data[: len(data) // 2]


def test_truncated_gzip_is_an_error_even_when_reading_a_few_rows(tmp_path):
    path = _split_file(tmp_path, "validation.jsonl.gz", _truncated())
    # The first 200 rows decompress fine: only reading to the end shows that the file is cut short.
    with pytest.raises(DataError, match=f"{path}: truncated gzip file"):
        list(iter_rows("ocnli", "validation", tmp_path, limit=200))
    with pytest.raises(DataError, match=f"{path}: truncated gzip file"):
        load_split("ocnli", "validation", tmp_path)


def test_limit_on_a_whole_file_still_reads_only_the_first_rows(tmp_path):
    _split_file(tmp_path, "validation.jsonl.gz", gzip.compress(ROWS))
    rows = list(iter_rows("ocnli", "validation", tmp_path, limit=5))
    assert [r["id"] for r in rows] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("train.jsonl.gz", ROWS, r"train\.jsonl\.gz: the name ends in \.gz but the file is not gzip"),
        ("train.jsonl", gzip.compress(ROWS), r"train\.jsonl: the file is gzip-compressed but its name"),
        ("train.jsonl", random.Random(0).randbytes(4000), r"train\.jsonl:1: not UTF-8 text \(byte 0x"),
    ],
    ids=["plain-named-gz", "gzip-named-jsonl", "binary-jsonl"],
)
def test_mislabelled_or_binary_file_is_an_error_naming_it(tmp_path, name, data, message):
    _split_file(tmp_path, name, data)
    with pytest.raises(DataError, match=message):
        load_split("ocnli", "train", tmp_path)


def test_lmeval_task_on_a_truncated_file_prints_one_line(tmp_path, capsys):
    path = _split_file(tmp_path, "validation.jsonl.gz", _truncated())
    out = tmp_path / "harness"
    rc = main(
        ["lmeval-task", "--task", "ocnli", "--out", str(out), "--limit", "50", "--data-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists()
    assert err.startswith(f"weprompt: error: {path}: truncated gzip file") and "\n" not in err
