"""WeLM base model: corpus pipeline, tokenizer, decoder and the training engine (imports nothing of ours)."""
