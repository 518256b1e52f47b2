"""The prediction cache file: append, reload, a crash's partial line, changed rows."""

from __future__ import annotations

from weprompt.eval.aggregate import summarize
from weprompt.eval.cache import PredictionCache, PredictionFile, read_predictions

SETTING = {"task": "ocnli", "template_id": "t1", "shots": 0, "seed": 0}


def test_append_reload_and_row_hash(tmp_path):
    cache = PredictionCache(tmp_path, "ab" * 32)
    f = cache.open("ocnli", "t1", SETTING)
    assert f.path.parent == tmp_path / ("ab" * 8) / "ocnli"
    f.append([{"key": "validation/0", "h": "x", "prediction": "北京"}, {"key": "validation/1", "h": "y"}])
    g = cache.open("ocnli", "t1", SETTING)
    assert g.get("validation/0", "x")["prediction"] == "北京"
    assert g.get("validation/0", "changed") is None  # the row changed: recompute
    assert g.get("validation/9", "x") is None
    other = cache.open("ocnli", "t1", {**SETTING, "shots": 5})
    assert other.path != f.path and not other.records
    assert set(read_predictions(f.path)) == {"validation/0", "validation/1"}


def test_partial_last_line_is_dropped_and_writing_resumes(tmp_path):
    path = tmp_path / "p.jsonl"
    f = PredictionFile(path, SETTING)
    f.append([{"key": "validation/0", "h": "a", "v": 1}])
    with open(path, "ab") as out:  # a crash in the middle of writing a line (mid-character, even)
        out.write('{"key": "validation/1", "h": "b", "prediction": "北'.encode()[:-1])
    g = PredictionFile(path, SETTING)
    assert set(g.records) == {"validation/0"} and g.partial_lines == 1
    g.append([{"key": "validation/1", "h": "b", "v": 2}])
    h = PredictionFile(path, SETTING)
    assert h.get("validation/1", "b")["v"] == 2 and h.get("validation/0", "a")["v"] == 1
    # the later line of a key wins (a recomputed example)
    h.append([{"key": "validation/0", "h": "a2", "v": 3}])
    assert PredictionFile(path, SETTING).get("validation/0", "a2")["v"] == 3


def test_summary_by_hand():
    prompts = [
        {"template_id": str(i), "name": f"p{i}", "score": s} for i, s in enumerate([40.0, 10.0, 30.0, 20.0])
    ]
    prompts.append({"template_id": "x", "name": "unscored", "score": None})
    s = summarize(prompts, "accuracy")
    assert s["n_prompts"] == 4 and s["median"] == 25.0
    assert (s["q1"], s["q3"], s["iqr"]) == (17.5, 32.5, 15.0)
    assert s["worst"] == {"template_id": "1", "name": "p1", "score": 10.0}
    assert s["best"]["name"] == "p0" and s["mean"] == 25.0
    assert summarize([], "f1") == {"metric": "f1", "n_prompts": 0}
