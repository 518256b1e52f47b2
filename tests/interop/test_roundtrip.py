"""import-hf is the exact inverse of export, and its output is a base that WePrompt fine-tuning accepts."""

import json

import torch
from safetensors.torch import load_file
from testutil import tiny_finetune_config

from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.hf.export import export_checkpoint
from weprompt.pretrain.hf.import_ import import_hf


def test_round_trip_is_exact(exported, tmp_path):
    step_dir, hf_dir = exported
    res = import_hf(hf_dir, tmp_path / "imported")
    assert res.step_dir == tmp_path / "imported" / "checkpoints" / step_dir.name  # the step is kept
    assert ckpt.resolve(tmp_path / "imported") == res.step_dir
    ckpt.verify(res.step_dir)  # manifest with sizes and sha256, like a trained checkpoint

    before = torch.load(step_dir / ckpt.MODEL_FILE, weights_only=True)
    after = torch.load(res.step_dir / ckpt.MODEL_FILE, weights_only=True)
    assert list(before) == list(after)
    for k in before:
        assert before[k].dtype == after[k].dtype and torch.equal(before[k], after[k]), k
    assert ckpt.read_model_config(step_dir) == ckpt.read_model_config(res.step_dir)
    tok = ckpt.TOKENIZER_DIR + "/tokenizer.model"
    assert (step_dir / tok).read_bytes() == (res.step_dir / tok).read_bytes()

    # And back again: the second export holds the same tensors as the first.
    export_checkpoint(tmp_path / "imported", tmp_path / "hf2", verify=False)
    a, b = (
        load_file(str(hf_dir / "model.safetensors")),
        load_file(str(tmp_path / "hf2" / "model.safetensors")),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((hf_dir / "config.json").read_text()) == json.loads(
        (tmp_path / "hf2" / "config.json").read_text()
    )


def test_imported_checkpoint_loads_for_evaluation(exported, tmp_path):
    from weprompt.eval.modelio import load

    _step_dir, hf_dir = exported
    import_hf(hf_dir, tmp_path / "imported")
    lm = load(tmp_path / "imported")
    assert (
        lm.tokenizer.fingerprint() == json.loads((hf_dir / "welm.json").read_text())["tokenizer_fingerprint"]
    )


def test_weprompt_finetune_from_imported_base_then_export(exported, tiny_base, tmp_path, synth_data):
    """A base from a transformers directory → WePrompt fine-tuning → export with the split in the card."""
    from weprompt.finetune import LeakageConfig, run_finetune

    _step_dir, hf_dir = exported
    _base, bank = tiny_base
    import_hf(hf_dir, tmp_path / "imported")
    cfg = tiny_finetune_config(
        tmp_path / "imported", bank, tmp_path / "ft", steps=1, leakage=LeakageConfig(sample=20)
    )
    summary = run_finetune(cfg)
    assert summary["steps"] == 1
    export_checkpoint(tmp_path / "ft", tmp_path / "ft_hf")
    meta = json.loads((tmp_path / "ft_hf" / "welm.json").read_text())
    assert meta["provenance"]["kind"] == "weprompt"
    assert meta["provenance"]["split"]["mode"] == "strong" and meta["provenance"]["split"]["test_tasks"] == [
        "ocnli"
    ]
    card = (tmp_path / "ft_hf" / "README.md").read_text()
    assert "# WePrompt" in card and "Split mode: `strong`" in card and "`ocnli`" in card
