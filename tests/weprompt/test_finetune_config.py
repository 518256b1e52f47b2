"""The fine-tuning config cannot lie: every key has one owner, an ignored key is an error, enums are checked
at load time, and a run does not change its caller's config."""

import copy

import pytest
from testutil import tiny_finetune_config

from weprompt.common.config import ConfigError, from_dict
from weprompt.finetune import FinetuneConfig, run_finetune


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"batch": {"batch_size": 4}}, "batch_size"),  # owned by train.micro_batch_size
        ({"batch": {"seed": 3}}, "seed"),  # owned by sampler.seed
        ({"packing": {"seq_len": 129}}, "seq_len"),  # owned by the base model's context length
    ],
)
def test_keys_owned_elsewhere_are_unknown(data, key):
    with pytest.raises(ConfigError, match=f"unknown key '{key}'"):
        from_dict(FinetuneConfig, data, "ft.yaml")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"packing": {"loss_on": "target"}}, "packing.loss_on"),
        ({"packing": {"overlong": "cut"}}, "packing.overlong"),
        ({"split": "strongest"}, "split"),
        ({"sampler": {"mixing": "uniformly"}}, "sampler.mixing"),
        ({"batch": {"warmup": {"schedule": "exp"}}}, "batch.warmup.schedule"),
    ],
)
def test_enum_keys_are_checked_at_load(data, where):
    with pytest.raises(ConfigError, match=rf"ft\.yaml\.{where}: expected one of"):
        from_dict(FinetuneConfig, data, "ft.yaml")


@pytest.mark.usefixtures("synth_data")
def test_run_does_not_mutate_the_callers_config(tiny_base, tmp_path):
    base, bank = tiny_base
    cfg = tiny_finetune_config(base, bank, tmp_path / "run", epochs=0.01)
    before = copy.deepcopy(cfg)
    summary = run_finetune(cfg)
    assert cfg == before  # total_steps from epochs and init_from went into a copy
    assert summary["steps"] >= 1
