"""WePrompt: multitask prompted fine-tuning of Chinese language models (WeLM §4.3)."""

__version__ = "0.1.0"
