"""Shared fixtures of the interop tests: the engine-made tiny base (tests/conftest.py), exported once."""

import pytest

pytest.importorskip("transformers")
pytest.importorskip("safetensors")


@pytest.fixture(scope="session")
def exported(tiny_base_session, tmp_path_factory):
    """(our step dir, exported transformers dir) for the tiny base checkpoint, via the real exporter."""
    from weprompt.pretrain.checkpoint import resolve
    from weprompt.pretrain.hf.export import export_checkpoint

    base, _bank = tiny_base_session
    out = tmp_path_factory.mktemp("export") / "hf"
    result = export_checkpoint(base, out)
    assert result.verified is not None
    return resolve(base), out


@pytest.fixture(scope="session")
def models(exported):
    """(our WeLM, transformers model, our Tokenizer, transformers tokenizer), all fp32 on CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from weprompt.pretrain.checkpoint import load_model
    from weprompt.pretrain.tokenizer import Tokenizer

    step_dir, hf_dir = exported
    ours, _cfg, tok_dir = load_model(step_dir)
    import torch

    hf = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32).eval()
    return ours, hf, Tokenizer.load(tok_dir), AutoTokenizer.from_pretrained(str(hf_dir))
