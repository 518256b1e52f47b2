"""Chance and majority-class baselines of a Table-6 cell, and how the report shows them (synthetic
prediction records and cells: no model, no shared data)."""

from __future__ import annotations

import json

import matplotlib.figure
import pytest

from weprompt.eval.aggregate import baselines
from weprompt.eval.cache import PredictionFile
from weprompt.eval.experiment import _cell
from weprompt.eval.table6 import BELOW, write_report

NLI = ["蕴含", "中立", "矛盾"]


def _rank(key: str, gold: int, pick: int, choices: list[str] = NLI) -> dict:
    """A rank record whose model prefers choice `pick`."""
    return {
        "key": key,
        "h": "x",
        "choices": choices,
        "gold": gold,
        "logprobs": [[-1.0] if i == pick else [-5.0] for i in range(len(choices))],
    }


def test_classification_chance_majority_and_a_constant_model():
    recs = [_rank(f"validation/{i}", g, 1) for i, g in enumerate([1, 1, 0, 2])]
    b = baselines("rank", "classification", "accuracy", recs)
    assert b["chance"] == pytest.approx(100 / 3)
    assert b["majority"] == pytest.approx(50.0) and b["majority_answer"] == "中立"
    assert b["constant"] and b["constant_answer"] == "中立"  # it scores exactly the majority share
    recs[0] = _rank("validation/0", 1, 0)
    b = baselines("rank", "classification", "accuracy", recs)
    assert not b["constant"] and b["constant_answer"] is None


def test_sampled_negatives_and_multiple_choice():
    # TNEWS / IFLYTEK: the gold + 3 negatives, different per example, the label is what repeats.
    labels = ["体育", "财经", "娱乐", "科技", "教育", "军事"]
    recs = [
        _rank("validation/0", 0, 0, ["体育", "财经", "娱乐", "科技"]),
        _rank("validation/1", 2, 0, ["教育", "军事", "体育", "科技"]),
        _rank("validation/2", 1, 0, labels[2:]),
    ]
    b = baselines("rank", "classification", "accuracy", recs)
    assert b["chance"] == pytest.approx(25.0)
    assert b["majority"] == pytest.approx(200 / 3) and b["majority_answer"] == "体育"
    assert not b["constant"]  # position 0 every time, but a different label
    # Multiple choice: the position repeats; chance is 1/n per example.
    mc = [
        _rank("validation/0", 1, 0, ["甲", "乙"]),
        _rank("validation/1", 1, 0, ["丙", "丁", "戊", "己"]),
        _rank("validation/2", 0, 0, ["庚", "辛", "壬", "癸"]),
    ]
    b = baselines("rank", "multiple_choice", "accuracy", mc)
    assert b["chance"] == pytest.approx(100 * (1 / 2 + 1 / 4 + 1 / 4) / 3)
    assert b["majority"] == pytest.approx(200 / 3) and b["majority_answer"] == "choice 2"
    assert b["constant_answer"] == "choice 1"


def test_generation_has_no_chance_level():
    recs = [
        {"key": f"validation/{i}", "prediction": "北京", "references": [ref]}
        for i, ref in enumerate(["上海", "上海", "广州"])
    ]
    b = baselines("generation", "generation", "exact_match", recs)
    assert b["chance"] is None
    assert b["majority"] == pytest.approx(200 / 3) and b["majority_answer"] == "上海"
    assert b["constant"]


def test_cell_baselines_come_from_the_scored_examples_only(tmp_path):
    """Errors and rows outside this run's examples (a shared predictions file) are not counted."""
    pfile = PredictionFile(tmp_path / "p.jsonl", {"v": 1})
    golds = [1, 1, 0, 2]
    recs = [{**_rank(f"validation/{i}", g, 1)} for i, g in enumerate(golds)]
    recs.append({"key": "validation/4", "h": "x", "error": "does not render"})
    recs += [_rank(f"validation/{i}", 0, 1) for i in (5, 6, 7)]  # rows of a longer run
    recs.append(_rank("test/0", 0, 1))  # another split
    pfile.append(recs)
    prompt = {"name": "p", "score": 50.0, "predictions": str(pfile.path), "oos_rate": None}
    task_result = {
        "task": "ocnli",
        "category": "nli",
        "kind": "rank",
        "task_type": "classification",
        "metric": "accuracy",
        "split": "validation",
        "n_examples": 5,
        "shots": {"0": {"k": 0, "prompts": [prompt], "summary": {"median": 50.0}}},
    }
    cell = _cell(task_result, "0", "welm_zero_shot")
    assert cell["majority"] == pytest.approx(50.0)  # 2 of the 4 scored rows are "中立"
    assert cell["chance"] == pytest.approx(100 / 3)
    assert cell["constant_prompts"] == 1 and cell["constant_answer"] == "中立"
    assert cell["example_ids"] == [f"validation/{i}" for i in range(4)]


