"""Export → plain transformers: same logits (fp32, CPU, 1e-5) on packed and unpacked rows, same greedy tokens."""

import json

import pytest
import torch

from weprompt.pretrain.hf.verify import hf_greedy, logits_pair
from weprompt.pretrain.model import WeLM

ATOL = 1e-5


def _batch(tok, texts, T):
    ids = [t for x in texts for t in [tok.eos_id, *tok.encode(x)]]
    ids = (ids * (2 * T // len(ids) + 1))[: 2 * T]
    return torch.tensor(ids).view(2, T)


TEXTS = [
    "评论：这家酒店的服务很好，房间也干净。\n态度？\n好评",
    "“今天下雨”“今天天晴”同义吗？\n不同义",
    "标题：股市大涨\n类别：\n股票",
]


def test_files_and_config_need_no_custom_code(exported):
    from transformers import AutoConfig

    _step_dir, hf_dir = exported
    names = {p.name for p in hf_dir.iterdir()}
    need = {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    }
    assert need | {"README.md", "tokenizer.model", "welm.json"} <= names
    assert not any(n.endswith(".py") for n in names)
    raw = json.loads((hf_dir / "config.json").read_text())
    assert "auto_map" not in raw and raw["architectures"] == ["GPTNeoXForCausalLM"]
    cfg = AutoConfig.from_pretrained(str(hf_dir))
    assert cfg.model_type == "gpt_neox" and cfg.use_parallel_residual is False
    assert cfg.rope_parameters["partial_rotary_factor"] == 1.0 and cfg.tie_word_embeddings is True
    card = (hf_dir / "README.md").read_text()
    assert "## Training data" in card and "## Scale" in card and "library_name: transformers" in card


def test_logits_unpacked_and_packed(models):
    ours, hf, tok, _hf_tok = models
    T = ours.config.context_length
    ids = _batch(tok, TEXTS, T)
    mine, theirs = logits_pair(ours, hf, ids)
    assert mine.shape == theirs.shape == (2, T, ours.config.vocab_size)
    assert (mine - theirs).abs().max().item() <= ATOL

    doc_ids = (ids == tok.eos_id).long().cumsum(dim=1)  # a new document at every EOS, as packing does
    assert int(doc_ids.max()) >= 3
    mine_p, theirs_p = logits_pair(ours, hf, ids, doc_ids)
    assert (mine_p - theirs_p).abs().max().item() <= ATOL
    # The packed case is a different computation (block-diagonal mask, restarted positions):
    assert (mine_p - mine).abs().max().item() > 1e-3


def test_logits_with_attention_mask_padding(models):
    """Right padding with an attention mask, as harnesses batch: the real tokens' logits are unchanged."""
    ours, hf, tok, _hf_tok = models
    ids = tok.encode(TEXTS[0])
    padded = torch.tensor([ids + [tok.pad_id] * 5])
    mask = torch.tensor([[1] * len(ids) + [0] * 5])
    with torch.no_grad():
        theirs = hf(input_ids=padded, attention_mask=mask).logits[0, : len(ids)]
        mine = ours(torch.tensor([ids])).logits[0]
    assert (mine - theirs).abs().max().item() <= ATOL


def test_greedy_generation_same_tokens(models):
    ours, hf, tok, _hf_tok = models
    for text in TEXTS:
        prompt = [tok.eos_id, *tok.encode(text.split("\n")[0] + "\n")]
        want = ours.generate(torch.tensor([prompt]), max_new_tokens=24, eos_id=tok.eos_id)[0]
        got = hf_greedy(hf, prompt, 24, tok.eos_id)
        assert got == want
        assert len(want) > 0


@pytest.fixture(scope="module")
def untied_with_biases(task_tokenizer, tmp_path_factory):
    """A weights-only checkpoint with bias: true, untied embeddings, non-zero biases and rope_theta 500."""
    from weprompt.pretrain import checkpoint as ckpt
    from weprompt.pretrain.model import ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=task_tokenizer.vocab_size, n_layer=2, n_head=4, d_model=32, context_length=48,
        tie_embeddings=False, bias=True, rope_theta=500.0, norm_eps=1e-6,
    )  # fmt: skip
    model = WeLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias") or p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    step = tmp_path_factory.mktemp("untied") / "step_00000007"
    step.mkdir()
    torch.save(model.state_dict(), step / ckpt.MODEL_FILE)
    ckpt.write_model_config(step, cfg)
    task_tokenizer.save(step / ckpt.TOKENIZER_DIR)
    ckpt.write_manifest(step)
    return step


def test_bias_and_untied_variant(untied_with_biases, task_tokenizer, tmp_path):
    from weprompt.pretrain.hf.export import export_checkpoint
    from weprompt.pretrain.hf.verify import load_hf_model

    step = untied_with_biases
    export_checkpoint(step, tmp_path / "hf")
    raw = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert raw["attention_bias"] is True and raw["tie_word_embeddings"] is False
    from safetensors.torch import load_file

    assert "embed_out.weight" in load_file(str(tmp_path / "hf" / "model.safetensors"))
    from weprompt.pretrain.checkpoint import load_model

    ours, _, _ = load_model(step)
    hf = load_hf_model(tmp_path / "hf")
    ids = _batch(task_tokenizer, TEXTS, 48)
    mine, theirs = logits_pair(ours, hf, ids)
    assert (mine - theirs).abs().max().item() <= ATOL
    docs = (ids == task_tokenizer.eos_id).long().cumsum(dim=1)
    mine, theirs = logits_pair(ours, hf, ids, docs)
    assert (mine - theirs).abs().max().item() <= ATOL
