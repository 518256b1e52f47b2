"""`--shard i/n` + `weprompt eval merge` equal one run; `--config` (typed, flags override); negatives policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evalbank import CMRC, OCNLI, TNEWS
from test_eval_runner import _records, assert_close

from weprompt.cli.main import main
from weprompt.common.config import ConfigError
from weprompt.eval.cache import read_predictions
from weprompt.eval.config import load_eval_config
from weprompt.eval.runner import evaluate
from weprompt.eval.shards import ShardError, merge, write_manifest

REPO = Path(__file__).resolve().parents[2]


def _drop_timing(results: dict) -> dict:
    tasks = json.loads(json.dumps(results["tasks"]))
    for t in tasks.values():
        for s in t["shots"].values():
            for p in s["prompts"]:
                p.pop("seconds")
                p.pop("predictions")
    return tasks


def test_sharded_cli_runs_merge_to_one_run(checkpoint, make_bank, tmp_path, synth_data, capsys):
    bank = make_bank({"ocnli": OCNLI[:2], "cmrc2018": CMRC[:1]})
    common = ["eval", "--model", str(checkpoint), "--tasks", "ocnli,cmrc2018", "--shots", "0,1", "--limit", "5",
              "--bank-dir", str(bank), "--quiet"]  # fmt: skip
    assert main([*common, "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "one")]) == 0
    dirs = []
    for i in range(3):  # each shard on "its own machine": its own cache
        d = tmp_path / f"s{i}"
        argv = [*common, "--shard", f"{i}/3", "--cache-dir", str(tmp_path / f"c{i}"), "--out", str(d)]
        assert main([*argv, "--batch-size", str(i + 2)]) == 0
        dirs.append(str(d))
    cells = []
    for d in dirs:
        manifest = json.loads((Path(d) / "shard.json").read_text(encoding="utf-8"))
        cells.append(
            {
                (c["task"], c["k"], c["template_id"], key)
                for c in manifest["cells"]
                if c["n"]
                for key in read_predictions(c["path"])
            }
        )
    assert all(cells) and not (cells[0] & cells[1] or cells[0] & cells[2] or cells[1] & cells[2])  # disjoint
    assert len(cells[0] | cells[1] | cells[2]) == (2 * 2 + 2) * 5  # ocnli 2 prompts × 2 shots, cmrc 1 × 2
    with pytest.raises(ShardError, match="shards 1/3 are missing"):
        merge([dirs[0], dirs[2]])
    assert (
        main(
            ["eval", "merge", *dirs[::-1], "--cache-dir", str(tmp_path / "cm"), "--out", str(tmp_path / "m")]
        )
        == 0
    )
    one = json.loads((tmp_path / "one" / "results.json").read_text(encoding="utf-8"))
    merged = json.loads((tmp_path / "m" / "results.json").read_text(encoding="utf-8"))
    assert_close(_drop_timing(one), _drop_timing(merged))
    assert _records({"tasks": one["tasks"]}).keys() == _records({"tasks": merged["tasks"]}).keys()
    assert_close(
        list(_records({"tasks": one["tasks"]}).values()), list(_records({"tasks": merged["tasks"]}).values())
    )
    assert (
        merged["settings"]["shard"] is None and one["settings"]["limit"] == merged["settings"]["limit"] == 5
    )


def test_config_file_flags_override_and_unknown_keys(tmp_path):
    cfg = tmp_path / "e.yaml"
    cfg.write_text(
        "tasks: [ocnli]\nlimit: 2\nnegatives: all\nbatch_size: auto\nprefix_eos: false\n", encoding="utf-8"
    )
    c = load_eval_config(cfg, {"limit": 7, "model": "m", "seed": None})
    assert (c.limit, c.tasks, c.negatives, c.batch_size, c.prefix_eos, c.seed) == (
        7,
        ["ocnli"],
        "all",
        "auto",
        False,
        0,
    )
    cfg.write_text("limt: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'limt'.*limit"):
        load_eval_config(cfg, {})
    for bad, msg in (
        ("negatives: some", "negatives"),
        ("batch_size: 0", "batch_size"),
        ("shard: 3/3", "shard"),
    ):
        cfg.write_text(bad + "\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=msg):
            load_eval_config(cfg, {})
    for shipped in sorted((REPO / "configs" / "eval").glob("*.yaml")):
        load_eval_config(shipped, {"model": "m"})  # every shipped config loads


def test_cli_config_with_unknown_key_is_one_line_error(tmp_path, capsys):
    cfg = tmp_path / "e.yaml"
    cfg.write_text("model: x\nthreds: 2\n", encoding="utf-8")
    assert main(["eval", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'threds'" in err and "Traceback" not in err


def test_negatives_policy_paper_or_all_labels(tiny_lm, make_bank, tmp_path, synth_data):
    bank = make_bank({"tnews": TNEWS[:1]})
    runs = {}
    for policy in ("paper", "all"):
        runs[policy] = evaluate(tiny_lm, ["tnews"], [0], limit=4, negatives=policy, bank_dir=str(bank),
                                cache_dir=str(tmp_path / "c"), progress=False)  # fmt: skip
    n_choices = {
        p: {len(r["choices"]) for recs in _records(res).values() for r in recs.values()}
        for p, res in runs.items()
    }
    assert n_choices == {"paper": {4}, "all": {15}}
    assert (
        runs["all"]["tasks"]["tnews"]["negatives"] == "all" and runs["all"]["settings"]["negatives"] == "all"
    )
    assert runs["paper"]["tasks"]["tnews"]["eval_negatives"] == 3
    with pytest.raises(Exception, match="negatives"):
        evaluate(tiny_lm, ["tnews"], [0], limit=1, negatives="some", bank_dir=str(bank), progress=False)
    write_manifest({"x": 1}, tmp_path / "m")  # a directory is created for the manifest


def test_auto_threads_leave_busy_cores_and_auto_batch_is_a_power_of_two(monkeypatch, tiny_lm):
    import os

    from weprompt.eval import runtime

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert runtime.auto_threads() == 1  # 4 cores, 3 busy
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert runtime.auto_threads() == 1  # never below one
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert runtime.auto_threads() == 4
    b = runtime.auto_batch_size(tiny_lm)
    assert 1 <= b <= runtime.MAX_BATCH and b & (b - 1) == 0
    monkeypatch.setattr(runtime, "_available_bytes", lambda: 1 << 20)  # 1 MiB free: the smallest batch
    assert runtime.auto_batch_size(tiny_lm) == 1
