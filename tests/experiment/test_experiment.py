"""The experiment matrix end to end on a tiny base: train what each cell needs, evaluate, report; resume."""

import json
from dataclasses import replace

import pytest
import yaml

from weprompt.catalog import load_catalog
from weprompt.common.errors import UserError
from weprompt.eval.bootstrap import paired_bootstrap
from weprompt.eval.experiment import ExperimentConfig, ExperimentEval, plan_units, run_experiment, validate
from weprompt.eval.table6 import findings, load_paper
from weprompt.finetune import LeakageConfig

pytestmark = pytest.mark.usefixtures("synth_data")  # the tiny base trains and evaluates on synthetic rows

FT = {
    "val_batches": 1,
    "heldout": {"val_batches": 1, "examples": 2, "prompts": 1},  # held-out curves in the report
    "sampler": {"block": 32},
    "train": {
        "total_steps": 2,
        "micro_batch_size": 2,
        "optim": {"max_lr": 1e-4, "warmup_steps": 1},
        "checkpoint": {"every": 0},
        "logging": {"every": 1, "progress": False, "plot": False},
    },
}


def _cfg(tmp_path, base, bank, **kw):
    fields = {
        "name": "t",
        "run_dir": str(tmp_path / "exp"),
        "base": str(base),
        "bank_dir": str(bank),
        "test_tasks": ["ocnli"],
        "modes": ["welm_zero_shot", "welm_few_shot", "weprompt_strong", "weprompt_weak", "welm_finetune"],
        "finetune": FT,
        "single_task_finetune": FT,
        "eval": ExperimentEval(limit=6, batch_size=3),
    }
    return ExperimentConfig(**(fields | kw))


def test_matrix_report_and_resume(tiny_base, tmp_path, monkeypatch):
    base, bank = tiny_base
    import weprompt.finetune
    from weprompt.leakage import LeakageError

    real_gate = weprompt.finetune.gate_report
    monkeypatch.setattr(
        weprompt.finetune,
        "gate_report",
        lambda ft: real_gate(replace(ft, leakage=LeakageConfig(threshold=-1.0))),
    )
    with pytest.raises(LeakageError, match="found before any unit trained"):
        run_experiment(_cfg(tmp_path, base, bank))
    assert not list((tmp_path / "exp" / "models").glob("*/finetune_summary.json"))  # stopped before training
    monkeypatch.setattr(weprompt.finetune, "gate_report", real_gate)
    report = run_experiment(_cfg(tmp_path, base, bank))
    text = report.read_text(encoding="utf-8")
    assert "| nli | ocnli | accuracy |" in text and "/ 44.3" in text  # ours next to the paper's
    assert "Base model:" in text and "paper's numbers are for WeLM 10B" in text
    cells = json.loads((report.parent / "cells.json").read_text())["cells"]
    assert {c["mode"] for c in cells} == {
        "welm_zero_shot",
        "welm_few_shot",
        "weprompt_strong",
        "weprompt_weak",
        "welm_finetune",
    }
    assert all(len(c["per_example"]) == 6 for c in cells)
    few = next(c for c in cells if c["mode"] == "welm_few_shot")
    assert few["shots"] == 5  # the catalog's (paper's) count for OCNLI
    _assert_heldout_curves(text, tmp_path / "exp" / "models")
    for png in ("bars_by_category.png", "box_prompts.png", "training_curves.png", "heldout_curves.png"):
        assert (report.parent / png).stat().st_size > 1000
    assert (report.parent / "report.html").read_text().startswith("<!doctype html>")
    # Resume: nothing is retrained.
    summary = tmp_path / "exp" / "models" / "strong_nli" / "finetune_summary.json"
    before = summary.stat().st_mtime_ns
    run_experiment(_cfg(tmp_path, base, bank))
    assert summary.stat().st_mtime_ns == before
    # A changed leakage gate is checked again on every finished unit; nothing is retrained.
    leak = tmp_path / "exp" / "models" / "strong_nli" / "leakage.json"
    leak_before = leak.stat().st_mtime_ns
    gated = {**FT, "leakage": {"sample": 40, "allow": ["cmnli"]}}
    run_experiment(_cfg(tmp_path, base, bank, finetune=gated, single_task_finetune=gated))
    assert summary.stat().st_mtime_ns == before and leak.stat().st_mtime_ns != leak_before
    assert json.loads((summary.parent / "inputs.json").read_text())["config"]["leakage"]["allow"] == ["cmnli"]
    # A different config on the same run dir is refused.
    with pytest.raises(UserError, match=r"different experiment config \(differs in: seed\)"):
        run_experiment(_cfg(tmp_path, base, bank, seed=1))


def _assert_heldout_curves(text: str, models) -> None:
    """Every trained unit's logged held-out loss and accuracy appear in the report, one row per step."""
    assert "## Held-out test tasks during fine-tuning" in text
    for unit in ("strong_nli", "weak_ocnli"):
        records = [json.loads(x) for x in (models / unit / "train_log.jsonl").read_text().splitlines()]
        heldout = {(r["step"], r["source"]): r["metrics"] for r in records if r["kind"] == "heldout"}
        steps = sorted({s for s, _ in heldout})
        assert steps == [2]  # the end-of-run validation pass
        loss, acc = heldout[2, "heldout_loss"]["loss"], heldout[2, "heldout_accuracy"]
        assert f"| {unit} | 2 | {loss:.3f} | {acc['mean']:.1f} | ocnli {acc['ocnli']:.1f} |" in text


