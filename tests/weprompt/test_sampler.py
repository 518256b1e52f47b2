import json
from collections import Counter

import pytest
import torch

from weprompt.data import load_split
from weprompt.finetune_data import BatchConfig, FinetuneBatches, WarmupMixConfig, warmup_fraction
from weprompt.packing import Packer, PackingConfig
from weprompt.sampler import (
    Encoded,
    MultitaskSampler,
    SamplerConfig,
    SamplerError,
    build_pools,
    mixing_weights,
)
from weprompt.templates import Template, TemplateCollection, TemplateMetadata

pytestmark = pytest.mark.usefixtures("synth_data")  # rows(name) reads the synthetic task rows

M = TemplateMetadata(True, False, ["Accuracy"], ["zh"])
OCNLI = TemplateCollection(
    "ocnli",
    [
        Template(
            name="a",
            jinja="{{sentence1}}\n{{sentence2}}\n关系？ ||| {{answer_choices[label_id]}}",
            answer_choices="蕴含 ||| 中立 ||| 矛盾",
            metadata=M,
        ),
        Template(
            name="b",
            jinja="前提：{{sentence1}} 假设：{{sentence2}} ||| {{answer_choices[label_id]}}",
            answer_choices="是 ||| 也许 ||| 否",
            metadata=M,
        ),
    ],
)
AFQMC = TemplateCollection(
    "afqmc",
    [
        Template(
            name="a",
            jinja="“{{sentence1}}”和“{{sentence2}}”意思一样吗？ ||| {{answer_choices[label_id]}}",
            answer_choices="不一样 ||| 一样",
            metadata=M,
        )
    ],
)
BANK = {"ocnli": OCNLI, "afqmc": AFQMC}


def rows(name):
    return load_split(name, "train")


def sampler(tok, cap=50_000, **kw):
    cfg = SamplerConfig(block=32, **kw)
    return MultitaskSampler(build_pools(["ocnli", "afqmc"], BANK, rows, cap, cfg.seed), tok, cfg)


def test_cap_is_a_seeded_choice():
    a = build_pools(["ocnli"], BANK, rows, 100, seed=1)[0].rows
    b = build_pools(["ocnli"], BANK, rows, 100, seed=1)[0].rows
    c = build_pools(["ocnli"], BANK, rows, 100, seed=2)[0].rows
    assert len(a) == 100 and a == b and a != c


def test_uniform_mixing_ignores_pool_size(task_tokenizer):
    s = sampler(task_tokenizer, cap=50)  # afqmc and ocnli have ~10k each; caps make sizes equal anyway
    draws = Counter(next(s).task for _ in range(2000))
    assert abs(draws["ocnli"] - draws["afqmc"]) < 200


def test_mixing_weights():
    assert mixing_weights([10, 1000], SamplerConfig()) == [1.0, 1.0]
    assert mixing_weights([10, 1000], SamplerConfig(mixing="proportional", proportional_cap=100)) == [
        10.0,
        100.0,
    ]
    w = mixing_weights([16, 256], SamplerConfig(mixing="temperature", temperature=2.0))
    assert w == [4.0, 16.0]
    with pytest.raises(SamplerError, match="unknown mixing"):
        mixing_weights([1], SamplerConfig(mixing="bogus"))


def test_deterministic_stream(task_tokenizer):
    s1, s2, s3 = sampler(task_tokenizer), sampler(task_tokenizer), sampler(task_tokenizer, seed=1)
    first = [next(s1).input_ids for _ in range(100)]
    assert first == [next(s2).input_ids for _ in range(100)]
    assert first != [next(s3).input_ids for _ in range(100)]


def test_bad_template_is_counted_not_fatal(task_tokenizer):
    bad = TemplateCollection("ocnli", [Template(name="bad", jinja="{{ nothere }} ||| x"), *OCNLI.templates])
    cfg = SamplerConfig(block=32)
    s = MultitaskSampler(build_pools(["ocnli"], {"ocnli": bad}, rows, 1000, 0), task_tokenizer, cfg)
    for _ in range(200):
        next(s)
    key = f"ocnli/{bad.templates[0].id}"
    assert s.stats.render_failures[key] > 0
    assert "UndefinedError" in s.stats.failure_examples[key]


def test_task_without_templates_or_examples():
    with pytest.raises(SamplerError, match="training task 'afqmc' has no templates"):
        build_pools(["afqmc"], {"afqmc": TemplateCollection("afqmc", [])}, rows, 10, 0)
    with pytest.raises(SamplerError, match="training task 'ocnli' has no training examples"):
        build_pools(["ocnli"], BANK, lambda n: [], 10, 0)


