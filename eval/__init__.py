"""Zero- and few-shot evaluation of held-out tasks (paper §4, DESIGN §7).

Modules: `scoring` (rank classification from a shared-prefix KV cache, one example), `batching`
(batches across examples: shared-prefix scoring with padding masks, left-padded greedy decoding),
`predict` (a template's examples prepared and batched), `hfmodel` (`--model hf:`), `config`
(`--config`), `shards` (`--shard i/n`, `eval merge`), `runtime` (threads, batch size), `generate` (greedy decoding),
`metrics` (Chinese-aware F1 / EM / ROUGE / BLEU), `fewshot` (demonstrations, prompt assembly),
`examples` (rendering, choices, references), `cache` (resumable prediction cache), `aggregate`
(scores from cached predictions), `runner` (`evaluate(...)`), `report` (JSON / Markdown / table),
`cli` (`weprompt eval`). See docs/eval.md.
"""
