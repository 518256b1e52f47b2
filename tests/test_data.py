import gzip
import json
import time

import pytest
from testutil import requires_data

from weprompt.catalog import load_catalog
from weprompt.data import DataError, iter_rows, load_split, resolve_data_dir, widen


@requires_data
def test_load_split_returns_dataset_with_label_ids(data_dir):
    ds = load_split("ocnli", "validation", data_dir)
    assert len(ds) == load_catalog().task("ocnli").splits["validation"]
    row = ds[0]
    assert row["label"] in ("entailment", "neutral", "contradiction")
    assert row["label_id"] == ["entailment", "neutral", "contradiction"].index(row["label"])


@requires_data
def test_mixed_type_fields_are_widened(data_dir):
    # gaokao_physics mixes single letters and lists of letters in `label`
    ds = load_split("gaokao_physics", "train", data_dir)
    assert all(isinstance(x, list) for x in ds["label"])


def test_widen_rules():
    assert widen(["A", ["B", "C"], None]) == [["A"], ["B", "C"], None]
    assert widen([1, "x"]) == ["1", "x"]
    assert widen([1, 2.5]) == [1.0, 2.5]
    assert widen([{"a": 1}, {"b": "x"}]) == [{"a": 1, "b": None}, {"a": None, "b": "x"}]
    assert widen([[1, "a"], [2]]) == [["1", "a"], ["2"]]
    assert widen([True, "x"]) == ["true", "x"]


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("WEPROMPT_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path.resolve()
    other = tmp_path / "explicit"
    other.mkdir()
    assert resolve_data_dir(other) == other


def test_missing_data_dir_lists_what_was_tried(tmp_path):
    with pytest.raises(DataError, match=r"no task data dir found; tried: .*nope.*--data-dir"):
        resolve_data_dir(tmp_path / "nope")


def test_missing_task_file_is_fast_and_clear(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DataError) as e:
        load_split("ocnli", "validation", tmp_path)
    assert time.perf_counter() - start < 5
    msg = str(e.value)
    assert "task 'ocnli' split 'validation'" in msg and str(tmp_path) in msg and "clue/ocnli" in msg


def test_unknown_task():
    with pytest.raises(Exception, match="unknown task 'nosuch'"):
        load_split("nosuch", "train")


def _write(tmp_path, task, split, lines, gz=True):
    d = tmp_path / task
    d.mkdir(parents=True, exist_ok=True)
    text = "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(d / f"{split}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        (d / f"{split}.jsonl").write_text(text, encoding="utf-8")


def _row(label="neutral"):
    return json.dumps(
        {"id": 1, "sentence1": "甲", "sentence2": "乙", "label": label, "genre": "x"}, ensure_ascii=False
    )


def test_plain_jsonl_works(tmp_path):
    _write(tmp_path, "ocnli", "train", [_row(), _row("contradiction")], gz=False)
    ds = load_split("ocnli", "train", tmp_path)
    assert ds["label_id"] == [1, 2]


def test_bad_json_line_names_file_and_line(tmp_path):
    _write(tmp_path, "ocnli", "train", [_row(), "{not json"])
    with pytest.raises(DataError, match=r"ocnli/train.jsonl.gz:2: invalid JSON"):
        list(iter_rows("ocnli", "train", tmp_path))


def test_unknown_label_names_field_and_line(tmp_path):
    _write(tmp_path, "ocnli", "train", [_row(), _row("maybe")])
    with pytest.raises(
        DataError, match=r"train.jsonl.gz:2: field 'label' is 'maybe', not one of the catalog's labels"
    ):
        load_split("ocnli", "train", tmp_path)


def test_row_missing_label_field(tmp_path):
    _write(tmp_path, "ocnli", "train", [json.dumps({"id": 1, "sentence1": "a"})])
    with pytest.raises(DataError, match=r"train.jsonl.gz:1: row has no label field 'label'"):
        load_split("ocnli", "train", tmp_path)


def test_empty_split(tmp_path):
    _write(tmp_path, "ocnli", "train", [])
    with pytest.raises(DataError, match="the split is empty"):
        load_split("ocnli", "train", tmp_path)


# Rows whose fields change type between rows: each of widen's rules, nested, and a key only later rows have.
MIXED = [
    {"id": 1, "label": "neutral", "ans": "A", "n": 1, "meta": {"a": 1}, "spans": [{"s": 1}], "late": None},
    {"id": 2, "label": "entailment", "ans": ["B", "C"], "n": 2.5, "meta": {"b": "x"}, "spans": [{"t": "y"}]},
    {"id": 3, "label": "neutral", "ans": None, "n": "3", "meta": None, "spans": [], "extra": True},
]


def test_load_rows_equals_the_dataset_read_back(tmp_path):
    """The sampler's rows (no Arrow round trip) are the Dataset's rows: values, types and key order."""
    from weprompt.data import load_rows

    _write(tmp_path, "ocnli", "train", [json.dumps(r, ensure_ascii=False) for r in MIXED])
    rows = load_rows("ocnli", "train", tmp_path)
    back = list(load_split("ocnli", "train", tmp_path))
    assert json.dumps(rows, ensure_ascii=False) == json.dumps(back, ensure_ascii=False)
    assert [list(r) for r in rows] == [list(r) for r in back]
    assert rows[0]["n"] == "1"  # numbers among strings became strings
    assert rows[0]["ans"] == ["A"] and rows[1]["extra"] is None
