"""lm-evaluation-harness on an exported model, with a task generated from one of our bank's templates.

The harness's log-likelihood of every request equals ours: our WeLM and our tokenizer, scored by
eval.scoring.score_full on the same (context, continuation) split the harness makes (it moves the
context's trailing whitespace into the continuation and encodes context + continuation as a whole).
"""

import json

import pytest

pytest.importorskip(
    "lm_eval", reason="lm-evaluation-harness is not installed (pip install 'weprompt[lmeval]')"
)

pytestmark = pytest.mark.usefixtures("synth_data")  # `lmeval-task` renders synthetic OCNLI rows


def _our_request_ids(tok, context: str, continuation: str) -> tuple[list[int], list[int]]:
    n = len(context) - len(context.rstrip())
    if n:
        context, continuation = context[:-n], context[-n:] + continuation
    whole = tok.encode(context + continuation)
    ctx = tok.encode(context)
    return ctx, whole[len(ctx) :]


def test_harness_loglikelihoods_equal_ours(exported, models, tiny_base, tmp_path, capsys):
    import torch

    from weprompt.cli.main import main
    from weprompt.eval.scoring import score_full
    from weprompt.pretrain.hf.lmeval import run_harness

    _step, hf_dir = exported
    ours, _hf, tok, _hf_tok = models
    _base, bank = tiny_base
    args = ["lmeval-task", "--task", "ocnli", "--bank-dir", str(bank), "--limit", "5", "--out", str(tmp_path)]
    assert main(args) == 0
    assert "lm_eval --model hf" in capsys.readouterr().out
    (yaml_file,) = tmp_path.glob("weprompt_ocnli_*.yaml")
    rows = [json.loads(line) for line in yaml_file.with_suffix(".test.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and all(r["query"].endswith("关系？") for r in rows)  # the bank template, rendered

    result = run_harness(hf_dir, tmp_path, yaml_file.stem)
    samples = result["samples"][yaml_file.stem]
    assert len(samples) == 5
    correct, n_requests = 0, 0
    for s, row in zip(sorted(samples, key=lambda s: s["doc_id"]), rows, strict=True):
        sums = []
        for (context, continuation), ((ll, greedy),) in zip(s["arguments"], s["resps"], strict=True):
            assert context == row["query"] and continuation.startswith("\n")
            ctx, cont = _our_request_ids(tok, context, continuation)
            mine = sum(score_full(ours, ctx, [cont])[0])
            assert ll == pytest.approx(mine, abs=1e-4), (context, continuation)
            with torch.no_grad():
                logits = ours(torch.tensor([ctx + cont])).logits[0, len(ctx) - 1 : -1]
            assert bool(greedy) == bool((logits.argmax(-1) == torch.tensor(cont)).all())
            sums.append(mine)
            n_requests += 1
        correct += int(max(range(len(sums)), key=sums.__getitem__) == row["gold"])
    assert n_requests == 15  # 5 examples x 3 choices
    assert result["results"][yaml_file.stem]["acc,none"] == pytest.approx(correct / 5)
