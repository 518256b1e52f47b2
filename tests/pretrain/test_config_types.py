"""Config values of the wrong type and malformed overrides are ConfigErrors that name the key (and the
override), never a silent coercion (`max_lr: true` is not lr 1.0) or a TypeError from deep inside."""

from __future__ import annotations

import pytest
from tinyrun import TINY

from weprompt.common.config import ConfigError, load_config
from weprompt.finetune import FinetuneConfig
from weprompt.pretrain.engine.pretrain import load_pretrain_config

# override -> what the error must say after "override '<override>': "
BAD_VALUES = {
    "train.optim.max_lr=true": "train.optim.max_lr: expected a number, got true (bool)",
    "train.optim.max_lr=abc": "train.optim.max_lr: expected a number, got abc (str)",
    "train.optim.max_lr=nan": "train.optim.max_lr: expected a number, got nan (str)",
    "train.optim.max_lr=.inf": "train.optim.max_lr: expected a finite number, got .inf (float)",
    "train.optim.max_lr=[0.001]": "train.optim.max_lr: expected a number, got [0.001] (list)",
    "train.optim.max_lr={a: 1}": "train.optim.max_lr: expected a number, got {a: 1} (dict)",
    "train.optim.max_lr=null": "train.optim.max_lr: expected a number, got null",
    "train.total_steps=false": "train.total_steps: expected an integer, got false (bool)",
    "train.total_steps=1e3": "train.total_steps: expected an integer, got 1e3 (str)",
    "train.total_steps=10.0": "train.total_steps: expected an integer, got 10.0 (float)",
    "train.total_steps='10'": "train.total_steps: expected an integer, got '10' (str)",
    "train.logging.plot=1": "train.logging.plot: expected true or false, got 1 (int)",
    "train.logging.plot=yes please": "train.logging.plot: expected true or false, got yes please (str)",
    "train.run_dir=[a, b]": "train.run_dir: expected a string, got [a, b] (list)",
    "train.max_train_minutes=abc": "train.max_train_minutes: expected a number or null, got abc (str)",
    "train.precision=fp64": "train.precision: expected one of ['fp32', 'bf16', 'fp16'], got fp64 (str)",
    "data.corrupt_batches=[1, x]": "data.corrupt_batches[1]: expected an integer, got x (str)",
    "data.corrupt_batches=3": "data.corrupt_batches: expected a list, got 3 (int)",
    "model.d_model=true": "model.d_model: expected an integer, got true (bool)",
    "train.optim=3": "train.optim: expected a mapping (section OptimConfig), got 3 (int)",
}

# override list -> what the error must say (all name the override)
BAD_PATHS = {
    ("foo",): "override 'foo' must look like key.sub=value",
    ("=3",): "override '=3': '' is not a key path",
    ("train..x=1",): "override 'train..x=1': 'train..x' is not a key path",
    ("train.nonexistent.x=1",): "override 'train.nonexistent.x=1': unknown key 'nonexistent' in train",
    ("train.optim.max_lrr=1",): "override 'train.optim.max_lrr=1': unknown key 'max_lrr' in train.optim; did you mean 'max_lr'?",
    ("train.total_steps.x=1",): "override 'train.total_steps.x=1': train.total_steps is 20 (int), not a section, so it has no key 'x'",
    ("train.optim=3", "train.optim.max_lr=1"): "override 'train.optim.max_lr=1': train.optim is 3 (int), not a section",
    ("model=3",): "override 'model=3': model: expected a mapping or null, got 3 (int)",
    ("model.preset=3",): "override 'model.preset=3': model.preset: expected a preset name, got 3",
    ("train.x=[1,",): "override 'train.x=[1,': the value is not valid YAML (",
}  # fmt: skip


@pytest.mark.parametrize("override", BAD_VALUES)
def test_wrong_type_in_an_override_names_override_key_and_type(override):
    with pytest.raises(ConfigError) as e:
        load_pretrain_config(TINY, [override])
    assert str(e.value) == f"override '{override}': {BAD_VALUES[override]}"


@pytest.mark.parametrize("overrides", BAD_PATHS)
def test_every_bad_override_path_is_a_config_error(overrides):
    with pytest.raises(ConfigError) as e:
        load_pretrain_config(TINY, list(overrides))
    assert str(e.value).startswith(BAD_PATHS[overrides]) and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="override '"):  # the generic loader (finetune, experiment, corpus)
        load_config(FinetuneConfig, None, [o.replace("model", "sampler") for o in overrides])


