"""Bad input: a clear error naming the file or field, and nothing half-written."""

import json
import shutil

import pytest
import torch
import yaml

from weprompt.cli.main import main
from weprompt.common.errors import UserError
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.hf import InteropError
from weprompt.pretrain.hf.export import export_checkpoint
from weprompt.pretrain.hf.import_ import import_hf
from weprompt.pretrain.hf.tokenizer import parse_proto


def _no_leftovers(parent):
    return not [p.name for p in parent.iterdir() if p.name.startswith((".tmp_", ".old_"))]


def _copy_step(exported, tmp_path):
    step_dir, _ = exported
    dst = tmp_path / "step_00000002"
    shutil.copytree(step_dir, dst)
    return dst


def test_existing_output_needs_force_and_force_only_replaces_exports(exported, tmp_path, capsys):
    step_dir, _ = exported
    out = tmp_path / "hf"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", "--checkpoint", str(step_dir), "--out", str(out), "--no-verify"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    with pytest.raises(InteropError, match="not empty and has no welm.json"):
        export_checkpoint(step_dir, out, force=True, verify=False)
    assert (out / "keep.txt").read_text() == "mine"

    fresh = tmp_path / "fresh"
    assert main(["export", "--checkpoint", str(step_dir), "--out", str(fresh), "--no-verify"]) == 0
    (fresh / "marker").write_text("old")
    assert main(["export", "--checkpoint", str(step_dir), "--out", str(fresh), "--force", "--no-verify"]) == 0
    assert not (fresh / "marker").exists() and (fresh / "welm.json").is_file()
    assert _no_leftovers(tmp_path)


def test_output_cannot_replace_its_input(exported):
    step_dir, _ = exported
    with pytest.raises(InteropError, match="would replace its own input"):
        export_checkpoint(step_dir, step_dir.parent, force=True)


