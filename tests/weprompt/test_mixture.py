"""Mixture specs: planned weights checked against the split, a new seed each epoch, the realised table at
every checkpoint and at the end, `weprompt mixture show`."""

import json
import random

import pytest
from testutil import tiny_finetune_config

from weprompt.mixture import MixtureConfig, MixtureError, plan_weights

TASKS = ["afqmc", "chnsenticorp", "tnews", "iflytek"]
CATEGORY = {"afqmc": "paraphrase", "chnsenticorp": "sentiment", "tnews": "topic", "iflytek": "topic",
            "ocnli": "nli", "cinlid": "nli"}  # fmt: skip
EXCLUDED = {"ocnli": "test task", "cinlid": "same category 'nli' as test task ocnli"}


def _plan(**mix):
    return dict(
        zip(TASKS, plan_weights(TASKS, [1.0] * 4, CATEGORY, EXCLUDED, MixtureConfig(**mix)), strict=True)
    )


def test_category_shares_are_split_among_their_tasks_and_task_multipliers_apply():
    assert _plan() == {t: 0.25 for t in TASKS}
    w = _plan(categories={"paraphrase": 0.2, "sentiment": 0.2, "topic": 0.6}, tasks={"tnews": 2.0})
    assert w["afqmc"] == pytest.approx(0.2) and w["chnsenticorp"] == pytest.approx(0.2)
    assert w["tnews"] == pytest.approx(0.4) and w["iflytek"] == pytest.approx(0.2)
    assert _plan(tasks={"afqmc": 0})["afqmc"] == 0.0


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ({"tasks": {"ocnli": 1.0}}, r"mixture.tasks.ocnli: a weight on a task this split does not train: test task"),
        ({"categories": {"nli": 1.0, "paraphrase": 1, "sentiment": 1, "topic": 1}},
         r"mixture.categories.nli: held out in this split"),
        ({"categories": {"paraphrase": 1.0}}, r"missing: sentiment, topic"),
        ({"tasks": {"nosuch": 1.0}}, r"mixture.tasks.nosuch: not a task of the catalog"),
        ({"tasks": {"tnews": -1.0}}, r"mixture.tasks.tnews: weight -1.0 is negative"),
        ({"tasks": dict.fromkeys(TASKS, 0.0)}, r"every training task has weight 0"),
    ],
)  # fmt: skip
def test_bad_mixtures_are_errors_naming_the_key(mix, message):
    with pytest.raises(MixtureError, match=message):
        _plan(**mix)


def test_each_epoch_draws_from_its_own_seed_derived_from_the_run_seed(task_tokenizer):
    from weprompt.sampler import MultitaskSampler, SamplerConfig, TaskPool
    from weprompt.templates import Template

    tpl = Template(name="a", jinja="{{x}} ||| {{y}}")
    pools = [TaskPool("t", [{"x": f"q{i}", "y": f"a{i}"} for i in range(10)], [tpl])]
    s = MultitaskSampler(pools, task_tokenizer, SamplerConfig(block=5, seed=5))
    s.rendered(10)  # one whole epoch over the 10-row pool
    fresh = random.Random("5/epoch/1")
    assert s._next_draw_rng().getstate() == fresh.getstate()


@pytest.mark.usefixtures("synth_data")
def test_mixture_table_at_every_checkpoint_and_the_end(tiny_base, tmp_path):
    from weprompt.finetune import run_finetune
    from weprompt.pretrain.engine.config import CheckpointConfig

    base, bank = tiny_base
    cfg = tiny_finetune_config(
        base, bank, tmp_path / "run", steps=4, mixture=MixtureConfig(tasks={"afqmc": 0})
    )
    cfg.train.checkpoint = CheckpointConfig(every=2)
    run_finetune(cfg)
    run = tmp_path / "run"
    steps = sorted(p.name for p in (run / "mixture").iterdir())
    assert steps == ["step_00000000", "step_00000002", "step_00000004"]  # 0: the spike-rollback anchor
    final = json.loads((run / "mixture.json").read_text())
    assert final["step"] == 4 and final["planned"]["tasks"]["afqmc"] == 0.0
    assert sum(final["planned"]["tasks"].values()) == pytest.approx(1.0)
    realised = final["realised"]["examples_per_task"]
    assert "afqmc" not in realised and set(realised) == {"chnsenticorp", "tnews"}
    at2 = json.loads((run / "mixture" / "step_00000002" / "mixture.json").read_text())
    assert sum(v["n"] for v in at2["realised"]["examples_per_task"].values()) < sum(
        v["n"] for v in realised.values()
    )
    assert "| sentiment |" in (run / "mixture.md").read_text()


def test_mixture_show_prints_planned_and_realised_without_training(tiny_base, tmp_path, capsys, synth_data):
    import yaml

    from weprompt.cli.main import main

    base, bank = tiny_base
    cfg = {"base": str(base), "bank_dir": str(bank), "mixture": {"tasks": {"tnews": 3.0}}}
    (tmp_path / "ft.yaml").write_text(yaml.safe_dump(cfg))
    assert (
        main(["mixture", "show", "--config", str(tmp_path / "ft.yaml"), "--sequences", "20", "--json"]) == 0
    )
    table = json.loads(capsys.readouterr().out)
    assert table["planned"]["tasks"]["tnews"] == pytest.approx(0.6)
    assert table["realised"]["sequences"] == 20 and table["realised"]["examples_per_task"]["tnews"]["n"] > 0
    assert not (tmp_path / "runs").exists()