def _cell_of(mode: str, score: float, majority: float, chance: float | None = 100 / 3) -> dict:
    return {
        "task": "cmnli",
        "category": "nli",
        "mode": mode,
        "metric": "accuracy",
        "score": score,
        "iqr": [score, score],
        "worst": score,
        "prompts": {"a": score, "b": score},
        "per_example": [0.0, 1.0],
        "example_ids": ["validation/0", "validation/1"],
        "out_of_scope": None,
        "chance": chance,
        "majority": majority,
        "majority_answer": "中立",
        "constant_prompts": 2 if score == majority else 0,
        "constant_answer": "中立" if score == majority else None,
    }


@pytest.fixture
def saved_figures(monkeypatch):
    figs = {}

    def save(fig, path, *a, **kw):
        figs[str(path).rsplit("/", 1)[-1]] = fig

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", save)
    return figs


def _hline_heights(fig) -> set[float]:
    return {round(float(seg[0][1]), 1) for coll in fig.axes[0].collections for seg in coll.get_segments()}


def test_report_marks_cells_that_do_not_beat_their_baselines(tmp_path, saved_figures):
    cells = [
        _cell_of("welm_zero_shot", 28.0, 28.0),  # always the majority label: not above chance 33.3 either
        _cell_of("weprompt_strong", 30.0, 28.0),  # above the majority, below chance
        _cell_of("weprompt_weak", 40.0, 35.0),
    ]
    md = write_report(cells, {"scale_statement": "tiny."}, {}, tmp_path).read_text(encoding="utf-8")
    assert "**Baselines.** 1 of 3 cells beat the better of their chance and majority-class baselines" in md
    assert f"the other 2 (marked {BELOW}) do not" in md
    assert "2 of the 6 prompt scores come from a model giving one and the same answer to every example" in md
    row = next(line for line in md.splitlines() if line.startswith("| nli | cmnli |"))
    assert f"| 33.3 | 28.0–35.0 | 28.0{BELOW} / 47.8 | 30.0{BELOW} / 52.3 | 40.0 / 59.5 |" in row
    assert f"{BELOW} does not beat the better of its two trivial baselines" in md
    assert "| 28.0 (中立) | no † | 2/2 (中立) |" in md
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<b>Baselines.</b> 1 of 3 cells" in html and f"28.0{BELOW} / 47.8" in html
    saved = json.loads((tmp_path / "cells.json").read_text(encoding="utf-8"))
    assert [c["beats_baseline"] for c in saved["cells"]] == [False, False, True]
    assert saved["cells"][0]["baseline"] == pytest.approx(100 / 3)
    assert saved["baselines"] == {"cells": 3, "judged": 3, "beat": 1, "prompts": 6, "constant_prompts": 2}
    # Both baselines drawn on both plots: chance 33.3, majority 28 / 35 per box, their mean per category.
    assert {33.3, 28.0, 35.0} <= _hline_heights(saved_figures["box_prompts.png"])
    assert {33.3, 30.3} <= _hline_heights(saved_figures["bars_by_category.png"])


def test_no_cell_beats_and_cells_without_baselines(tmp_path, saved_figures):
    cells = [_cell_of("welm_zero_shot", 28.0, 28.0), _cell_of("weprompt_strong", 20.0, None, None)]
    md = write_report(cells, {"scale_statement": "tiny."}, {}, tmp_path).read_text(encoding="utf-8")
    assert "0 of 1 cells beat" in md and "No result in this report is better than a trivial baseline" in md
    assert "1 cells have no baseline" in md
    assert "20.0 / 52.3" in md  # no baseline: no mark
