"""`--model hf:`: our exported model scores as the native path does; a non-WePrompt Llama is scored right."""

from __future__ import annotations

import pytest
import torch
from evalbank import write_checkpoint
from test_eval_runner import CMRC, OCNLI, _records, assert_close

from weprompt.eval import modelio
from weprompt.eval.runner import evaluate


def _run(model, bank, cache, bs=4, tasks=("ocnli", "cmrc2018")):
    return evaluate(model, list(tasks), [0, 1], limit=6, batch_size=bs, bank_dir=str(bank),
                    cache_dir=str(cache), progress=False)  # fmt: skip


@pytest.fixture
def bank(make_bank, synth_data):
    return make_bank({"ocnli": [OCNLI[0]], "cmrc2018": CMRC[:1]})


def test_exported_model_equals_native_path(tiny_lm, bank, tmp_path):
    from weprompt.pretrain.hf.export import export_checkpoint

    export_checkpoint(write_checkpoint(tiny_lm, tmp_path / "run"), tmp_path / "hf")
    hf = modelio.load(f"hf:{tmp_path / 'hf'}")
    assert hf.model_hash != tiny_lm.model_hash and hf.config.context_length == tiny_lm.config.context_length
    native = _records({"tasks": _run(tiny_lm, bank, tmp_path / "c1")["tasks"]})
    ours = _records({"tasks": _run(hf, bank, tmp_path / "c2", bs=3)["tasks"]})
    assert_close(native, ours)  # every log-probability to 1e-5, every generated answer the same
    assert any(r.get("prediction") for recs in ours.values() for r in recs.values())


def _tiny_llama(tmp_path, synth_data):
    """A randomly initialised Llama and a byte-level BPE tokenizer trained here (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from weprompt.data import load_split
    from weprompt.leakage import example_text

    texts = [
        example_text(r) for t in ("ocnli", "cmrc2018") for r in load_split(t, "train", synth_data).to_list()
    ]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tk.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(8.0)  # less uniform predictions
    out = tmp_path / "llama"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_tiny_llama_scores_equal_full_sequence_forward(bank, tmp_path, synth_data):
    from transformers import AutoModelForCausalLM

    d = _tiny_llama(tmp_path, synth_data)
    lm = modelio.load(f"hf:{d}")
    res1 = _run(lm, bank, tmp_path / "c1", bs=1)
    res5 = _run(lm, bank, tmp_path / "c5", bs=5)
    recs = _records({"tasks": res1["tasks"]})
    assert_close(recs, _records({"tasks": res5["tasks"]}))  # batches across examples
    summary = res1["tasks"]["ocnli"]["shots"]["0"]["summary"]
    assert summary["n_prompts"] == 1 and res1["model"]["config"]["model_type"] == "llama"
    # each (prompt, choice) as its own sequence through the plain transformers forward
    ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    tok = lm.tokenizer
    checked = 0
    for (task, k, _), by_key in recs.items():
        if task != "ocnli":
            continue
        for i, rec in by_key.items():
            prompt = [tok.eos_id] + tok.encode(_prompt_text(res1, task, k, i))
            for choice, lps in zip(rec["choices"], rec["logprobs"], strict=True):
                ids = prompt + tok.encode(choice)
                with torch.no_grad():
                    logp = torch.log_softmax(ref(torch.tensor([ids])).logits[0].float(), -1)
                want = [float(logp[len(prompt) - 1 + t, c]) for t, c in enumerate(tok.encode(choice))]
                assert max(abs(a - b) for a, b in zip(lps, want, strict=True)) < 1e-5
                checked += 1
    assert checked >= 18


def _prompt_text(res, task, k, key) -> str:
    """The rendered zero-/one-shot prompt text of one example, rebuilt with the evaluator's own parts."""
    from weprompt.bank import bank_catalog, load_task_templates
    from weprompt.data import load_split
    from weprompt.eval.examples import PromptBuilder
    from weprompt.eval.fewshot import demo_text
    from weprompt.templates import TARGET_SEP

    o = res["settings"]
    catalog = bank_catalog(o["bank_dir"])
    t = catalog.task(task)
    (tpl,) = [x for x in load_task_templates(task, o["bank_dir"]).templates if x.metadata.original_task]
    rows = load_split(task, t.eval_split, catalog=catalog).to_list()
    demo_rows = load_split(task, "train", catalog=catalog).to_list()
    b = PromptBuilder(t, tpl, None, 256, int(k), 0, demo_rows, "train", t.eval_split, prefix_eos=False)  # type: ignore[arg-type]
    i = int(key.split("/")[1])
    r = b.render(rows[i], key)
    return "".join(demo_text(d) for d in b.demos(key, i, r)) + r.input + TARGET_SEP