@pytest.mark.parametrize(
    "yaml_text,message",
    [
        ("train:\n  optim:\n    max_lr: true\n", ".train.optim.max_lr: expected a number, got true (bool)"),
        ("train:\n  total_steps: '100'\n", ".train.total_steps: expected an integer, got '100' (str)"),
        ("train:\n  seed: [1]\n", ".train.seed: expected an integer, got [1] (list)"),
        ("train:\n  optim: 0.1\n", ".train.optim: expected a mapping (section OptimConfig), got 0.1 (float)"),
        (
            "train:\n  optim: [\n",
            ": invalid YAML: expected the node content, but found '<stream end>' at line 5",
        ),
    ],
)
def test_wrong_type_in_a_file_names_file_and_key(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  preset: cpu_tiny\n" + yaml_text)
    with pytest.raises(ConfigError) as e:
        load_pretrain_config(path)
    assert str(e.value).startswith(f"{path}{message}") and "\n" not in str(e.value)


def test_an_override_fixes_a_bad_file_value_and_is_not_blamed_for_others(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  preset: cpu_tiny\ntrain:\n  optim:\n    max_lr: true\n")
    cfg, _ = load_pretrain_config(path, ["train.optim.max_lr=1e-3"])
    assert cfg.train.optim.max_lr == 1e-3
    with pytest.raises(ConfigError, match=rf"^{path}\.train\.optim\.max_lr: expected a number"):
        load_pretrain_config(path, ["train.total_steps=5"])  # the file is at fault, not this override


def test_good_values_still_load():
    cfg, _ = load_pretrain_config(
        TINY, ["train.optim.max_lr=1e-4", "train.optim.eps=1", "train.optim.beta1=' .9 '", "train.seed=-3",
               "train.max_train_minutes=null", "train.logging.plot=false", "data.corrupt_batches=[1, 2]"],
    )  # fmt: skip
    o = cfg.train.optim
    assert (o.max_lr, o.eps, o.beta1, cfg.train.seed) == (1e-4, 1.0, 0.9, -3)
    assert isinstance(o.eps, float) and cfg.train.max_train_minutes is None
    assert cfg.data.corrupt_batches == [1, 2] and cfg.train.logging.plot is False


@pytest.mark.parametrize("verb", ["pretrain", "finetune"])
def test_cli_prints_the_bad_override_on_one_line(verb, capsys):
    from weprompt.cli.main import main

    args = ["--config", str(TINY)] if verb == "pretrain" else []
    sets = ["--set", "train.optim.max_lr=true", "--set", "train.optim.max_lr.x=1"]
    assert main([verb, *args, *sets]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "weprompt: error: override 'train.optim.max_lr.x=1': train.optim.max_lr is true (bool), not a section, "
        "so it has no key 'x'"
    )


def test_path_flags_stay_strings(capsys):
    """--run-dir 2024 (or true, or null) is a directory name, not a number or a bool."""
    from weprompt.cli.main import main

    for name in ("2024", "true", "null"):
        assert main(["pretrain", "--config", str(TINY), "--run-dir", name, "--print-config"]) == 0
        assert f"run_dir: '{name}'" in capsys.readouterr().out


def test_a_partial_section_keeps_the_defaults_its_owner_set(tmp_path):
    """FinetuneConfig's `train` default is a TrainerConfig with the fine-tuning lr (paper §4.3) and no spike
    recovery; a config that sets only the steps must keep both, not fall back to TrainerConfig's own."""
    path = tmp_path / "ft.yaml"
    path.write_text("train:\n  total_steps: 7\n  optim:\n    beta1: 0.8\n")
    for cfg in (
        load_config(FinetuneConfig, path),
        load_config(FinetuneConfig, None, ["train.total_steps=7"]),
    ):
        owner = FinetuneConfig().train
        assert cfg.train.total_steps == 7 and cfg.train.run_dir == owner.run_dir
        assert (cfg.train.optim.max_lr, cfg.train.optim.warmup_steps) == (
            owner.optim.max_lr,
            owner.optim.warmup_steps,
        )
        assert cfg.train.spike == owner.spike
    assert load_config(FinetuneConfig, path).train.optim.beta1 == 0.8
    fresh = load_config(FinetuneConfig, path)
    fresh.train.optim.max_lr = 1.0  # each load builds its own sections: no default instance is shared
    assert FinetuneConfig().train.optim.max_lr == load_config(FinetuneConfig, path).train.optim.max_lr != 1.0
