"""Greedy generation: the KV-cache decoder equals a plain loop of full forward passes, stop rule included."""

from __future__ import annotations

import torch

from weprompt.eval.generate import Generator, max_new_tokens_for, newline_ids


@torch.no_grad()
def _reference(model, prefix, max_new, stops):
    ids = list(prefix)
    out = []
    for _ in range(max_new):
        nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
        if nxt in stops:
            return out, "stop_token"
        out.append(nxt)
        ids.append(nxt)
    return out, "max_tokens"


def test_greedy_matches_full_forward_loop(tiny_lm):
    tok = tiny_lm.tokenizer
    gen = Generator(tiny_lm.model, tok)
    assert tok.encode("\n")[0] in gen.stop_ids and set(gen.stop_ids) == set(newline_ids(tok))
    stops = set(gen.stop_ids) | {tok.eos_id}
    for text in (
        "问题：中国的首都是哪里？\n答案：\n",
        "《战国无双3》是由哪两个公司合作开发的？\n",
        "今天天气",
        "1",
    ):
        prefix = [tok.eos_id] + tok.encode(text)
        g = gen(prefix, 12)
        ref, stop = _reference(tiny_lm.model, prefix, 12, stops)
        assert g.text == tok.decode(ref).strip() and g.n_tokens == len(ref) and g.stop == stop
        assert "\n" not in g.text
    # a prompt near the end of the window stops there
    long = [tok.eos_id] + tok.encode("北京" * 400)[: tiny_lm.config.context_length - 4]
    g = gen(long, 32)
    assert g.stop in ("context", "stop_token") and g.n_tokens <= 3


def test_budgets_per_task_type():
    assert max_new_tokens_for("extractive_qa", "reading_comprehension") == 32
    assert max_new_tokens_for("cloze_generation", "cloze") == 8
    assert max_new_tokens_for("generation", "summarization") == 96
