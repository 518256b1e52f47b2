"""Best-fit-decreasing packing over a buffer: the largest waiting example that fits, no example cut or lost,
denser than greedy on the same stream, resumable."""

import random

import pytest

from weprompt.packing import Packer, PackingConfig
from weprompt.sampler import Encoded


class Stream:
    """Examples of given sizes (tokens with EOS), each tagged with its index in the target ids."""

    def __init__(self, sizes):
        self.items = [Encoded("t", "x", [7] * (n - 2), [1000 + i]) for i, n in enumerate(sizes)]
        self.i = 0

    def __next__(self):
        self.i += 1
        return self.items[self.i - 1]


def _ids(seq):
    return [t - 1000 for t in seq.tokens if t >= 1000]


def test_each_sequence_takes_the_largest_waiting_example_that_fits():
    p = Packer(
        Stream([3, 6, 5, 2, 4, 9, 9, 9]), PackingConfig(strategy="best_fit", buffer=5), 2, 0, seq_len=10
    )
    first = next(p)  # buffer [3, 6, 5, 2, 4]: 6, then room 4 -> 4, then room 0
    assert _ids(first) == [1, 4] and first.tokens.count(0) == 0
    second = next(p)  # buffer [3, 5, 2, 9, 9]: 9, room 1 -> nothing fits
    assert _ids(second) == [5] and second.tokens.count(0) == 1


def test_best_fit_is_denser_than_greedy_and_loses_nothing():
    rng = random.Random(0)
    sizes = [rng.choice([rng.randint(3, 40), rng.randint(40, 300)]) for _ in range(4000)]
    eff = {}
    for strategy, buffer in (("greedy", 16), ("best_fit", 256)):
        src = Stream(sizes)
        p = Packer(src, PackingConfig(strategy=strategy, buffer=buffer), 2, 0, seq_len=513)
        placed = [i for _ in range(150) for i in _ids(next(p))]
        waiting = [e.target_ids[0] - 1000 for e in p.buffer]
        assert sorted(placed + waiting) == list(range(src.i))  # every drawn example exactly once, whole
        eff[strategy] = p.stats.efficiency
    assert eff["best_fit"] > 0.995 and eff["best_fit"] > eff["greedy"]


def test_best_fit_resumes_the_same_stream():
    sizes = [random.Random(1).randint(3, 60) for _ in range(2000)]
    cfg = PackingConfig(strategy="best_fit", buffer=64)
    a = Packer(Stream(sizes), cfg, 2, 0, seq_len=129)
    for _ in range(10):
        next(a)
    state, pos = a.state_dict(), a.source.i
    expected = [next(a).tokens for _ in range(5)]
    b = Packer(Stream(sizes), cfg, 2, 0, seq_len=129)
    b.source.i = pos
    b.load_state_dict(state)
    assert [next(b).tokens for _ in range(5)] == expected


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="bad packing config"):
        PackingConfig(strategy="first_fit")  # type: ignore[arg-type]
