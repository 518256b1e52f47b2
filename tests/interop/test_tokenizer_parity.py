"""The exported tokenizer, loaded with AutoTokenizer, encodes and decodes exactly like ours.

Checked on: the probe set (whitespace runs, tabs, newlines, "▁", "<s>" look-alikes, byte fallback),
a seeded fuzz of layout-heavy strings, every template of the real prompt bank rendered on one example
(input + TARGET_SEP + target, and every answer choice), and the first documents of every corpus file.
The bank test renders a seeded sample of templates per task for speed; the whole bank (1,682 templates x
5 examples, BPE and Unigram tokenizers) was checked once by hand, see docs/interop.md.
"""

import gzip
import itertools
import json
import random

import pytest
from testutil import SHARED_CORPUS, requires_corpus, requires_data

from weprompt.pretrain.hf import InteropError
from weprompt.pretrain.hf.tokenizer import PROBES, parity_mismatches, parse_proto, tokenizer_files


def _hf_tokenizer(tok, tmp_path):
    from transformers import AutoTokenizer

    for name, text in tokenizer_files(tok._proto, 64).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return AutoTokenizer.from_pretrained(str(tmp_path))


def _fuzz(n: int, seed: int = 0) -> list[str]:
    alphabet = [
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        "\r",
        "\u2581",
        "a",
        "ab",
        "中",
        "文",
        "，",
        "<s>",
        "</s>",
        "<0x41>",
        "😀",
        "\u3000",
    ]
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(n)]


def _assert_parity(ours, hf, texts, what):
    n, bad = parity_mismatches(ours, hf, texts, limit=5)
    assert n == len(texts)
    assert not bad, f"{what}: " + "\n".join(bad)


def test_probes_whitespace_and_fuzz(models):
    _ours_model, _hf_model, ours, hf = models
    runs = [c * k for c in (" ", "\t", "\n", " \t", "\u2581") for k in range(1, 70)]
    _assert_parity(ours, hf, PROBES + runs + _fuzz(1500), "probes")
    # The conversion really keeps layout: spaces and newlines are tokens, nothing is prepended.
    ids = hf("  a\n")["input_ids"]
    assert hf.decode(ids) == "  a\n" and ids == ours.encode("  a\n")
    assert hf("<s>")["input_ids"] != [ours.bos_id]  # the text "<s>" is text
    assert hf("\u2581")["input_ids"] == [ours.sp.piece_to_id(f"<0x{b:02X}>") for b in "\u2581".encode()]


TEMPLATES_PER_TASK = 3


@requires_data
def test_bank_prompts_every_task(models):
    from weprompt.bank import load_bank
    from weprompt.data import iter_rows
    from weprompt.eval.examples import example_key, render_seed
    from weprompt.templates import TARGET_SEP, render

    _ours_model, _hf_model, ours, hf = models
    catalog, bank = load_bank()
    texts, templates = [], 0
    for name, coll in bank.items():
        task = catalog.task(name)
        split = task.eval_split if task.eval_split in task.splits else sorted(task.splits)[0]
        rows = list(iter_rows(name, split, limit=1, catalog=catalog))
        sample = random.Random(name).sample(coll.templates, min(TEMPLATES_PER_TASK, len(coll.templates)))
        for tpl, (i, row) in itertools.product(sample, enumerate(rows)):
            try:
                r = render(tpl, row, seed=render_seed(0, example_key(split, i)))
            except Exception:
                continue  # a template that cannot render this row is the validator's business
            templates += 1
            texts.append(r.input + TARGET_SEP + (r.target or ""))
            texts += r.answer_choices or []
    assert templates >= 100, "the bank should render at least 100 templates"
    _assert_parity(ours, hf, texts, f"bank ({templates} templates)")


@requires_corpus
def test_corpus_sample(models):
    _ours_model, _hf_model, ours, hf = models
    texts = []
    for path in sorted(SHARED_CORPUS.glob("*/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in itertools.islice(f, 25)]
    assert len(texts) >= 100
    _assert_parity(ours, hf, texts, "corpus")


def test_unigram_tokenizer(tmp_path, synth_data):
    """The other SentencePiece model type: Unigram (reserved pieces must never win the lattice)."""
    from weprompt.data import load_split
    from weprompt.pretrain.tokenizer import train_tokenizer

    texts = [r["text"] for r in load_split("chnsenticorp", "train").select(range(1500))]
    ours = train_tokenizer(
        texts,
        tmp_path / "sp",
        vocab_size=4000,
        model_type="unigram",
        char_sets=("ascii",),
        character_coverage=0.999,
    )
    assert parse_proto(ours._proto).trainer_spec.model_type == 1
    (tmp_path / "hf").mkdir()
    hf = _hf_tokenizer(ours, tmp_path / "hf")
    _assert_parity(ours, hf, PROBES + _fuzz(500, seed=1) + texts[:300], "unigram")


def test_unfaithful_tokenizer_is_refused(models):
    _ours_model, _hf_model, ours, _hf = models
    m = parse_proto(ours._proto)
    m.normalizer_spec.add_dummy_prefix = True
    with pytest.raises(InteropError, match="add_dummy_prefix"):
        tokenizer_files(m.SerializeToString(), 64, where="edited.model")
    m = parse_proto(ours._proto)
    m.normalizer_spec.name = "nmt_nfkc"
    m.normalizer_spec.precompiled_charsmap = b"\x00\x01"
    with pytest.raises(InteropError, match="cannot be represented faithfully.*nmt_nfkc"):
        tokenizer_files(m.SerializeToString(), 64, where="edited.model")
