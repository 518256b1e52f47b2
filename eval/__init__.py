"""Zero- and few-shot evaluation of held-out tasks (paper §4, DESIGN §7).

Modules: `scoring` (rank classification from a shared-prefix KV cache), `generate` (greedy decoding),
`metrics` (Chinese-aware F1 / EM / ROUGE / BLEU), `fewshot` (demonstrations, prompt assembly),
`examples` (rendering, choices, references), `cache` (resumable prediction cache), `aggregate`
(scores from cached predictions), `runner` (`evaluate(...)`), `report` (JSON / Markdown / table),
`cli` (`weprompt eval`). See docs/eval.md.
"""
