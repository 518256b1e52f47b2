"""`weprompt export`: a WeLM / WePrompt checkpoint → a transformers model directory.

    <out>/config.json              GPTNeoXConfig (mapping.hf_config)
    <out>/generation_config.json   greedy, BOS/EOS/PAD ids, max_length = context
    <out>/model.safetensors        fp32 weights in GPT-NeoX layout (mapping.to_hf_state)
    <out>/tokenizer.json, tokenizer_config.json, special_tokens_map.json   (tokenizer.tokenizer_files)
    <out>/tokenizer.model          our SentencePiece model, byte for byte
    <out>/README.md                model card (card.render_card): data, split, scale, usage
    <out>/welm.json                our metadata: ModelConfig, tokenizer fingerprint, provenance, checks

The directory is staged and renamed into place (outdir.staged_dir). Before the rename, unless
`verify=False`, transformers loads the staged directory, its logits are compared with ours on probe
tokens (plain and packed) and its tokenizer encodes the probe texts; any difference aborts the export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from weprompt.common.atomic import atomic_write_bytes, atomic_write_text
from weprompt.common.config import to_dict
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.hf import (
    FORMAT,
    FORMAT_VERSION,
    META_FILE,
    SP_MODEL_FILE,
    InteropError,
    mapping,
    provenance,
)
from weprompt.pretrain.hf.card import render_card
from weprompt.pretrain.hf.outdir import fsync_file, staged_dir
from weprompt.pretrain.hf.tokenizer import PROBES, parity_mismatches, parse_proto, tokenizer_files
from weprompt.pretrain.tokenizer import Tokenizer, TokenizerError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
GENERATION_FILE = "generation_config.json"
CARD_FILE = "README.md"


@dataclass
class ExportResult:
    out: Path
    step_dir: Path
    files: list[str]
    verified: dict | None


def _versions() -> dict:
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for pkg in ("weprompt", "torch", "transformers", "tokenizers", "safetensors"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _check_state(step_dir: Path, tok: Tokenizer) -> None:
    from weprompt.pretrain.engine.state import STATE_VERSION

    path = step_dir / ckpt.STATE_FILE
    if not path.is_file():
        return  # a weights-only checkpoint (e.g. one made by `weprompt import-hf`)
    state = ckpt.read_json(path)
    if state.get("version") != STATE_VERSION:
        raise InteropError(
            f"{path}: trainer state version {state.get('version')} is not {STATE_VERSION}; this checkpoint "
            "comes from an incompatible version of the toolkit"
        )
    fp = state.get("tokenizer_fingerprint")
    if fp and fp != tok.fingerprint():
        raise InteropError(
            f"{step_dir / ckpt.TOKENIZER_DIR}: tokenizer fingerprint {tok.fingerprint()[:12]} differs from the "
            f"one the model was trained with ({fp[:12]}, {path})"
        )


def load_checkpoint(checkpoint: str | Path):
    """(step dir, WeLM, ModelConfig, Tokenizer, SentencePiece bytes) after every check export needs."""
    step_dir = ckpt.resolve(checkpoint)
    model, cfg, tok_dir = ckpt.load_model(step_dir)
    if tok_dir is None:
        raise InteropError(
            f"{step_dir}: no {ckpt.TOKENIZER_DIR}/ directory; an exported model needs the tokenizer it was "
            "trained with"
        )
    try:
        tok = Tokenizer.load(tok_dir)
    except TokenizerError as e:
        raise InteropError(f"{tok_dir}: {e}") from e
    if tok.vocab_size > cfg.vocab_size:
        raise InteropError(
            f"{tok_dir}: {tok.vocab_size} tokenizer pieces do not fit the model's vocabulary of {cfg.vocab_size} "
            f"({step_dir / ckpt.MODEL_CONFIG_FILE})"
        )
    _check_state(step_dir, tok)
    return step_dir, model, cfg, tok, (tok_dir / SP_MODEL_FILE).read_bytes()


def _write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def _write_weights(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata={"format": "pt"})
    fsync_file(path)


def verify_export(hf_dir: Path, model, tok: Tokenizer, sample_texts: list[str] | None = None) -> dict:
    """Load `hf_dir` with transformers and compare with our model and tokenizer; raise on a difference."""
    import transformers
    from transformers import AutoTokenizer

    from weprompt.pretrain.hf.verify import LOGIT_ATOL, load_hf_model, max_logit_diff, probe_ids

    hf_tok = AutoTokenizer.from_pretrained(str(hf_dir))
    texts = PROBES + list(sample_texts or [])
    n, bad = parity_mismatches(tok, hf_tok, texts)
    if bad:
        raise InteropError(
            f"the exported tokenizer does not encode like ours ({len(bad)}+ of {n} texts differ), so it cannot "
            "be represented faithfully:\n  " + "\n  ".join(bad)
        )
    hf_model = load_hf_model(hf_dir)
    ids = probe_ids(tok.encode_batch(texts), model.config.context_length)
    docs = torch.zeros_like(ids)
    docs[:, ids.shape[1] // 3 :] = 1
    docs[:, 2 * ids.shape[1] // 3 :] = 2
    diff = max(max_logit_diff(model, hf_model, ids), max_logit_diff(model, hf_model, ids, docs))
    if not diff <= LOGIT_ATOL:
        raise InteropError(
            f"transformers' logits differ from ours by {diff:.3g} (> {LOGIT_ATOL:g}) on the exported model; "
            "nothing was written"
        )
    return {
        "transformers": transformers.__version__,
        "max_abs_logit_diff": diff,
        "tokens": int(ids.numel()),
        "tokenizer_texts": n,
    }


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    force: bool = False,
    verify: bool = True,
    sample_texts: list[str] | None = None,
) -> ExportResult:
    out = Path(out)
    from weprompt.pretrain.hf.outdir import check_target

    check_target(out, force, META_FILE, Path(checkpoint))  # fail before the (slow) load
    step_dir, model, cfg, tok, sp_bytes = load_checkpoint(checkpoint)
    proto = parse_proto(sp_bytes)
    tok_files = tokenizer_files(sp_bytes, cfg.context_length, where=str(step_dir / ckpt.TOKENIZER_DIR))
    prov = provenance.gather(step_dir)
    tensors = mapping.to_hf_state(model.state_dict(), cfg)
    with staged_dir(out, force, META_FILE, source=step_dir) as tmp:
        _write_json(tmp / CONFIG_FILE, mapping.hf_config(cfg, tok.bos_id, tok.eos_id, tok.pad_id))
        _write_json(
            tmp / GENERATION_FILE,
            {
                "bos_token_id": tok.bos_id,
                "eos_token_id": tok.eos_id,
                "pad_token_id": tok.pad_id,
                "do_sample": False,
                "max_length": cfg.context_length,
            },
        )
        for name, text in tok_files.items():
            atomic_write_text(tmp / name, text)
        atomic_write_bytes(tmp / SP_MODEL_FILE, sp_bytes)
        _write_weights(tmp / WEIGHTS_FILE, tensors)
        del tensors
        verified = verify_export(tmp, model, tok, sample_texts) if verify else None
        tok_info = {
            "model_type": "BPE" if proto.trainer_spec.model_type == 2 else "Unigram",
            "vocab_size": tok.vocab_size,
            "eos_token": tok.id_to_piece(tok.eos_id),
            "eos_id": tok.eos_id,
        }
        atomic_write_text(tmp / CARD_FILE, render_card(cfg, model.num_parameters(), prov, tok_info, verified))
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_config": to_dict(cfg),
            "tokenizer_fingerprint": tok.fingerprint(),
            "tokenizer": tok_info,
            "provenance": prov,
            "source_checkpoint": str(step_dir.resolve()),
            "exported_with": _versions(),
            "verified": verified,
        }
        _write_json(tmp / META_FILE, meta)
        files = sorted(p.name for p in tmp.iterdir())
    return ExportResult(out=out, step_dir=step_dir, files=files, verified=verified)
