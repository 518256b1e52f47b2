"""Every reader of a checkpoint verifies it the same way before using it, and writes nothing when it fails.

Readers: `weprompt finetune --base`, `weprompt eval --model`, `weprompt export`, `train.init_from`, resume,
and a checkpoint written by `weprompt import-hf`. Damage: a flipped byte, a truncated file, a missing file,
no manifest, a garbled manifest. Then a base whose model_config.yaml no longer fits its weights (re-sealed,
so only the shape check can catch it), and the errors that point at a missing default.
All on a tiny synthetic run (tinyrun.py); no shared data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tinyrun import files_and_mtimes, make_data, pretrain_args, trained_step

from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("verify_data"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    """A finished tiny run (2 steps, tokenizer stored): the run directory."""
    run = tmp_path_factory.mktemp("verify_run") / "run"
    trained_step(data, run)
    return run


@pytest.fixture(scope="module")
def imported(trained, tmp_path_factory) -> Path:
    """The same weights through `weprompt export` and `weprompt import-hf`: the imported run directory."""
    from weprompt.pretrain.hf.export import export_checkpoint
    from weprompt.pretrain.hf.import_ import import_hf

    root = tmp_path_factory.mktemp("verify_import")
    export_checkpoint(trained, root / "hf", verify=False)
    return import_hf(root / "hf", root / "imported").out


# -- the readers: each reads `run` (a run dir) and may write only under `out` ------------------------------


def _finetune(run: Path, data: Path, out: Path) -> None:
    from weprompt.finetune import FinetuneConfig, run_finetune
    from weprompt.pretrain.engine.config import TrainerConfig

    run_finetune(FinetuneConfig(base=str(run), train=TrainerConfig(run_dir=str(out))))


def _eval(run: Path, data: Path, out: Path) -> None:
    from weprompt.eval import modelio

    modelio.load(run)


def _export(run: Path, data: Path, out: Path) -> None:
    from weprompt.pretrain.hf.export import export_checkpoint

    export_checkpoint(run, out, verify=False)


def _pretrain(data: Path, run: Path, *sets: str) -> None:
    from weprompt.pretrain.engine.pretrain import load_pretrain_config, run_pretrain

    args = pretrain_args(data, run, "train.checkpoint.every=0", "train.spike.enabled=false", *sets)
    overrides = [args[i + 1] for i, a in enumerate(args) if a == "--set"] + [f"train.run_dir={run}"]
    run_pretrain(*load_pretrain_config(args[2], overrides))


def _init_from(run: Path, data: Path, out: Path) -> None:
    _pretrain(data, out, f"train.init_from={run}", "train.total_steps=1")


def _resume(run: Path, data: Path, out: Path) -> None:
    _pretrain(data, run, "train.total_steps=4")  # continues `run` itself


READERS = {
    "finetune": _finetune,
    "eval": _eval,
    "export": _export,
    "init_from": _init_from,
    "resume": _resume,
}


def _flip(step: Path) -> str:
    data = bytearray((step / ckpt.MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the hash can tell
    (step / ckpt.MODEL_FILE).write_bytes(bytes(data))
    return r"model\.pt is corrupt: sha256 differs"


def _truncate(step: Path) -> str:
    data = (step / ckpt.MODEL_FILE).read_bytes()
    (step / ckpt.MODEL_FILE).write_bytes(data[: len(data) // 2])
    return r"model\.pt is corrupt: \d+ bytes, manifest says \d+"


def _missing(step: Path) -> str:
    (step / ckpt.MODEL_FILE).unlink()
    return r"step_\d+ is incomplete: model\.pt is missing"


def _no_manifest(step: Path) -> str:
    (step / ckpt.MANIFEST_FILE).unlink()
    return r"step_\d+ has no manifest\.json, so its files cannot be verified"


def _bad_manifest(step: Path) -> str:
    (step / ckpt.MANIFEST_FILE).write_text('{"files": ')
    return r"manifest\.json is corrupt"


DAMAGE = {"flip": _flip, "truncate": _truncate, "missing": _missing, "no_manifest": _no_manifest,
          "bad_manifest": _bad_manifest}  # fmt: skip


def _copy(run: Path, tmp_path: Path) -> tuple[Path, Path]:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy, ckpt.resolve(copy)


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_a_damaged_checkpoint_and_writes_nothing(
    reader, damage, trained, data, tmp_path
):
    run, step = _copy(trained, tmp_path)
    pattern = DAMAGE[damage](step)
    before = files_and_mtimes(run)
    with pytest.raises(CheckpointError, match=pattern):
        READERS[reader](run, data, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert files_and_mtimes(run) == before


@pytest.mark.parametrize("reader", ["finetune", "eval", "export", "init_from"])
def test_import_hf_output_is_verified_like_a_trained_checkpoint(reader, imported, data, tmp_path):
    run, step = _copy(imported, tmp_path)
    ckpt.open_checkpoint(run)  # the import seals what it wrote: intact, it verifies
    pattern = _flip(step)
    with pytest.raises(CheckpointError, match=pattern):
        READERS[reader](run, data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_intact_checkpoint_reads(trained, data, tmp_path):
    assert ckpt.open_checkpoint(trained).name == "step_00000002"
    _eval(trained, data, tmp_path / "unused")
    _export(trained, data, tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    _init_from(trained, data, tmp_path / "ft")
    assert ckpt.resolve(tmp_path / "ft").name == "step_00000001"


# -- a config that no longer fits the weights --------------------------------------------------------------


EDITS = {
    "d_model": ({"d_model": 128}, r"parameter embed\.weight has shape \(512, 64\) in model\.pt, the config needs \(512, 128\)"),
    "more_layers": ({"n_layer": 3}, r"model\.pt lacks parameter blocks\.2\.\S+ \(shape \(64,\)\)"),
    "fewer_layers": ({"n_layer": 1}, r"model\.pt holds parameter blocks\.1\.\S+ \(shape \(\d+(, \d+)?,?\)\)"),
}  # fmt: skip


def _edit_config(step: Path, changes: dict, reseal: bool) -> None:
    path = step / ckpt.MODEL_CONFIG_FILE
    cfg = yaml.safe_load(path.read_text())
    cfg.update(changes)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    if reseal:  # as if sealed again after the edit: the manifest cannot tell, the shapes must
        ckpt.write_manifest(step)


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("reader", READERS)
def test_config_that_does_not_fit_the_weights_names_the_parameter(reader, edit, trained, data, tmp_path):
    run, step = _copy(trained, tmp_path)
    changes, pattern = EDITS[edit]
    _edit_config(step, changes, reseal=True)
    before = files_and_mtimes(run)
    with pytest.raises(CheckpointError, match=r"model\.pt does not fit .*model_config\.yaml: " + pattern):
        READERS[reader](run, data, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
    assert files_and_mtimes(run) == before


def test_an_edited_config_that_was_not_resealed_is_named(trained, data, tmp_path):
    run, step = _copy(trained, tmp_path)
    _edit_config(step, {"d_model": 128}, reseal=False)
    with pytest.raises(CheckpointError, match=r"model_config\.yaml is corrupt: .*edited after the save"):
        _finetune(run, data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_run_config_edited_to_another_shape_refuses_to_resume(trained, data, tmp_path, capsys):
    from weprompt.cli.main import main

    run, _ = _copy(trained, tmp_path)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"]["d_model"] = 128
    cfg["train"]["run_dir"] = str(run)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    before = files_and_mtimes(run)
    assert main(["pretrain", "--config", str(run / "config.yaml"), "--set", "train.total_steps=4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "different shape (d_model 64 -> 128)" in err
    assert files_and_mtimes(run) == before


# -- a missing default says how to get one ------------------------------------------------------------------


def test_finetune_without_base_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    from weprompt.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["finetune"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no checkpoint at runs/base: the path does not exist" in err
    assert "weprompt pretrain --config configs/pretrain/cpu.yaml" in err and "weprompt quickstart" in err
    (tmp_path / "runs" / "base").mkdir(parents=True)  # there, but holding no checkpoint
    assert main(["finetune"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no checkpoint at runs/base: expected" in err and "weprompt pretrain --config" in err
    assert not (tmp_path / "runs" / "finetune").exists()


def test_eval_of_a_missing_model_says_how_to_make_one(tmp_path, capsys):
    from weprompt.cli.main import main

    assert main(["eval", "--model", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err
    assert "weprompt pretrain --config configs/pretrain/cpu.yaml" in err and "weprompt finetune" in err
