"""The trainer's guard: a held-out task is refused where tasks are drawn, not checked against itself."""

import pytest
from testutil import tiny_finetune_config

from weprompt.sampler import MultitaskSampler, SamplerConfig, SamplerError, TaskPool, build_pools
from weprompt.splits import Split
from weprompt.templates import Template, TemplateCollection

T = Template(name="t", jinja="{{text}} ||| {{label}}")
BANK = {n: TemplateCollection(n, [T]) for n in ("tnews", "cmnli")}
ROWS = [{"text": f"文本{i}", "label": "是"} for i in range(8)]
# What build_split gives for an OCNLI strong split (abridged): CMNLI shares its category.
SPLIT = Split(
    mode="strong",
    test_tasks=["ocnli"],
    train_tasks=["tnews"],
    excluded={"ocnli": "test task", "cmnli": "same category 'nli' as test task ocnli"},
)


class _CharTokenizer:
    """Enough of a tokenizer for the sampler: one id per character."""

    def encode_batch(self, texts):
        return [[ord(c) % 1000 for c in t] for t in texts]


def test_no_pool_is_built_for_a_held_out_task():
    with pytest.raises(SamplerError, match="held-out task 'cmnli': same category 'nli'"):
        build_pools(["tnews", "cmnli"], BANK, lambda n: ROWS, 100, 0, held_out=SPLIT.excluded)
    assert [p.name for p in build_pools(["tnews"], BANK, lambda n: ROWS, 100, 0, held_out=SPLIT.excluded)]


def test_sampler_refuses_pools_of_a_held_out_task():
    pools = [TaskPool("tnews", ROWS, [T]), TaskPool("cmnli", ROWS, [T])]
    with pytest.raises(SamplerError, match="held-out task 'cmnli'"):
        MultitaskSampler(pools, _CharTokenizer(), SamplerConfig(block=4), held_out=SPLIT.excluded)


def test_the_draw_itself_is_guarded():
    """A pool swapped in after construction is still refused at the moment it is drawn."""
    s = MultitaskSampler(
        [TaskPool("tnews", ROWS, [T])], _CharTokenizer(), SamplerConfig(block=4), SPLIT.excluded
    )
    assert next(s).task == "tnews"
    s.pools[0] = TaskPool("ocnli", ROWS, [T])
    s._pending.clear()
    with pytest.raises(SamplerError, match="held-out task 'ocnli': test task"):
        next(s)


def test_finetune_wires_the_split_into_the_sampler(tiny_base, tmp_path, monkeypatch):
    """Fault injection: a split whose training list wrongly holds a held-out task cannot train."""
    import weprompt.finetune as ft

    real = ft.build_split

    def leaky_split(*args, **kw):
        split = real(*args, **kw)
        split.train_tasks = [*split.train_tasks, "cinlid"]  # OCNLI's category: held out
        return split

    monkeypatch.setattr(ft, "build_split", leaky_split)
    base, bank = tiny_base
    cfg = tiny_finetune_config(base, bank, tmp_path / "run", split="strong")
    with pytest.raises(SamplerError, match="refusing to sample held-out task 'cinlid': same category"):
        ft.run_finetune(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()
