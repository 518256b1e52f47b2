"""Every reused quickstart stage checks it was built from the current inputs, else it is rebuilt (or
refused) with the changed input named: corpus → tokenizer/shards → base → experiment units and
evaluations. A tiny synthetic setup: no shared data."""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path

import pytest
import yaml

import weprompt.cli.quickstart as qs
from weprompt.common.errors import UserError
from weprompt.eval.experiment import ExperimentConfig, Unit, _evaluate, train_unit
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.shards import ShardWriter
from weprompt.pretrain.tokenizer import train_tokenizer

CHARS = [chr(0x4E00 + i) for i in range(200)]


def _texts(seed: int, n: int = 200) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(CHARS) for _ in range(60)) for _ in range(n)]


def build_corpus(out: Path, vocab: int = 700, seed: int = 0) -> str:
    """A tokenizer and shards made with it (what the corpus build leaves): the tokenizer's fingerprint."""
    texts = _texts(seed)
    tok = train_tokenizer(texts, out / "tokenizer", vocab_size=vocab, char_sets=("ascii",), num_threads=1)
    with ShardWriter(out / "shards", tok.vocab_size, tok.fingerprint(), tok.eos_id) as w:
        for t in texts:
            w.add_document(tok.encode(t), "books")
    return tok.fingerprint()


def fake_checkpoint(step_dir: Path, weights: bytes, tokenizer: str) -> Path:
    """A step dir as the trainer leaves it, as far as its identity goes (weights bytes, state, manifest)."""
    step_dir.mkdir(parents=True, exist_ok=True)
    (step_dir / ckpt.MODEL_FILE).write_bytes(weights)
    (step_dir / ckpt.STATE_FILE).write_text(json.dumps({"tokenizer_fingerprint": tokenizer}))
    ckpt.write_manifest(step_dir)
    ckpt.point_latest(step_dir.parent, step_dir)
    return step_dir


# -- base -----------------------------------------------------------------------------------------


def _pretrain_yaml(path: Path, corpus: Path, **train) -> str:
    cfg = {
        "model": {"n_layer": 1, "n_head": 2, "d_model": 32, "context_length": 32},
        "data": {
            "shards": str(corpus / "shards"),
            "tokenizer": str(corpus / "tokenizer"),
            "val_fraction": 0.1,
        },
        "train": {
            "run_dir": str(path.parent / "base"),
            "total_steps": 2,
            "micro_batch_size": 2,
            "num_threads": 1,
            "optim": {"warmup_steps": 1},
            "checkpoint": {"every": 0},
            "logging": {"every": 1, "progress": False, "plot": False},
            "eval": {"batches": 1},
            **train,
        },
    }
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


def _base_step(tmp_path: Path) -> Path:
    return ckpt.latest_checkpoint(tmp_path / "base" / "checkpoints")


