"""A loaded checkpoint is evaluated on `modelio.eval_device()` (the GPU when there is one), and its hash,
which keys the prediction cache, does not depend on the device."""

import torch

from weprompt.eval import modelio


def test_load_puts_the_model_on_the_eval_device_with_the_same_hash(tiny_base, monkeypatch):
    base, _ = tiny_base
    on_cpu = modelio.load(base)
    assert modelio.eval_device() == (
        torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    )
    # A device other than the CPU on a CPU-only host: "meta" (no data), enough to see where load puts it.
    monkeypatch.setattr(modelio, "eval_device", lambda: torch.device("meta"))
    moved = modelio.load(base)
    assert {p.device.type for p in moved.model.parameters()} == {"meta"}
    assert moved.model_hash == on_cpu.model_hash
