"""Interop with the Hugging Face ecosystem: export WeLM / WePrompt checkpoints as plain transformers
directories (GPT-NeoX architecture, a `tokenizers` fast tokenizer) and import such directories back.

    export.py     our checkpoint  -> transformers directory (config, safetensors, tokenizer, card)
    import_.py    transformers directory -> our checkpoint (exact inverse of export)
    mapping.py    ModelConfig <-> GPTNeoXConfig and the weight layout (fused qkv order, zero biases)
    tokenizer.py  SentencePiece model <-> tokenizer.json, built to encode exactly like `Tokenizer`
    card.py       the model card (README.md): training data, split, scale
    lmeval.py     an lm-evaluation-harness task (YAML + JSONL) from rendered prompts

Only `torch`, `safetensors`, `tokenizers` and `transformers` are needed (the `hf` extra); see
docs/interop.md for the design decisions and their verification.
"""

from weprompt.common.errors import UserError

FORMAT = "welm-hf"
FORMAT_VERSION = 1
META_FILE = "welm.json"  # our metadata inside an exported directory (ignored by transformers)
SP_MODEL_FILE = "tokenizer.model"  # the SentencePiece model, byte for byte


class InteropError(UserError):
    """A checkpoint, directory or tokenizer that cannot be exported / imported faithfully."""
