"""The pretraining corpus pipeline (WeLM §2): datatrove steps, one module per step; see docs/corpus.md."""
