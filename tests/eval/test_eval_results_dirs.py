"""`weprompt eval` keeps results of different settings apart: one directory per setting, the settings
written beside the results, and a directory holding other settings' results is refused."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from evalbank import OCNLI

from weprompt.cli.main import main
from weprompt.eval import report
from weprompt.eval.runner import EvalOptions

MODEL = {"hash": "ab" * 32, "tokenizer_fingerprint": "cd" * 32, "path": "runs/base/checkpoints/step_1"}


@pytest.fixture
def bank(tmp_path) -> Path:
    """A bank dir of two files (the settings only hash them), and an empty data dir."""
    root = tmp_path / "bank"
    (root / "templates").mkdir(parents=True)
    (root / "catalog.yaml").write_text("tasks: []\n", encoding="utf-8")
    (root / "templates" / "ocnli.yaml").write_text("templates: one\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    return root


def _settings(bank: Path, tasks=("ocnli",), shots=("0",), **options) -> dict:
    opts = EvalOptions(bank_dir=str(bank), data_dir=str(bank.parent / "data"), **options)
    return report.result_settings(MODEL, list(tasks), list(shots), asdict(opts))


def test_each_setting_gets_its_own_directory(bank, tmp_path):
    base = _settings(bank, limit=3)
    d = report.results_dir(tmp_path / "runs", base)
    assert d.parent.name == "ab" * 6 and d.name.startswith("ocnli-k0-n3-")
    variants = [
        _settings(bank, limit=5),
        _settings(bank, limit=3, shots=("0", "paper")),
        _settings(bank, limit=3, seed=1),
        _settings(bank, limit=3, calibrate=False),
        _settings(bank, limit=3, tasks=("ocnli", "cmnli")),
    ]
    dirs = {d} | {report.results_dir(tmp_path / "runs", s) for s in variants}
    assert len(dirs) == 1 + len(variants)
    # Neither the batch size nor the cache dir changes results: the same directory.
    same = _settings(bank, limit=3, batch_size=2, cache_dir="elsewhere", progress=False)
    assert report.results_dir(tmp_path / "runs", same) == d
    # An edited prompt (the prompt set) does.
    (bank / "templates" / "ocnli.yaml").write_text("templates: two\n", encoding="utf-8")
    assert report.results_dir(tmp_path / "runs", _settings(bank, limit=3)) != d


def test_a_directory_of_other_settings_is_refused(bank, tmp_path):
    out = tmp_path / "out"
    first = _settings(bank, limit=3)
    report.check_results_dir(out, first)  # nothing there yet
    out.mkdir()
    record = {"key": report.settings_key(first), "settings": first}
    (out / report.SETTINGS_FILE).write_text(json.dumps(record), encoding="utf-8")
    report.check_results_dir(out, first)  # the same settings: redone in place
    with pytest.raises(
        report.ResultsConflictError, match=r"holds results of other settings \(limit: 3 -> 5\)"
    ):
        report.check_results_dir(out, _settings(bank, limit=5))
    with pytest.raises(report.ResultsConflictError, match=r"shots: \[\"0\"\] -> \[\"0\", \"paper\"\]"):
        report.check_results_dir(out, _settings(bank, limit=3, shots=("0", "paper")))


def test_results_from_before_settings_were_recorded_are_compared_too(bank, tmp_path):
    """An older results dir (results.json only): what results.json records is compared."""
    out = tmp_path / "old"
    out.mkdir()
    opts = {**asdict(EvalOptions(limit=3)), "shots": ["0"], "scoring_rule": "mean"}
    old = {"model": MODEL, "settings": opts, "tasks": {"ocnli": {}}, "skipped": {}}
    (out / "results.json").write_text(json.dumps(old), encoding="utf-8")
    report.check_results_dir(out, _settings(bank, limit=3))
    with pytest.raises(report.ResultsConflictError, match=r"limit: 3 -> 10"):
        report.check_results_dir(out, _settings(bank, limit=10))


def test_cli_keeps_runs_of_other_settings(synth_data, checkpoint, make_bank, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bank = make_bank({"ocnli": OCNLI})
    argv = ["eval", "--model", str(checkpoint), "--tasks", "ocnli", "--bank-dir", str(bank), "--quiet"]
    assert main([*argv, "--limit", "2"]) == 0
    assert main([*argv, "--limit", "3"]) == 0
    runs = sorted((tmp_path / "runs" / "eval").glob("*/*/results.json"))
    assert len(runs) == 2
    by_limit = {json.loads(p.read_text())["settings"]["limit"]: p.parent for p in runs}
    assert set(by_limit) == {2, 3}
    for limit, d in by_limit.items():
        assert json.loads((d / "settings.json").read_text())["settings"]["limit"] == limit
        assert json.loads((d / "results.json").read_text())["tasks"]["ocnli"]["n_examples"] == limit
    # A rerun of the same settings writes the same directory, from the prediction cache.
    cache = sorted((tmp_path / "runs" / "eval_cache").rglob("*.jsonl"))
    before = [p.stat().st_mtime_ns for p in cache]
    assert main([*argv, "--limit", "3"]) == 0
    assert len(list((tmp_path / "runs" / "eval").glob("*/*/results.json"))) == 2
    assert [p.stat().st_mtime_ns for p in cache] == before
    # An explicit --out holding other settings is refused before any work, naming what differs.
    capsys.readouterr()
    assert main([*argv, "--limit", "2", "--out", str(by_limit[3])]) == 2
    err = capsys.readouterr().err
    assert "holds results of other settings (limit: 3 -> 2)" in err
    assert json.loads((by_limit[3] / "results.json").read_text())["settings"]["limit"] == 3
