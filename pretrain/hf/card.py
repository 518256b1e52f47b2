"""The model card (README.md) of an exported directory: what the model is, its scale, its training data
and held-out split, how to load it, and what the export verified."""

from __future__ import annotations

from weprompt.pretrain.model import ModelConfig


def _fmt(n) -> str:
    return f"{n:,}" if isinstance(n, int) else ("unknown" if n is None else str(n))


def _tasks(names: list[str] | None, limit: int = 40) -> str:
    if not names:
        return "none"
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else f" ({len(names)})")


def _data_section(prov: dict) -> list[str]:
    lines = ["## Training data", ""]
    if prov.get("kind") == "weprompt":
        s = prov.get("split") or {}
        lines += [
            "WePrompt: multitask prompted fine-tuning (WeLM paper §4.3) of a WeLM base.",
            "",
            f"- Split mode: `{s.get('mode')}`",
            f"- Test tasks (held out, with their families and, in strong mode, their categories): {_tasks(s.get('test_tasks'))}",
            f"- Training tasks: {_tasks(s.get('train_tasks'))}",
            f"- Not trained on: {_tasks(s.get('held_out'))}",
            f"- Base checkpoint: `{prov.get('base') or 'unknown'}`",
        ]
    else:
        d = prov.get("pretrain_data") or {}
        lines += ["WeLM pretraining (causal language modelling on raw text)."]
        if d:
            lines += ["", f"- Token shards: `{d.get('shards')}` ({_fmt(d.get('num_tokens'))} tokens, "
                      f"{_fmt(d.get('num_documents'))} documents; validation fraction {d.get('val_fraction')})"]  # fmt: skip
            for src, n in (d.get("tokens_by_source") or {}).items():
                lines.append(f"  - {src}: {_fmt(n)} tokens")
        else:
            lines += ["", "- The run directory with the data configuration was not available at export."]
    return lines + [""]


def render_card(cfg: ModelConfig, n_params: int, prov: dict, tokenizer: dict, verified: dict | None) -> str:
    kind = "WePrompt" if prov.get("kind") == "weprompt" else "WeLM"
    tags = ["welm", "weprompt", "gpt_neox", "chinese"]
    lines = [
        "---",
        "language: [zh, en]",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags: [" + ", ".join(tags) + "]",
        "---",
        "",
        f"# {kind} ({_fmt(n_params)} parameters)",
        "",
        f"A {kind} model exported from a WePrompt-toolkit checkpoint (a reproduction of WeLM, arXiv 2209.10372) "
        "as a plain transformers GPT-NeoX model: no custom code is needed to load it.",
        "",
        "## Scale",
        "",
        "| parameters | layers | d_model | heads | FFN | context | vocabulary | step | tokens seen |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {_fmt(n_params)} | {cfg.n_layer} | {cfg.d_model} | {cfg.n_head} | {cfg.d_ff} | {cfg.context_length} | "
        f"{cfg.vocab_size} | {_fmt(prov.get('step'))} | {_fmt(prov.get('tokens_seen'))} |",
        "",
        f"Pre-norm LayerNorm, rotary positions on the full head (theta {cfg.rope_theta:g}), GELU (tanh), "
        f"sequential residuals, {'tied' if cfg.tie_embeddings else 'untied'} embeddings, "
        f"{'with' if cfg.bias else 'no'} biases{'' if cfg.bias else ' (exported as zeros where GPT-NeoX requires them)'}. "
        f"Trained in {prov.get('precision') or 'unknown precision'}; weights are fp32.",
        "",
        *_data_section(prov),
        "## Tokenizer",
        "",
        f"SentencePiece {tokenizer['model_type']} ({tokenizer['vocab_size']} pieces, byte fallback, no dummy prefix, "
        "identity normalization), converted to `tokenizer.json` so that `AutoTokenizer` encodes and decodes exactly "
        "like the toolkit: no BOS is added, whitespace, tabs and newlines are kept, and the text `<s>` is text. "
        "`tokenizer.model` is the original SentencePiece file. Training examples and evaluation prompts start "
        f"after an EOS token (`{tokenizer['eos_token']}`, id {tokenizer['eos_id']}); prepend it yourself.",
        "",
        *(
            [
                "Unigram caveat: SentencePiece scores its Viterbi lattice in float32, `tokenizers` in float64, so "
                "on long texts an exact or near tie can resolve differently (the toolkit's 12k Unigram tokenizer: "
                "5 of 6,848 corpus documents of thousands of characters; none of 33,966 rendered bank prompts).",
                "",
            ]
            if tokenizer["model_type"] == "Unigram"
            else []
        ),
        "## Usage",
        "",
        "```python",
        "import torch",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'tok = AutoTokenizer.from_pretrained("<this directory>")',
        'model = AutoModelForCausalLM.from_pretrained("<this directory>", dtype=torch.float32)',
        'ids = [tok.eos_token_id] + tok("问题：中国的首都是哪里？\\n答案：")["input_ids"]',
        "out = model.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False)",
        "print(tok.decode(out[0, len(ids):], skip_special_tokens=True))",
        "```",
        "",
        "Packed sequences (several documents in one row) as in training: pass `position_ids` that restart at 0 "
        "for each document, no `attention_mask` and `use_cache=False`; transformers then builds the same "
        "block-diagonal mask.",
        "",
        "Back to the toolkit: `weprompt import-hf <this directory> --out <run dir>`.",
        "",
    ]
    if verified:
        lines += [
            "## Export check",
            "",
            f"At export, transformers {verified['transformers']} loaded this directory and gave logits within "
            f"{verified['max_abs_logit_diff']:.2e} of the toolkit's (fp32, CPU, {verified['tokens']} tokens), and "
            f"its tokenizer encoded {verified['tokenizer_texts']} probe texts exactly like the toolkit's.",
            "",
        ]
    return "\n".join(lines)
