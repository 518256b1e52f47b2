"""`weprompt mixture export`: the rendered, sampled, capped mixture for other trainers. The LLaMA-Factory
output is checked against its documented dataset schema (data/README.md: dataset_info.json entries and the
alpaca format), and both formats round-trip to the draws the training stream makes."""

import json

import pytest
import yaml

from weprompt.cli.main import main

# LLaMA-Factory data/README.md: the keys a dataset_info.json entry may have, and the `columns` names.
LF_ENTRY_KEYS = {"hf_hub_url", "ms_hub_url", "script_url", "cloud_file_name", "file_name", "formatting",
                 "ranking", "subset", "split", "folder", "num_samples", "columns", "tags"}  # fmt: skip
LF_COLUMNS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos",
              "audios", "chosen", "rejected", "kto_tag"}  # fmt: skip


def check_llamafactory_dataset(out_dir) -> list[dict]:
    """Raise AssertionError where the directory breaks LLaMA-Factory's documented alpaca schema."""
    info = json.loads((out_dir / "dataset_info.json").read_text(encoding="utf-8"))
    assert isinstance(info, dict) and info
    records = []
    for name, entry in info.items():
        assert isinstance(name, str) and set(entry) <= LF_ENTRY_KEYS, set(entry) - LF_ENTRY_KEYS
        assert entry.get("formatting", "alpaca") == "alpaca"
        cols = {"prompt": "instruction", "query": "input", "response": "output", **entry.get("columns", {})}
        assert set(cols) <= LF_COLUMNS
        path = out_dir / entry["file_name"]
        assert path.suffix in (".json", ".jsonl") and path.is_file()
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            rec = json.loads(line)
            assert isinstance(rec[cols["prompt"]], str) and rec[cols["prompt"]].strip(), f"line {i + 1}"
            assert isinstance(rec[cols["response"]], str) and rec[cols["response"]].strip(), f"line {i + 1}"
            assert isinstance(rec.get(cols["query"], ""), str)
            if "history" in cols:
                assert all(isinstance(p, list) and len(p) == 2 for p in rec.get(cols["history"], []))
            records.append(rec)
    return records


@pytest.fixture
def config(tiny_base, tmp_path, synth_data):
    base, bank = tiny_base
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump({"base": str(base), "bank_dir": str(bank), "sampler": {"block": 32}}))
    return path, bank


def test_llamafactory_export_parses_with_the_documented_schema_and_round_trips(config, tmp_path, capsys):
    path, bank = config
    out = tmp_path / "lf"
    assert main(["mixture", "export", "--config", str(path), "--format", "llamafactory", "--out", str(out),
                 "--examples", "50", "--name", "wp"]) == 0  # fmt: skip
    records = check_llamafactory_dataset(out)
    assert len(records) == 50
    assert (
        main(["mixture", "export", "--config", str(path), "--out", str(tmp_path / "j"), "--examples", "50"])
        == 0
    )
    plain = [json.loads(x) for x in (tmp_path / "j" / "weprompt_mixture.jsonl").read_text().splitlines()]
    assert [(r["instruction"], r["output"], r["task"]) for r in records] == [
        (r["input"], r["target"], r["task"]) for r in plain
    ]  # the same seeded stream, whatever the format

    from weprompt.bank import load_bank
    from weprompt.common.config import load_config
    from weprompt.finetune import FinetuneConfig
    from weprompt.mixture_tools import _plan

    draws = _plan(load_config(FinetuneConfig, str(path))).sampler.rendered(50)
    assert [(r["task"], r["template_id"], r["input"], r["target"]) for r in plain] == draws
    catalog, colls = load_bank(str(bank))
    for r in plain:
        assert r["task"] not in ("ocnli", "cinlid")  # the held-out split never leaks into the export
        assert r["category"] == catalog.task(r["task"]).category
        assert r["template_id"] in {t.id for t in colls[r["task"]].templates}


def test_schema_check_rejects_a_broken_export(config, tmp_path):
    path, _ = config
    out = tmp_path / "lf"
    main(["mixture", "export", "--config", str(path), "--format", "llamafactory", "--out", str(out),
          "--examples", "5"])  # fmt: skip
    info = json.loads((out / "dataset_info.json").read_text())
    info["weprompt_mixture"]["columns"]["answer"] = "output"
    (out / "dataset_info.json").write_text(json.dumps(info))
    with pytest.raises(AssertionError):
        check_llamafactory_dataset(out)