def test_plan_units_follow_the_paper():
    cat = load_catalog()
    cfg = ExperimentConfig(
        test_tasks=["ocnli", "cmnli", "c3"],
        modes=["weprompt_strong", "weprompt_weak", "weprompt_all", "welm_finetune"],
    )
    units = {u.name: u for u in plan_units(cfg, cat)}
    assert units["strong_nli"].test_tasks == ["ocnli", "cmnli"]  # one strong model per held-out category
    assert {"weak_ocnli", "weak_cmnli", "weak_c3", "all", "single_ocnli", "single_c3"} <= set(units)
    assert "single_cmnli" not in units  # no train split
    cfg.share_weak = "category"
    shared = {u.name: u for u in plan_units(cfg, cat)}
    assert shared["weak_shared_nli"].label.startswith("shared per category")
    assert (
        shared["weak_shared_nli"].test_tasks == ["ocnli", "cmnli"]
        and "weak_shared_commonsense_reasoning" in shared
    )
    cfg.share_weak = "all"
    one = [u for u in plan_units(cfg, cat) if u.mode == "weprompt_weak"]
    assert [(u.name, u.test_tasks) for u in one] == [("weak_shared_all", ["ocnli", "cmnli", "c3"])]
    assert units["strong_nli"].held_out_category == "nli" and units["weak_ocnli"].held_out_category is None


def test_strong_unit_drops_its_held_out_category_share_only(tmp_path):
    from weprompt.eval.experiment import _unit_config

    shares = {"nli": 0.5, "sentiment": 0.3, "paraphrase": 0.2}
    cfg = ExperimentConfig(test_tasks=["ocnli", "c3"], modes=["weprompt_strong", "weprompt_weak"],
                           finetune={"mixture": {"categories": dict(shares)}})  # fmt: skip
    units = {u.name: u for u in plan_units(cfg, load_catalog())}
    strong = _unit_config(cfg, units["strong_nli"], tmp_path / "a")
    assert strong.mixture.categories == {"sentiment": 0.3, "paraphrase": 0.2}
    assert (
        _unit_config(cfg, units["strong_commonsense_reasoning"], tmp_path / "b").mixture.categories == shares
    )
    assert _unit_config(cfg, units["weak_ocnli"], tmp_path / "c").mixture.categories == shares
    assert cfg.finetune["mixture"]["categories"] == shares  # the experiment's own config is untouched


def test_bad_configs():
    cat = load_catalog()
    with pytest.raises(UserError, match="unknown mode 'welm_zero'"):
        validate(ExperimentConfig(modes=["welm_zero"]), cat)
    with pytest.raises(Exception, match="unknown task 'ocnlii'"):
        validate(ExperimentConfig(test_tasks=["ocnlii"]), cat)
    with pytest.raises(UserError, match="share_weak must be none, category or all"):
        validate(ExperimentConfig(share_weak="some"), cat)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="unknown key 'stepz'"):
        validate(ExperimentConfig(finetune={"train": {"stepz": 3}}), cat)


def test_paper_numbers_are_data_with_source():
    paper = load_paper()
    assert "2209.10372" in paper["source"]
    assert paper["tasks"]["ocnli"]["weprompt_weak"] == 58.56
    assert paper["tasks"]["c3"]["weprompt_strong"] is None


def test_paired_bootstrap_and_findings():
    assert paired_bootstrap([1.0] * 50, [0.0] * 50)["significant"]
    assert not paired_bootstrap([1.0, 0.0] * 25, [0.0, 1.0] * 25)["significant"]
    with pytest.raises(ValueError, match="same examples"):
        paired_bootstrap([1.0], [1.0, 0.0])
    cells = [
        {
            "task": "ocnli",
            "category": "nli",
            "mode": m,
            "metric": "accuracy",
            "score": s,
            "iqr": [s, s],
            "worst": s,
            "prompts": {"a": s},
            "per_example": pe,
            "example_ids": list(range(4)),
            "out_of_scope": None,
        }
        for m, s, pe in (("welm_zero_shot", 25.0, [0, 0, 1, 0]), ("weprompt_strong", 75.0, [1, 1, 1, 0]))
    ]
    (f,) = findings(cells)
    assert f["finding"] == "strong > WeLM zero-shot" and f["holds_on"] == 1
    # A higher median over prompts with a lower paired mean (a near-tie) does not count as holding:
    # "holds" and the bootstrap judge the same statistic.
    cells[1]["per_example"] = [0, 0, 0, 0]
    (f,) = findings(cells)
    assert f["holds_on"] == 0 and f["rows"][0]["bootstrap"]["diff"] < 0


def test_experiment_yaml_configs_load():
    from pathlib import Path

    from weprompt.eval.experiment import load_experiment

    for p in sorted(Path("experiments").glob("*.yaml")):
        cfg = load_experiment(p)
        validate(cfg, load_catalog())
        assert yaml.safe_load(p.read_text())  # plain YAML
