"""Checkpoint directories: atomic writes, a `latest` pointer, keep-last-N, verification, and `load_model`.

    <run>/checkpoints/step_00000100/
        model.pt             model state dict (fp32), enough on its own for eval / fine-tune / export
        optimizer.pt         AdamW state (torch backend; DeepSpeed keeps its partitions under deepspeed/)
        trainer_state.json   step, tokens, loss scale, lr factor, spike detector and events, data position
        rank_states/rank_000.pt   per rank: RNG states (torch, cuda, numpy, python) and batch-source state
        model_config.yaml    the ModelConfig
        tokenizer/           copy of the tokenizer the model was trained with (when known)
        manifest.json        size and sha256 of every file above, written last
    <run>/checkpoints/latest   name of the newest complete checkpoint

A checkpoint is assembled in `.tmp_step_...`, sealed with its manifest, renamed into place, and only then
does `latest` move to it (atomically); old checkpoints are pruned by renaming them aside (`.old_step_...`)
before deleting them. A crash at any moment (kill -9 included) leaves `latest` on a complete checkpoint,
and leftovers are removed by `clean_stale` at the next start.

Every reader of a checkpoint (fine-tuning's base, eval, export, init_from, resume) goes through `verify`
(usually via `open_checkpoint`): the manifest must be there and every file in it must have its size and
sha256. `check_weights` compares the weights' shapes with the stored ModelConfig before anything is built.

Fault injection (for the crash-safety tests): with WEPROMPT_FAULT_AT=<point>@<step> in the environment,
the process kills itself with SIGKILL at that point of saving (or pruning) checkpoint <step>; points are
FAULT_POINTS. Unset, it costs one dictionary lookup per save.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
from collections.abc import Set as AbstractSet
from pathlib import Path

import torch
import yaml

from weprompt.common.atomic import atomic_write_text
from weprompt.common.config import ConfigError, from_dict, to_dict
from weprompt.common.errors import UserError
from weprompt.pretrain.model import ModelConfig, WeLM

LATEST = "latest"
STATE_FILE = "trainer_state.json"
MODEL_FILE = "model.pt"
MODEL_CONFIG_FILE = "model_config.yaml"
MANIFEST_FILE = "manifest.json"
TOKENIZER_DIR = "tokenizer"
RANK_DIR = "rank_states"
_STEP_RE = re.compile(r"^step_(\d{8})$")
FAULT_ENV = "WEPROMPT_FAULT_AT"
FAULT_POINTS = ("before_rename", "after_rename", "before_latest", "after_latest", "mid_prune")


class CheckpointError(UserError):
    """A checkpoint that is missing, incomplete, corrupt, or does not fit the run."""


def step_name(step: int) -> str:
    return f"step_{step:08d}"


def rank_file(rank: int) -> str:
    return f"{RANK_DIR}/rank_{rank:03d}.pt"


def list_checkpoints(ckpt_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints (renamed into place) in step order."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    out = []
    for p in ckpt_dir.iterdir():
        m = _STEP_RE.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(ckpt_dir: str | os.PathLike) -> Path | None:
    ckpt_dir = Path(ckpt_dir)
    pointer = ckpt_dir / LATEST
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    path = ckpt_dir / name
    if not _STEP_RE.match(name) or not path.is_dir():
        raise CheckpointError(f"{pointer} names '{name}', which is not a checkpoint in {ckpt_dir}")
    return path


def _looks_like_step_dir(path: Path) -> bool:
    return any((path / f).is_file() for f in (MANIFEST_FILE, STATE_FILE, MODEL_FILE, MODEL_CONFIG_FILE))


def resolve(path: str | os.PathLike, hint: str | None = None) -> Path:
    """A step directory, a checkpoints directory (its `latest`), or a run directory (checkpoints/latest).

    `hint` (how to get a checkpoint) is added to the error when there is none."""
    path = Path(path)
    more = f"; {hint}" if hint else ""
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: the path does not exist{more}")
    if _looks_like_step_dir(path):
        return path
    for base in (path, path / "checkpoints"):
        found = latest_checkpoint(base)
        if found is not None:
            return found
    steps = list_checkpoints(path) or list_checkpoints(path / "checkpoints")
    if steps:
        more = f"; it holds {steps[-1][1]} but no '{LATEST}' pointer: pass a step directory{more}"
    raise CheckpointError(
        f"no checkpoint at {path}: expected a step_NNNNNNNN directory, or a run/checkpoints directory with a "
        f"'{LATEST}' pointer{more}"
    )


def open_checkpoint(path: str | os.PathLike, hashes: bool = True, hint: str | None = None) -> Path:
    """The step directory at `path` (see `resolve`), verified against its manifest: what every reader uses."""
    step_dir = resolve(path, hint)
    verify(step_dir, hashes=hashes)
    return step_dir


def read_torch_file(path: Path, mmap: bool = False):
    if not path.is_file():
        hint = (
            " (this checkpoint was written by the DeepSpeed backend)"
            if (path.parent / "deepspeed").is_dir()
            else ""
        )
        raise CheckpointError(f"checkpoint file {path} is missing{hint}")
    try:
        # weights_only: no pickled code from a checkpoint; mmap: read tensors lazily (shapes only)
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # pickle / zip errors of a truncated or damaged file
        raise CheckpointError(
            f"checkpoint file {path} is corrupt or unreadable: {type(e).__name__}: {e}"
        ) from e


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise CheckpointError(f"checkpoint file {path} is missing") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint file {path} is corrupt: {e}") from e


def read_model_config(step_dir: Path) -> ModelConfig:
    path = step_dir / MODEL_CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise CheckpointError(f"checkpoint file {path} is missing") from e
    except yaml.YAMLError as e:
        raise CheckpointError(f"checkpoint file {path} is corrupt: {e}") from e
    try:
        return from_dict(ModelConfig, data or {}, where=str(path))
    except ConfigError as e:
        raise CheckpointError(str(e)) from e


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)


def write_manifest(step_dir: Path) -> None:
    files = {
        str(p.relative_to(step_dir)): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in _files(step_dir)
    }
    atomic_write_text(step_dir / MANIFEST_FILE, json.dumps({"files": files}, indent=1) + "\n")


def _manifest_files(step_dir: Path) -> dict:
    path = step_dir / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {step_dir} has no {MANIFEST_FILE}, so its files cannot be verified: the save that wrote "
            "it did not finish, or it was not made by weprompt (pretrain, finetune and import-hf write one)"
        )
    manifest = read_json(path)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(i, dict) and isinstance(i.get("size"), int) and isinstance(i.get("sha256"), str)
        for i in files.values()
    ):
        raise CheckpointError(f"checkpoint file {path} is corrupt: no 'files' mapping of sizes and sha256")
    for needed in (MODEL_FILE, MODEL_CONFIG_FILE):
        if needed not in files:
            raise CheckpointError(f"checkpoint {step_dir} is incomplete: {path} does not list {needed}")
    return files


def verify(step_dir: Path, hashes: bool = True) -> None:
    """The one check of a checkpoint before use: its manifest is there and lists the weights and config, and
    every file it lists is present with its size (and sha256). Raises CheckpointError naming the file."""
    for rel, info in _manifest_files(step_dir).items():
        p = step_dir / rel
        if not p.is_file():
            raise CheckpointError(f"checkpoint {step_dir} is incomplete: {rel} is missing")
        if p.stat().st_size != info["size"]:
            raise CheckpointError(
                f"checkpoint file {p} is corrupt: {p.stat().st_size} bytes, manifest says {info['size']} "
                "(truncated, damaged, or edited after the save)"
            )
        if hashes and _sha256(p) != info["sha256"]:
            raise CheckpointError(
                f"checkpoint file {p} is corrupt: sha256 differs from the manifest (damaged, or edited after "
                "the save)"
            )


def _fault(point: str, step: int) -> None:
    """Fault injection: die like `kill -9` here when WEPROMPT_FAULT_AT names this point and step."""
    if os.environ.get(FAULT_ENV) == f"{point}@{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def begin(ckpt_dir: Path, step: int) -> Path:
    """A fresh temporary directory for checkpoint `step` (call on rank 0, then barrier)."""
    tmp = ckpt_dir / f".tmp_{step_name(step)}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / RANK_DIR).mkdir(parents=True)
    return tmp


def publish(ckpt_dir: Path, tmp: Path, step: int) -> Path:
    """Seal `tmp` (manifest), rename it to step_NNNNNNNN and point `latest` at it (rank 0)."""
    write_manifest(tmp)
    final = ckpt_dir / step_name(step)
    _fault("before_rename", step)
    if final.exists():  # only after a rollback replay; the old one is from an abandoned branch
        old = ckpt_dir / f".old_{final.name}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    _fault("after_rename", step)
    _fsync_dir(ckpt_dir)
    _fault("before_latest", step)
    point_latest(ckpt_dir, final)
    _fault("after_latest", step)
    return final


def point_latest(ckpt_dir: Path, step_dir: Path) -> None:
    atomic_write_text(ckpt_dir / LATEST, step_dir.name + "\n")


def _discard(ckpt_dir: Path, step: int, path: Path) -> None:
    """Delete a checkpoint: renamed aside first, so a crash mid-delete never leaves a half step_ directory."""
    old = ckpt_dir / f".old_{path.name}"
    if old.exists():
        shutil.rmtree(old)
    os.replace(path, old)
    _fault("mid_prune", step)
    shutil.rmtree(old)


def prune(ckpt_dir: Path, keep_last: int, keep: AbstractSet[int] = frozenset()) -> list[int]:
    """Delete all but the newest `keep_last` checkpoints and those in `keep`; never the `latest` one."""
    ckpts = list_checkpoints(ckpt_dir)
    latest = latest_checkpoint(ckpt_dir)
    removed = []
    for step, path in ckpts[:-keep_last] if keep_last else ckpts:
        if step in keep or path == latest:
            continue
        _discard(ckpt_dir, step, path)
        removed.append(step)
    return removed


def remove_newer(ckpt_dir: Path, step: int) -> list[int]:
    """Delete checkpoints after `step` (an abandoned branch after a loss-spike rollback)."""
    removed = []
    for s, path in list_checkpoints(ckpt_dir):
        if s > step:
            _discard(ckpt_dir, s, path)
            removed.append(s)
    return removed


def clean_stale(ckpt_dir: Path) -> None:
    """Remove leftovers of interrupted saves and deletions (.tmp_*, .old_*)."""
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            if p.name.startswith((".tmp_step_", ".old_step_")) and p.is_dir():
                shutil.rmtree(p)


def write_model_config(step_dir: Path, cfg: ModelConfig) -> None:
    atomic_write_text(step_dir / MODEL_CONFIG_FILE, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def snapshot_tokenizer(
    run_dir: Path, tokenizer_dir: str | os.PathLike | None, fingerprint: str | None
) -> Path | None:
    """Copy the tokenizer into the run dir once, at the start of a run; checkpoints copy that snapshot.

    Copying from the source directory at each save would stamp a tokenizer rebuilt mid-run (a new corpus
    build) onto weights trained with the old one. A snapshot already there must match `fingerprint`."""
    if tokenizer_dir is None:
        return None
    snap = Path(run_dir) / TOKENIZER_DIR
    if not snap.is_dir():
        tmp = Path(run_dir) / f".tmp_{TOKENIZER_DIR}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(tokenizer_dir, tmp)
        os.replace(tmp, snap)
    if fingerprint:
        from weprompt.pretrain.tokenizer import Tokenizer

        have = Tokenizer.load(snap).fingerprint()
        if have != fingerprint:
            raise CheckpointError(
                f"{snap} holds tokenizer {have[:12]}, this run uses {fingerprint[:12]} ({tokenizer_dir}); "
                "token ids would mean different things. Use another run_dir"
            )
    return snap


def copy_tokenizer(step_dir: Path, tokenizer_dir: str | os.PathLike | None) -> None:
    if tokenizer_dir is not None:
        shutil.copytree(tokenizer_dir, step_dir / TOKENIZER_DIR, dirs_exist_ok=True)


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_fits(state: dict, expected: dict, step_dir: Path) -> None:
    """The tensors of `state` (model.pt) have the names and shapes of `expected` (a model built from the
    checkpoint's model_config.yaml); raises CheckpointError naming the first parameter that differs."""
    where = f"{step_dir / MODEL_FILE} does not fit {step_dir / MODEL_CONFIG_FILE}"
    for name, t in expected.items():
        if name in state and _shape(state[name]) != _shape(t):
            raise CheckpointError(
                f"{where}: parameter {name} has shape {_shape(state[name])} in {MODEL_FILE}, the config needs "
                f"{_shape(t)}"
            )
    missing = [n for n in expected if n not in state]
    if missing:
        raise CheckpointError(
            f"{where}: {MODEL_FILE} lacks parameter {missing[0]} (shape {_shape(expected[missing[0]])})"
            f"{_and_more(missing)} that the config needs"
        )
    extra = [n for n in state if n not in expected]
    if extra:
        raise CheckpointError(
            f"{where}: {MODEL_FILE} holds parameter {extra[0]} (shape {_shape(state[extra[0]])})"
            f"{_and_more(extra)} that the config has no place for"
        )


def _and_more(names: list[str]) -> str:
    return f" and {len(names) - 1} more" if len(names) > 1 else ""


def check_weights(step_dir: Path, cfg: ModelConfig) -> None:
    """model.pt fits `cfg`, checked from the shapes alone (memory-mapped, no model built): call before
    writing anything that depends on the checkpoint."""
    state = read_torch_file(step_dir / MODEL_FILE, mmap=True)
    with torch.device("meta"):
        expected = WeLM(cfg).state_dict()
    check_fits(state, expected, step_dir)


def load_weights(module: torch.nn.Module, step_dir: Path) -> None:
    """model.pt of `step_dir` into `module`, after checking every name and shape."""
    state = read_torch_file(step_dir / MODEL_FILE)
    check_fits(state, module.state_dict(), step_dir)
    module.load_state_dict(state)


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", verify_files: bool = True
) -> tuple[WeLM, ModelConfig, Path | None]:
    """Load a trained WeLM for evaluation, fine-tuning or export.

    `path` may be a step directory, a checkpoints directory or a run directory (its latest checkpoint); it is
    verified (`open_checkpoint`) unless `verify_files` is False.
    Returns (model in eval mode, its ModelConfig, the tokenizer directory stored with it or None)."""
    step_dir = open_checkpoint(path) if verify_files else resolve(path)
    cfg = read_model_config(step_dir)
    model = WeLM(cfg)
    load_weights(model, step_dir)
    model.to(device).eval()
    tok = step_dir / TOKENIZER_DIR
    return model, cfg, tok if tok.is_dir() else None
