"""`weprompt import-hf`: a transformers GPT-NeoX directory in WeLM's configuration → our checkpoint.

    <out>/checkpoints/step_N/model.pt            our state dict (fp32), as the trainer writes it
    <out>/checkpoints/step_N/model_config.yaml   the ModelConfig
    <out>/checkpoints/step_N/tokenizer/          tokenizer.model (+ vocab, json) from the directory
    <out>/checkpoints/step_N/import.json         where it came from
    <out>/checkpoints/step_N/manifest.json       sizes and sha256, as for trained checkpoints
    <out>/checkpoints/latest

N is the step recorded by `weprompt export` (welm.json), else 0. The result is a weights-only checkpoint:
`weprompt finetune` takes it as `base`, `weprompt eval` as a model; it is not a run to resume.

The inverse of export is exact: same tensors bit for bit, same ModelConfig, same tokenizer bytes. For a
directory made elsewhere the rules are: config.json must describe WeLM's architecture (mapping.
model_config_from_hf); biases that are all zero mean `bias: false`; the tokenizer must be a SentencePiece
`tokenizer.model` following our conventions (byte fallback, BOS/EOS/PAD), and when a tokenizer.json is
there too, transformers' tokenizer must encode the probe texts exactly like it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from weprompt.common.atomic import atomic_write_text
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.hf import FORMAT, FORMAT_VERSION, META_FILE, SP_MODEL_FILE, InteropError, mapping
from weprompt.pretrain.hf.outdir import fsync_file, staged_dir
from weprompt.pretrain.hf.tokenizer import PROBES, TOKENIZER_JSON, parity_mismatches
from weprompt.pretrain.model import ModelConfig, WeLM
from weprompt.pretrain.tokenizer import Tokenizer, TokenizerError

IMPORT_FILE = "import.json"


@dataclass
class ImportResult:
    out: Path
    step_dir: Path
    config: ModelConfig
    tokenizer_fingerprint: str


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InteropError(f"{path} is missing") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InteropError(f"{path} is not valid JSON: {e}") from e


def read_tensors(hf_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of model.safetensors, or of the shards listed in model.safetensors.index.json."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    single, index = hf_dir / "model.safetensors", hf_dir / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        weight_map = _read_json(index).get("weight_map")
        if not isinstance(weight_map, dict):
            raise InteropError(f"{index}: no 'weight_map'")
        files = [hf_dir / name for name in sorted(set(weight_map.values()))]
    else:
        extra = (
            " (only safetensors weights are read: re-save with safe_serialization)"
            if any(hf_dir.glob("*.bin"))
            else ""
        )
        raise InteropError(f"{hf_dir}: no model.safetensors or model.safetensors.index.json{extra}")
    out: dict[str, torch.Tensor] = {}
    for f in files:
        try:
            out.update(load_file(str(f)))
        except FileNotFoundError as e:
            raise InteropError(f"weight shard {f} is missing") from e
        except (SafetensorError, OSError) as e:
            raise InteropError(f"{f}: unreadable safetensors file: {e}") from e
    return out


def _read_meta(hf_dir: Path) -> dict | None:
    path = hf_dir / META_FILE
    if not path.is_file():
        return None
    meta = _read_json(path)
    if meta.get("format") != FORMAT:
        raise InteropError(f"{path}: format '{meta.get('format')}' is not '{FORMAT}'")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InteropError(
            f"{path}: format_version {version} is newer than this toolkit reads ({FORMAT_VERSION}); upgrade weprompt"
        )
    return meta


def _load_tokenizer(hf_dir: Path, cfg: ModelConfig, hf_config: dict, meta: dict | None) -> Tokenizer:
    path = hf_dir / SP_MODEL_FILE
    if not path.is_file():
        raise InteropError(
            f"{hf_dir}: no {SP_MODEL_FILE}; WeLM training needs a SentencePiece tokenizer (byte fallback, "
            "BOS/EOS/PAD), and a tokenizer.json alone cannot be represented faithfully as one"
        )
    try:
        tok = Tokenizer.load(path)
    except TokenizerError as e:
        raise InteropError(f"{path}: {e}") from e
    if meta and meta.get("tokenizer_fingerprint") not in (None, tok.fingerprint()):
        raise InteropError(f"{path}: its fingerprint differs from the one in {hf_dir / META_FILE}")
    if tok.vocab_size > cfg.vocab_size:
        raise InteropError(
            f"{path}: {tok.vocab_size} pieces do not fit vocab_size {cfg.vocab_size} of {hf_dir / 'config.json'}"
        )
    for key, want in (
        ("bos_token_id", tok.bos_id),
        ("eos_token_id", tok.eos_id),
        ("pad_token_id", tok.pad_id),
    ):
        got = hf_config.get(key)
        if got is not None and got != want:
            raise InteropError(f"{hf_dir / 'config.json'}: {key} {got} is not the tokenizer's id {want}")
    if (hf_dir / TOKENIZER_JSON).is_file():
        from transformers import AutoTokenizer

        try:
            hf_tok = AutoTokenizer.from_pretrained(str(hf_dir))
        except Exception as e:  # any loader failure of a foreign directory
            raise InteropError(f"{hf_dir}: transformers cannot load its tokenizer: {e}") from e
        _, bad = parity_mismatches(tok, hf_tok, PROBES)
        if bad:
            raise InteropError(
                f"{hf_dir}: {TOKENIZER_JSON} and {SP_MODEL_FILE} encode differently, so models trained with one "
                "would be used with the other:\n  " + "\n  ".join(bad)
            )
    return tok


def _decide_config(hf_dir: Path, tensors: dict, meta: dict | None) -> tuple[ModelConfig, dict]:
    hf_config = _read_json(hf_dir / "config.json")
    cfg, _ = mapping.model_config_from_hf(hf_config, str(hf_dir / "config.json"))
    if not cfg.bias and mapping.has_nonzero_bias(tensors):
        cfg = dataclasses.replace(cfg, bias=True)  # GPT-NeoX biases in use: keep them all
    if meta and meta.get("model_config"):
        recorded = dict(meta["model_config"])
        derived = dataclasses.asdict(cfg)
        diff = sorted(k for k in set(recorded) | set(derived) if recorded.get(k) != derived.get(k))
        if diff:
            raise InteropError(
                f"{hf_dir}: config.json and {META_FILE} disagree on {diff} (edited after export?)"
            )
    return cfg, hf_config


def import_hf(hf_dir: str | Path, out: str | Path, force: bool = False) -> ImportResult:
    hf_dir, out = Path(hf_dir), Path(out)
    if not hf_dir.is_dir():
        raise InteropError(f"{hf_dir} is not a directory")
    from weprompt.pretrain.hf.outdir import check_target

    check_target(out, force, IMPORT_FILE, hf_dir)
    meta = _read_meta(hf_dir)
    tensors = read_tensors(hf_dir)
    cfg, hf_config = _decide_config(hf_dir, tensors, meta)
    tok = _load_tokenizer(hf_dir, cfg, hf_config, meta)
    state = mapping.from_hf_state(tensors, cfg, str(hf_dir))
    del tensors
    model = WeLM(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise InteropError(f"{hf_dir}: weights do not fit the configuration: {e}") from e
    step = int(((meta or {}).get("provenance") or {}).get("step") or 0)
    record = {
        "source": str(hf_dir.resolve()),
        "format": (meta or {}).get("format"),
        "provenance": (meta or {}).get("provenance"),
        "tokenizer_fingerprint": tok.fingerprint(),
    }
    with staged_dir(out, force, IMPORT_FILE, source=hf_dir) as tmp:
        ckpt_dir = tmp / "checkpoints"
        step_dir = ckpt_dir / ckpt.step_name(step)
        step_dir.mkdir(parents=True)
        torch.save(model.state_dict(), step_dir / ckpt.MODEL_FILE)
        fsync_file(step_dir / ckpt.MODEL_FILE)
        ckpt.write_model_config(step_dir, cfg)
        tok.save(step_dir / ckpt.TOKENIZER_DIR)
        atomic_write_text(step_dir / IMPORT_FILE, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
        ckpt.write_manifest(step_dir)
        ckpt.point_latest(ckpt_dir, step_dir)
        atomic_write_text(tmp / IMPORT_FILE, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
    return ImportResult(
        out=out,
        step_dir=out / "checkpoints" / ckpt.step_name(step),
        config=cfg,
        tokenizer_fingerprint=tok.fingerprint(),
    )
