"""Group losses from the training forward: the same loss as the model's own, per-group sums that add up,
and the two loss normalisations."""

import torch

from weprompt.finetune_data import loss_weights
from weprompt.pretrain.engine.grouploss import GroupLossMeter, model_loss
from weprompt.pretrain.model import ModelConfig, WeLM


def _batch():
    torch.manual_seed(0)
    ids = torch.randint(0, 50, (2, 12))
    targets = ids.roll(-1, 1)
    targets[0, :3] = -100  # a prompt that is not trained on
    targets[1, -2:] = -100  # padding
    docs = torch.tensor([[0] * 5 + [1] * 7, [0] * 9 + [1] * 3])
    group = torch.tensor([[0] * 5 + [1] * 7, [1] * 9 + [2] * 3])
    return ids, targets, docs, group


def test_per_token_weights_reproduce_the_models_loss_and_group_sums_add_up():
    model = WeLM(ModelConfig(vocab_size=50, n_layer=1, n_head=2, d_model=16, context_length=16)).eval()
    ids, targets, docs, group = _batch()
    reference = model(input_ids=ids, targets=targets).loss
    batch = {"input_ids": ids, "targets": targets, "loss_weight": loss_weights(targets, docs, "token"),
             "loss_group": group}  # fmt: skip
    loss, (sums, counts) = model_loss(model, batch)
    assert torch.allclose(loss, reference, atol=1e-6)
    assert counts.tolist() == [2, 16, 1]  # valid target tokens of each group
    assert torch.allclose(sums.sum() / counts.sum(), reference.double(), atol=1e-6)
    logits = model(input_ids=ids).logits
    ce = torch.nn.functional.cross_entropy(logits[1, 9:10], targets[1, 9:10])
    assert torch.allclose(sums[2], ce.double(), atol=1e-6)  # group 2 is that one token


def test_example_normalisation_weighs_every_example_the_same():
    _, targets, docs, _ = _batch()
    w = loss_weights(targets, docs, "example")
    valid = targets != -100
    assert torch.isclose(w.sum(), torch.tensor(1.0)) and (w[~valid] == 0).all()
    per_example = [float(w[r][docs[r] == d].sum()) for r in range(2) for d in (0, 1)]
    assert all(abs(x - 0.25) < 1e-6 for x in per_example)  # 4 examples, each a quarter
    t = loss_weights(targets, docs, "token")
    assert torch.allclose(t[valid], torch.full_like(t[valid], 1 / int(valid.sum())))


def test_meter_rolls_groups_up_and_pads_growing_group_lists():
    m = GroupLossMeter()
    m.add((torch.tensor([2.0, 6.0]), torch.tensor([1.0, 2.0])))
    m.add((torch.tensor([0.0, 0.0, 4.0]), torch.tensor([0.0, 0.0, 2.0])))
    losses, tokens = m.summary(["a", "b", "c"], {"a": "x", "b": "y", "c": "y"})
    assert losses == {"x": 2.0, "y": 2.5} and tokens == {"x": 1, "y": 4}
    m.reset()
    assert m.summary(["a"]) == ({}, {})