def test_base_is_rebuilt_when_the_tokenizer_shards_or_config_change(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    first = build_corpus(corpus)
    config = _pretrain_yaml(tmp_path / "pre.yaml", corpus)
    qs.base_stage(config)
    step = _base_step(tmp_path)
    assert json.loads((step / ckpt.STATE_FILE).read_text())["tokenizer_fingerprint"] == first
    built = (step / ckpt.MODEL_FILE).stat().st_mtime_ns
    capsys.readouterr()

    qs.base_stage(config)  # the same inputs: reused
    assert (
        "already complete, built from the same tokenizer, shards and config: reusing it"
        in capsys.readouterr().out
    )
    assert (_base_step(tmp_path) / ckpt.MODEL_FILE).stat().st_mtime_ns == built

    second = build_corpus(corpus, vocab=720)  # the corpus build made a new tokenizer and new shards
    qs.base_stage(config)
    out = capsys.readouterr().out
    assert (
        "was built from other inputs: shards: " in out and f"tokenizer: {first[:12]} -> {second[:12]}" in out
    )
    state = json.loads((_base_step(tmp_path) / ckpt.STATE_FILE).read_text())
    assert state["tokenizer_fingerprint"] == second

    qs.base_stage(_pretrain_yaml(tmp_path / "pre.yaml", corpus, logging={"every": 2, "progress": False}))
    assert "reusing it" in capsys.readouterr().out  # logging does not change the weights
    qs.base_stage(_pretrain_yaml(tmp_path / "pre.yaml", corpus, seed=7))
    assert "was built from other inputs: config.train.seed: 1234 -> 7" in capsys.readouterr().out


def test_a_base_without_a_record_is_checked_against_its_checkpoints_tokenizer(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    build_corpus(corpus)
    config = _pretrain_yaml(tmp_path / "pre.yaml", corpus)
    qs.base_stage(config)
    (tmp_path / "base" / "inputs.json").unlink()  # a base trained before inputs were recorded
    build_corpus(corpus, vocab=720)
    capsys.readouterr()
    qs.base_stage(config)
    assert "was built from other inputs: tokenizer: " in capsys.readouterr().out


# -- corpus ---------------------------------------------------------------------------------------


def test_corpus_stage_names_changed_inputs_and_checks_its_outputs(tmp_path, monkeypatch, capsys):
    src = tmp_path / "src" / "books"
    src.mkdir(parents=True)
    (src / "a.jsonl").write_text('{"text": "一"}\n', encoding="utf-8")
    (tmp_path / "data" / "ocnli").mkdir(parents=True)
    (tmp_path / "data" / "ocnli" / "validation.jsonl").write_text("{}\n", encoding="utf-8")
    config = tmp_path / "corpus.yaml"
    work = tmp_path / "work"
    config.write_text(
        yaml.safe_dump(
            {
                "corpus_dir": str(tmp_path / "src"),
                "work_dir": str(work),
                "decontam": {"data_dir": str(tmp_path / "data")},
            }
        )
    )
    vocab = {"size": 700, "shards_from": None}

    def fake_build(argv):  # what `weprompt corpus build` leaves in the work dir
        fp = build_corpus(work, vocab["size"])
        if vocab["shards_from"]:
            with ShardWriter(work / "shards", 800, vocab["shards_from"], 2) as w:
                w.add_document([5, 6], "books")
        return fp

    monkeypatch.setattr(qs, "_run", fake_build)
    qs.corpus_stage(str(config))
    recorded = json.loads((work / "inputs.json").read_text())
    assert recorded["corpus files"]["books/a.jsonl"][0] == len('{"text": "一"}\n'.encode())
    capsys.readouterr()

    qs.corpus_stage(str(config))
    assert "changed" not in capsys.readouterr().out

    (src / "a.jsonl").write_text('{"text": "二二"}\n', encoding="utf-8")
    (src.parent / "news").mkdir()
    (src.parent / "news" / "b.jsonl").write_text('{"text": "三"}\n', encoding="utf-8")
    (tmp_path / "data" / "ocnli" / "validation.jsonl").write_text("{}\n{}\n", encoding="utf-8")
    vocab["size"] = 720
    monkeypatch.setattr("weprompt.pretrain.corpus.runtime.code_fingerprint", lambda: "0" * 16)
    qs.corpus_stage(str(config))
    out = capsys.readouterr().out
    assert "pipeline code: " in out and " -> 0000000000000000" in out
    assert "corpus inputs changed since the last build: corpus files.books/a.jsonl: [" in out
    assert "corpus files.news/b.jsonl: (absent) -> [" in out
    assert "task data files.ocnli/validation.jsonl: [3," in out
    assert "corpus outputs changed: shards: " in out and "; tokenizer: " in out

    vocab["shards_from"] = "e" * 64  # shards of another tokenizer beside the tokenizer: refused
    with pytest.raises(UserError, match="were made with tokenizer eeeeeeeeeeee, but .* is "):
        qs.corpus_stage(str(config))


# -- experiment units and evaluations ------------------------------------------------------------


@pytest.fixture
def experiment(tmp_path, monkeypatch):
    """An experiment config whose fine-tuning is faked: the calls it got, and the config."""
    import weprompt.finetune

    calls = []

    def fake_finetune(ft, probe_factory=None):  # the experiment injects the held-out probe
        calls.append(ft)
        run = Path(ft.train.run_dir)
        fake_checkpoint(run / "checkpoints" / ckpt.step_name(1), b"unit", "tok-" + ft.base)
        (run / "finetune_summary.json").write_text("{}")

    monkeypatch.setattr(weprompt.finetune, "run_finetune", fake_finetune)
    shards = tmp_path / "shards"
    _write_shards(shards, [1, 2, 3])
    ft = {"batch": {"warmup": {"steps": 5, "shards": str(shards)}}, "train": {"optim": {"max_lr": 1e-4}}}
    cfg = ExperimentConfig(run_dir=str(tmp_path / "exp"), finetune=ft)
    return cfg, calls


def _write_shards(path: Path, ids: list[int]) -> None:
    with ShardWriter(path, 50, "f" * 64, 2) as w:
        w.add_document(ids, "books")


UNIT = Unit("strong_nli", "weprompt_strong", "strong", ["ocnli"], ["ocnli"])
BASE_A = {"weights": "a" * 64, "tokenizer": "1" * 64}


def test_units_are_reused_only_when_built_from_the_same_inputs(experiment, tmp_path, caplog):
    cfg, calls = experiment
    run = train_unit(cfg, UNIT, BASE_A)
    assert len(calls) == 1 and json.loads((run / "inputs.json").read_text())["base"] == BASE_A
    (run / "marker").write_text("")
    assert train_unit(cfg, UNIT, BASE_A) == run and len(calls) == 1  # reused
    cfg.finetune["train"]["logging"] = {"every": 3}
    train_unit(cfg, UNIT, BASE_A)
    assert len(calls) == 1  # logging changes nothing the unit learns

    caplog.set_level(logging.WARNING)
    rebuilt_base = {**BASE_A, "weights": "b" * 64}
    train_unit(cfg, UNIT, rebuilt_base)
    assert len(calls) == 2 and not (run / "marker").exists()  # the stale unit was removed first
    assert (
        f"was built from other inputs (base.weights: {'a' * 12} -> {'b' * 12}): retraining it" in caplog.text
    )

    _write_shards(tmp_path / "shards", [4, 5, 6, 7])  # the corpus build wrote new warm-up shards
    train_unit(cfg, UNIT, rebuilt_base)
    assert len(calls) == 3 and "(warmup shards: " in caplog.text

    cfg.finetune["train"]["optim"]["max_lr"] = 2e-4
    train_unit(cfg, UNIT, rebuilt_base)
    assert len(calls) == 4 and "config.train.optim.max_lr: 0.0001 -> 0.0002" in caplog.text


def test_a_moved_experiment_folder_keeps_its_units(experiment, tmp_path):
    cfg, calls = experiment
    run = train_unit(cfg, UNIT, BASE_A)
    moved = tmp_path / "moved"
    shutil.move(str(cfg.out), moved)
    cfg.run_dir = str(moved)
    assert (
        train_unit(cfg, UNIT, BASE_A) == moved / "models" / UNIT.name and len(calls) == 1
    )  # reused, not retrained
    assert run != moved / "models" / UNIT.name
    recorded = json.loads((moved / "models" / UNIT.name / "inputs.json").read_text())
    recorded["config"]["train"]["run_dir"] = str(run)  # as recorded before run_dir stopped counting
    (moved / "models" / UNIT.name / "inputs.json").write_text(json.dumps(recorded))
    assert train_unit(cfg, UNIT, BASE_A) == moved / "models" / UNIT.name and len(calls) == 1


def test_an_interrupted_unit_resumes_and_an_unrecorded_one_is_checked(experiment, caplog):
    cfg, calls = experiment
    run = train_unit(cfg, UNIT, BASE_A)
    (run / "finetune_summary.json").unlink()  # interrupted after its first checkpoint
    train_unit(cfg, UNIT, BASE_A)
    assert len(calls) == 2 and (run / "checkpoints").is_dir()  # resumed in place, not removed
    # A unit from before inputs were recorded: its checkpoints' tokenizer must be the base's.
    (run / "inputs.json").unlink()
    fake_checkpoint(run / "checkpoints" / ckpt.step_name(1), b"unit", BASE_A["tokenizer"])
    train_unit(cfg, UNIT, BASE_A)
    assert len(calls) == 2
    (run / "inputs.json").unlink()
    caplog.set_level(logging.WARNING)
    train_unit(cfg, UNIT, {**BASE_A, "tokenizer": "2" * 64})
    assert len(calls) == 3 and f"(base.tokenizer: {'1' * 12} -> {'2' * 12})" in caplog.text


def test_evaluations_are_redone_when_the_model_changed(tmp_path, monkeypatch, caplog):
    from weprompt.eval import runner

    calls = []

    def fake_evaluate(model, tasks, shots, opts):
        calls.append(model)
        return {"tasks": {t: {} for t in tasks}, "skipped": {}}

    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    cfg = ExperimentConfig(run_dir=str(tmp_path / "exp"))
    model = tmp_path / "model" / "checkpoints"
    fake_checkpoint(model / ckpt.step_name(1), b"one", "1" * 64)
    _evaluate(cfg, model.parent, ["ocnli"], [0], "base")
    _evaluate(cfg, model.parent, ["ocnli"], [0], "base")
    assert len(calls) == 1  # reused
    caplog.set_level(logging.WARNING)
    fake_checkpoint(model / ckpt.step_name(2), b"two", "1" * 64)  # the model was trained on
    _evaluate(cfg, model.parent, ["ocnli"], [0], "base")
    assert len(calls) == 2 and "base.json is out of date (model.weights: " in caplog.text
    saved = tmp_path / "exp" / "evals" / "base.json"
    legacy = json.loads(saved.read_text())
    del legacy["experiment_inputs"]  # written before evaluations recorded their model
    saved.write_text(json.dumps(legacy))
    _evaluate(cfg, model.parent, ["ocnli"], [0], "base")
    assert len(calls) == 3 and "no record of the model it evaluated" in caplog.text


def test_a_changed_leakage_gate_is_checked_again_not_retrained(experiment, monkeypatch):
    import weprompt.finetune

    cfg, calls = experiment
    run = train_unit(cfg, UNIT, BASE_A)
    checked = []
    monkeypatch.setattr(weprompt.finetune, "recheck_leakage", lambda ft: checked.append(ft.leakage.allow))
    cfg.finetune["leakage"] = {"allow": ["cmnli"]}
    assert train_unit(cfg, UNIT, BASE_A) == run and len(calls) == 1 and checked == [["cmnli"]]
    assert train_unit(cfg, UNIT, BASE_A) == run and checked == [["cmnli"]]  # recorded: not checked twice

    def fails(ft):
        raise UserError("leakage above the threshold")

    monkeypatch.setattr(weprompt.finetune, "recheck_leakage", fails)
    cfg.finetune["leakage"] = {"allow": []}
    with pytest.raises(UserError, match="leakage above"):
        train_unit(cfg, UNIT, BASE_A)
    assert json.loads((run / "inputs.json").read_text())["config"]["leakage"]["allow"] == ["cmnli"]
    cfg.finetune["leakage"] = {"allow": ["cmnli"], "n": 8}
    cfg.finetune["train"]["optim"]["max_lr"] = 3e-4  # a gate change with a real one: retrained
    train_unit(cfg, UNIT, BASE_A)
    assert len(calls) == 2


def test_every_gate_is_checked_before_the_first_unit_trains(experiment, monkeypatch):
    from types import SimpleNamespace

    import weprompt.finetune
    from weprompt.eval.experiment import preflight_gates
    from weprompt.leakage import LeakageError

    cfg, calls = experiment
    weak = Unit("weak_ocnli", "weprompt_weak", "weak", ["ocnli"], ["ocnli"])
    single = Unit("single_ocnli", "welm_finetune", "single", ["ocnli"], ["ocnli"])
    seen = []

    def gate(ft):
        seen.append(Path(ft.train.run_dir).name)
        return SimpleNamespace(errors=[f"training task 'x{len(seen)}': 9/250 examples"])

    monkeypatch.setattr(weprompt.finetune, "gate_report", gate)
    with pytest.raises(LeakageError) as e:
        preflight_gates(cfg, [UNIT, weak, single])
    assert seen == ["strong_nli", "weak_ocnli"]  # a single-task unit has no held-out task to leak into
    assert "strong_nli: training task 'x1'" in str(e.value) and "weak_ocnli: training task 'x2'" in str(
        e.value
    )
    assert calls == []  # nothing trained
    train_unit(cfg, UNIT, BASE_A)  # a finished unit is not checked again here
    seen.clear()
    with pytest.raises(LeakageError):
        preflight_gates(cfg, [UNIT, weak])
    assert seen == ["weak_ocnli"]
