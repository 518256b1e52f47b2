"""`weprompt eval` on a checkpoint in the trainer's layout; model / tokenizer checks."""

from __future__ import annotations

import json

import pytest
import torch
from evalbank import CMRC, OCNLI, write_checkpoint

from weprompt.cli.main import main
from weprompt.eval import modelio
from weprompt.pretrain.model import ModelConfig, WeLM


def test_cli_writes_json_and_markdown(checkpoint, make_bank, tmp_path, capsys, synth_data):
    bank = make_bank({"ocnli": OCNLI, "cmrc2018": CMRC})
    out = tmp_path / "out"
    argv = [
        "eval",
        "--model",
        str(checkpoint),
        "--tasks",
        "ocnli,cmrc2018",
        "--shots",
        "0,paper",
        "--limit",
        "3",
    ]
    argv += ["--bank-dir", str(bank), "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert set(res["tasks"]) == {"ocnli", "cmrc2018"}
    assert set(res["tasks"]["ocnli"]["shots"]) == {"0", "5"} and set(res["tasks"]["cmrc2018"]["shots"]) == {
        "0",
        "1",
    }
    assert res["model"]["path"].endswith("step_00000001") and res["settings"]["limit"] == 3
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "| task | category | metric |" in md and "| cmrc2018 | reading_comprehension | f1 |" in md
    printed = capsys.readouterr().out
    assert "ocnli" in printed and "results.json" in printed


def test_cli_errors_are_one_line(checkpoint, tmp_path, capsys):
    argv = ["eval", "--model", str(checkpoint), "--tasks", "ocnlii", "--cache-dir", str(tmp_path), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown task 'ocnlii'" in err and "Traceback" not in err
    assert main(["eval", "--model", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_tokenizer_must_match_the_model(tiny_lm, tmp_path):
    # the checkpoint says it was trained with another tokenizer
    run = write_checkpoint(tiny_lm, tmp_path / "other", fingerprint="0" * 64)
    with pytest.raises(modelio.ModelMismatchError, match="differs from the one the model was trained with"):
        modelio.load(run)
    # a vocabulary larger than the model's embedding
    small = WeLM(ModelConfig(vocab_size=300, n_layer=1, n_head=2, d_model=16, context_length=32))
    with pytest.raises(modelio.ModelMismatchError, match="not the model's tokenizer"):
        modelio.wrap(small, tiny_lm.tokenizer)


def test_model_hash_follows_the_weights(tiny_lm, checkpoint):
    loaded = modelio.load(checkpoint)
    assert loaded.model_hash == tiny_lm.model_hash  # from disk or from memory: the same cache key
    changed = WeLM(tiny_lm.config)
    changed.load_state_dict(tiny_lm.model.state_dict())
    with torch.no_grad():
        changed.ln_f.weight[0] += 1e-3
    assert modelio.weights_hash(changed) != tiny_lm.model_hash


def test_a_task_the_model_was_trained_on_is_flagged(checkpoint, make_bank, tmp_path, synth_data):
    from weprompt.eval.report import to_markdown
    from weprompt.eval.runner import evaluate

    (checkpoint / "split.json").write_text(json.dumps({"mode": "all", "train_tasks": ["ocnli", "cnsd_snli"]}))
    bank = make_bank({"ocnli": OCNLI[:1], "cmnli": OCNLI[:1], "tnews": []})
    kw = dict(limit=1, bank_dir=str(bank), cache_dir=str(tmp_path), progress=False)
    res = evaluate(str(checkpoint), ["ocnli", "cmnli", "tnews"], [0], **kw)
    assert "training task of this model" in res["tasks"]["ocnli"]["trained_on"]
    assert "same source family were trained on: cnsd_snli" in res["tasks"]["cmnli"]["trained_on"]
    assert "tnews" in res["skipped"]
    assert "⚠ trained on" in to_markdown(res)


def test_checkpoint_written_by_the_real_trainer(tiny_base, tmp_path, synth_data):
    """A base made by the engine (context 64: prompts are cut to fit, and the results say so)."""
    from weprompt.eval.runner import evaluate

    run_dir, bank = tiny_base
    res = evaluate(str(run_dir), ["ocnli"], [0, 5], limit=3, bank_dir=str(bank), cache_dir=str(tmp_path))
    assert res["model"]["tokenizer_fingerprint"] == modelio.load(run_dir).tokenizer_fingerprint
    shots = res["tasks"]["ocnli"]["shots"]
    p0, p5 = shots["0"]["prompts"][0], shots["5"]["prompts"][0]
    assert p0["n"] == 3 and p0["prompt_tokens_mean"] <= 64
    assert p5["shots_dropped"] > 0  # five demonstrations never fit in 64 tokens