class ListSource:
    """A fixed list of examples (token ids chosen by hand) to test packing boundaries exactly."""

    def __init__(self, sizes):
        self.items = iter([Encoded("t", "x", [7] * (n - 2), [8]) for n in sizes])  # n tokens with EOS

    def __next__(self):
        return next(self.items)


def test_packing_boundaries_and_masks():
    p = Packer(
        ListSource([4, 5, 3, 9, 2, 2, 100]), PackingConfig(buffer=1, loss_on="targets"), 2, 3, seq_len=10
    )
    first = next(p)
    # 4 + 5 fit (9), the 3 does not: it waits; 9 does not fit either -> buffer full -> close with 1 pad
    assert first.tokens == [7, 7, 8, 2, 7, 7, 7, 8, 2, 3]
    assert first.loss_mask == [0, 0, 1, 1, 0, 0, 0, 1, 1, 0]
    assert first.doc_ids == [0, 0, 0, 0, 1, 1, 1, 1, 1, 2]
    second = next(p)  # the waiting 3 starts the next sequence
    assert second.tokens[:3] == [7, 8, 2]
    assert p.stats.truncated == 0


def test_overlong_truncate_keeps_target_and_skip_counts():
    class One:
        def __init__(self, items):
            self.items = iter(items)

        def __next__(self):
            return next(self.items)

    long_ex = Encoded("t", "x", list(range(100, 130)), [8, 8])
    p = Packer(One([long_ex, Encoded("t", "x", [7], [8])]), PackingConfig(buffer=1), 2, 3, seq_len=10)
    seq = next(p)
    assert seq.tokens[:10] == list(range(123, 130)) + [8, 8, 2] and p.stats.truncated == 1
    big = Encoded("t", "x", [7] * 7, [8])
    items = [long_ex, Encoded("t", "x", [7], [8]), long_ex, big]
    p = Packer(One(items), PackingConfig(overlong="skip", buffer=1), 2, 3, seq_len=10)
    assert next(p).tokens == [7, 8, 2] + [3] * 7
    assert p.stats.skipped_overlong == 2 and p.stats.truncated == 0


def test_packing_efficiency_at_2048(task_tokenizer):
    p = Packer(
        sampler(task_tokenizer), PackingConfig(), task_tokenizer.eos_id, task_tokenizer.pad_id, seq_len=2049
    )
    for _ in range(20):
        assert len(next(p).tokens) == 2049
    assert p.stats.efficiency >= 0.99


def make_batches(tok, warmup=None, shards=None):
    s = sampler(tok)
    pk = Packer(s, PackingConfig(), tok.eos_id, tok.pad_id, seq_len=129)
    return FinetuneBatches(
        pk,
        BatchConfig(doc_attention=True, warmup=warmup or WarmupMixConfig()),
        3,
        tok.eos_id,
        seed=0,
        shards=shards,
    )


def test_resume_continues_the_same_stream(task_tokenizer):
    a = make_batches(task_tokenizer)
    for _ in range(4):
        a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))  # checkpoints store it as JSON
    expected = [a.next_batch() for _ in range(4)]
    b = make_batches(task_tokenizer)
    b.load_state_dict(state)
    for x, y in zip(expected, [b.next_batch() for _ in range(4)], strict=True):
        assert all(torch.equal(x[k], y[k]) for k in ("input_ids", "targets", "doc_ids"))


def test_batch_shapes_and_shift(task_tokenizer):
    b = make_batches(task_tokenizer).next_batch()
    assert b["input_ids"].shape == b["targets"].shape == b["doc_ids"].shape == (3, 128)
    keep = b["targets"] != -100
    # targets are the inputs shifted by one wherever they are trained on
    assert torch.equal(b["targets"][:, :-1][keep[:, :-1]], b["input_ids"][:, 1:][keep[:, :-1]])


def test_warmup_fraction_schedule():
    cfg = WarmupMixConfig(steps=10, start_fraction=0.5)
    assert [warmup_fraction(s, cfg) for s in (0, 5, 10, 20)] == [0.5, 0.25, 0.0, 0.0]
    cos = WarmupMixConfig(steps=10, start_fraction=0.5, schedule="cosine")
    assert warmup_fraction(0, cos) == 0.5 and warmup_fraction(10, cos) == 0.0
