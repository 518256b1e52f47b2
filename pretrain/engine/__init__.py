"""The training engine: one Trainer for pretraining and fine-tuning (see trainer.py for the contract)."""