def test_incompatible_trainer_state_version(exported, tmp_path):
    step = _copy_step(exported, tmp_path)
    state = json.loads((step / ckpt.STATE_FILE).read_text())
    state["version"] = 99
    (step / ckpt.STATE_FILE).write_text(json.dumps(state))
    ckpt.write_manifest(step)
    with pytest.raises(
        InteropError, match=r"trainer_state.json: trainer state version 99 .* incompatible version"
    ):
        export_checkpoint(step, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _no_leftovers(tmp_path)


def test_incompatible_model_config(exported, tmp_path):
    step = _copy_step(exported, tmp_path)
    cfg = yaml.safe_load((step / ckpt.MODEL_CONFIG_FILE).read_text())
    cfg["n_head"] = 4  # shapes still fit (d_model 32), but the weights were trained with 2 heads...
    cfg["rope_scale"] = 2.0  # ...and this key does not exist in this version
    (step / ckpt.MODEL_CONFIG_FILE).write_text(yaml.safe_dump(cfg))
    ckpt.write_manifest(step)
    with pytest.raises(UserError, match=r"model_config.yaml.*unknown key 'rope_scale'"):
        export_checkpoint(step, tmp_path / "out")
    cfg.pop("rope_scale")
    cfg["d_model"] = 48
    (step / ckpt.MODEL_CONFIG_FILE).write_text(yaml.safe_dump(cfg))
    ckpt.write_manifest(step)
    with pytest.raises(UserError, match=r"model.pt does not fit .*model_config.yaml"):
        export_checkpoint(step, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _no_leftovers(tmp_path)


def test_tokenizer_that_cannot_be_represented(exported, tmp_path):
    step = _copy_step(exported, tmp_path)
    (step / ckpt.STATE_FILE).unlink()  # a weights-only checkpoint: no fingerprint to compare with
    model_file = step / ckpt.TOKENIZER_DIR / "tokenizer.model"
    m = parse_proto(model_file.read_bytes())
    m.normalizer_spec.remove_extra_whitespaces = True  # SentencePiece would collapse "a  b"
    model_file.write_bytes(m.SerializeToString())
    ckpt.write_manifest(step)
    with pytest.raises(
        InteropError, match=r"tokenizer.*cannot be represented faithfully.*remove_extra_whitespaces"
    ):
        export_checkpoint(step, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _no_leftovers(tmp_path)


def test_failure_after_staging_leaves_nothing(exported, tmp_path):
    """A failure once the directory is being written (here: the transformers check, on a model with a NaN
    weight) removes the stage: nothing appears under --out."""
    step = _copy_step(exported, tmp_path)
    state = torch.load(step / ckpt.MODEL_FILE, weights_only=True)
    state["blocks.0.ffn.fc.weight"][0, 0] = float("nan")
    torch.save(state, step / ckpt.MODEL_FILE)
    ckpt.write_manifest(step)
    with pytest.raises(InteropError, match="logits differ from ours by nan"):
        export_checkpoint(step, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _no_leftovers(tmp_path)


def _hf_copy(exported, tmp_path):
    _, hf_dir = exported
    dst = tmp_path / "hf"
    shutil.copytree(hf_dir, dst)
    return dst


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("use_parallel_residual", True, "use_parallel_residual must be false"),
        ("hidden_act", "gelu", "hidden_act 'gelu' must be 'gelu_pytorch_tanh'"),
        (
            "rope_parameters",
            {"rope_theta": 10000.0, "partial_rotary_factor": 0.25},
            "partial_rotary_factor 0.25",
        ),
        ("model_type", "llama", "model_type 'llama' is not 'gpt_neox'"),
    ],
)
def test_import_refuses_other_architectures(exported, tmp_path, field, value, message):
    hf = _hf_copy(exported, tmp_path)
    cfg = json.loads((hf / "config.json").read_text())
    cfg[field] = value
    (hf / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InteropError, match=message):
        import_hf(hf, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _no_leftovers(tmp_path)


def test_import_refuses_bad_tokenizers_and_metadata(exported, tmp_path, task_tokenizer):
    hf = _hf_copy(exported, tmp_path)
    # A tokenizer.json that does not encode like tokenizer.model.
    tj = json.loads((hf / "tokenizer.json").read_text())
    tj["model"]["merges"] = tj["model"]["merges"][: len(tj["model"]["merges"]) // 2]
    good = (hf / "tokenizer.json").read_text()
    (hf / "tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(InteropError, match="tokenizer.json and tokenizer.model encode differently"):
        import_hf(hf, tmp_path / "out")
    (hf / "tokenizer.json").write_text(good)
    # A newer export format.
    meta = json.loads((hf / "welm.json").read_text())
    (hf / "welm.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(InteropError, match="welm.json: format_version 99 is newer"):
        import_hf(hf, tmp_path / "out")
    (hf / "welm.json").unlink()
    # No SentencePiece model: the tokenizer cannot be represented in our format.
    (hf / "tokenizer.model").unlink()
    with pytest.raises(InteropError, match="no tokenizer.model"):
        import_hf(hf, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _no_leftovers(tmp_path)


def test_import_missing_tensor_and_zero_bias_rule(exported, tmp_path):
    from safetensors.torch import load_file, save_file

    hf = _hf_copy(exported, tmp_path)
    tensors = load_file(str(hf / "model.safetensors"))
    # All-zero GPT-NeoX biases are WeLM's bias: false; a non-zero one turns bias on (and is kept).
    (hf / "welm.json").unlink()
    tensors["gpt_neox.layers.0.mlp.dense_h_to_4h.bias"] += 0.5
    save_file(tensors, str(hf / "model.safetensors"))
    res = import_hf(hf, tmp_path / "biased")
    assert res.config.bias is True
    state = torch.load(res.step_dir / ckpt.MODEL_FILE, weights_only=True)
    assert torch.all(state["blocks.0.ffn.fc.bias"] == 0.5) and not state["blocks.0.attn.qkv.bias"].any()
    del tensors["gpt_neox.layers.0.attention.dense.weight"]
    save_file(tensors, str(hf / "model.safetensors"))
    with pytest.raises(InteropError, match="tensor 'gpt_neox.layers.0.attention.dense.weight' is missing"):
        import_hf(hf, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_import_cli(exported, tmp_path, capsys):
    _, hf_dir = exported
    assert main(["import-hf", str(hf_dir), "--out", str(tmp_path / "run")]) == 0
    assert "imported" in capsys.readouterr().out
    assert main(["import-hf", str(hf_dir), "--out", str(tmp_path / "run")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["import-hf", str(hf_dir), "--out", str(tmp_path / "run"), "--force"]) == 0
    assert (tmp_path / "run" / "import.json").is_file() and _no_leftovers(tmp_path)
