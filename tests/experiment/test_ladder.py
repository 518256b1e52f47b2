"""The scale ladder: finished experiment runs on bases of different sizes, side by side."""

import json

import pytest

from weprompt.common.errors import UserError
from weprompt.eval.ladder import load_rung, write_ladder


def _run(tmp_path, name, params, weak_right, n=40):
    """A finished run's cells.json: zero-shot right on half the examples, weak on `weak_right` of them."""
    zero = [1.0 if i % 2 else 0.0 for i in range(n)]
    weak = [1.0 if i < weak_right else 0.0 for i in range(n)]
    cells = [
        {"task": "chnsenticorp", "mode": "welm_zero_shot", "per_example": zero, "chance": 50.0},
        {"task": "chnsenticorp", "mode": "weprompt_weak", "per_example": weak, "chance": 50.0},
    ]
    run = tmp_path / name
    (run / "report").mkdir(parents=True)
    meta = {"experiment": name, "base parameters": params, "base pretraining tokens": 1000}
    (run / "report" / "cells.json").write_text(json.dumps({"meta": meta, "cells": cells}))
    (run / "models" / "weak_shared_all").mkdir(parents=True)
    log = [{"kind": "heldout", "step": s, "source": "heldout_accuracy", "metrics": {"chnsenticorp": a, "mean": a}}
           for s, a in [(10, 0.5), (20, 0.6)]]  # fmt: skip
    (run / "models" / "weak_shared_all" / "train_log.jsonl").write_text("\n".join(map(json.dumps, log)))
    return run


def test_ladder_orders_by_size_and_tracks_each_finding(tmp_path):
    big = _run(tmp_path, "big", 20_000_000, weak_right=36)  # weak 90% vs zero-shot 50%
    small = _run(tmp_path, "small", 2_000_000, weak_right=20)  # weak 50%: no gain
    md = write_ladder([str(big), str(small)], tmp_path / "ladder").read_text()
    assert "| task | mode | 2.0M (small) | 20.0M (big) |" in md  # smallest first, whatever the order given
    assert "| chnsenticorp | WePrompt weak | 50.0 [" in md and "| 90.0 [" in md
    finding = md.split("**weak > WeLM zero-shot**")[1].splitlines()[1]
    assert (
        finding.startswith("  - chnsenticorp: +0.0 [") and "→ +40.0* [" in finding
    )  # grows, significant at 20M
    assert (tmp_path / "ladder" / "score_vs_size.png").stat().st_size > 0
    assert (tmp_path / "ladder" / "heldout_vs_step.png").stat().st_size > 0


def test_ladder_refuses_what_it_cannot_compare(tmp_path):
    with pytest.raises(UserError, match="at least two"):
        write_ladder([str(_run(tmp_path, "a", 1_000_000, 20))], tmp_path / "out")
    with pytest.raises(UserError, match="no report/cells.json"):
        load_rung(tmp_path / "missing")
    old = _run(tmp_path, "old", 1, 20)
    (old / "report" / "cells.json").write_text(json.dumps({"meta": {}, "cells": []}))
    with pytest.raises(UserError, match="no 'base parameters'"):
        load_rung(old)
