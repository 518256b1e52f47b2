"""Verbs register themselves through the `weprompt.verbs` entry points; the CLI root names no layer."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from weprompt.cli import main as cli_main
from weprompt.common.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def declared_verbs() -> dict[str, str]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return meta["project"]["entry-points"][cli_main.VERB_GROUP]


def test_installed_verbs_are_the_declared_ones():
    installed = {ep.name: ep.value for ep in entry_points(group=cli_main.VERB_GROUP)}
    assert installed == declared_verbs(), "stale install: run `pip install -e .` again"


def test_every_verb_module_registers_at_least_one_verb_and_names_are_unique():
    parser = cli_main.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    verbs = list(sub.choices)  # type: ignore[attr-defined]
    assert len(verbs) == len(set(verbs))
    for name in ("bank", "data", "annotate", "eval", "finetune", "experiment", "quickstart", "corpus"):
        assert name in verbs
    for module in declared_verbs().values():
        assert callable(__import__(module, fromlist=["register"]).register)


def test_the_cli_root_imports_no_layer():
    tree = ast.parse((REPO / "weprompt" / "cli" / "main.py").read_text(encoding="utf-8"))
    first_party = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("weprompt"):
            first_party.add(node.module)
        elif isinstance(node, ast.Import):
            first_party |= {a.name for a in node.names if a.name.startswith("weprompt")}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not node.value.startswith(("weprompt.eval", "weprompt.pretrain", "weprompt.annotation_ui"))
    assert all(m == "weprompt" or m.startswith("weprompt.common") for m in first_party), first_party


def test_no_verb_module_reaches_back_to_the_cli_root_at_run_time():
    modules = sorted(set(declared_verbs().values()) | {"weprompt.cli.quickstart"})
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "assert 'weprompt.cli.main' not in sys.modules, 'a verb module imports the CLI root'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_stale_metadata_is_a_clear_error(monkeypatch):
    class FakeEntryPoint:
        value = "weprompt.cli.no_such_verb"

    monkeypatch.setattr(cli_main, "entry_points", lambda group: [FakeEntryPoint()])
    with pytest.raises(UserError, match="names verb module `weprompt.cli.no_such_verb`.*reinstall"):
        cli_main.build_parser()
    monkeypatch.setattr(cli_main, "entry_points", lambda group: [])
    assert cli_main.main(["bank", "stats"]) == 2
