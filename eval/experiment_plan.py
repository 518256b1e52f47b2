"""The experiment's config and its plan: which models (units) a matrix of test tasks × modes needs.

Modes: welm_zero_shot and welm_few_shot evaluate the base; weprompt_strong trains one model per
held-out category (every task outside it); weprompt_weak one per test task (every task but it, and
its family); weprompt_all one model on everything; welm_finetune one single-task model per test
task. `share_weak` trades the paper's weak setting for fewer models: "category" shares one weak
model among the test tasks of a category, "all" one among every test task (each model holds out all
the test tasks it serves, so a test task's category siblings still train but the other test tasks do
not); the report labels a shared unit.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from weprompt.catalog import Catalog
from weprompt.common.config import from_dict
from weprompt.common.errors import UserError
from weprompt.finetune import FinetuneConfig

log = logging.getLogger(__name__)

MODES = (
    "welm_zero_shot",
    "welm_few_shot",
    "weprompt_strong",
    "weprompt_weak",
    "weprompt_all",
    "welm_finetune",
)


@dataclass
class ExperimentEval:
    limit: int | None = 200  # examples per task (None: the whole evaluation split)
    batch_size: int = 8
    calibrate: bool = True
    few_shot: str = "paper"  # shots for welm_few_shot: "paper" (1/2/5 per task) or a number
    scope_probe: int = 0  # rank tasks: open answers decoded for the first N examples (out-of-scope rate)


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    seed: int = 0
    run_dir: str | None = None  # default runs/experiments/<name>
    base: str = "runs/base"  # the WeLM base checkpoint (build it with `weprompt pretrain`)
    test_tasks: list[str] = field(default_factory=lambda: ["ocnli"])
    modes: list[str] = field(default_factory=lambda: ["welm_zero_shot", "weprompt_strong", "weprompt_weak"])
    share_weak: Literal["none", "category", "all"] = "none"  # weak models: one per test task (paper)
    # Overrides of weprompt.finetune.FinetuneConfig for the WePrompt units. A `mixture.categories` share
    # on a strong unit's held-out category is dropped for that unit (it cannot train on it) and logged.
    finetune: dict = field(default_factory=dict)
    single_task_finetune: dict = field(default_factory=dict)  # overrides for welm_finetune units
    eval: ExperimentEval = field(default_factory=ExperimentEval)
    data_dir: str | None = None
    bank_dir: str | None = None

    @property
    def out(self) -> Path:
        return Path(self.run_dir or f"runs/experiments/{self.name}")


@dataclass
class Unit:
    """One model to train: its split and the test tasks whose cells it serves."""

    name: str
    mode: str  # weprompt_strong | weprompt_weak | weprompt_all | welm_finetune
    split: str
    test_tasks: list[str]
    serves: list[str]
    label: str = ""
    held_out_category: str | None = None  # strong units: the category the split holds out


def validate(cfg: ExperimentConfig, catalog: Catalog) -> None:
    for m in cfg.modes:
        if m not in MODES:
            raise UserError(f"experiment '{cfg.name}': unknown mode '{m}'; modes: {', '.join(MODES)}")
    for t in cfg.test_tasks:
        catalog.task(t)  # CatalogError names the unknown task
    if not cfg.test_tasks:
        raise UserError(f"experiment '{cfg.name}': no test_tasks")
    if cfg.share_weak not in ("none", "category", "all"):
        raise UserError(
            f"experiment '{cfg.name}': share_weak must be none, category or all, not {cfg.share_weak!r}"
        )
    try:
        from_dict(FinetuneConfig, copy.deepcopy(cfg.finetune), "finetune")
        from_dict(FinetuneConfig, copy.deepcopy(cfg.single_task_finetune), "single_task_finetune")
    except UserError as e:
        raise UserError(f"experiment '{cfg.name}': {e}") from None


def _weak_units(cfg: ExperimentConfig, tests: list) -> list[Unit]:
    if cfg.share_weak == "none":
        return [Unit(f"weak_{t.name}", "weprompt_weak", "weak", [t.name], [t.name]) for t in tests]
    if cfg.share_weak == "all":
        names = [t.name for t in tests]
        label = "shared by all test tasks (holds out every test task at once; their categories still train)"
        return [Unit("weak_shared_all", "weprompt_weak", "weak", names, names, label)]
    units = []
    for cat in dict.fromkeys(t.category for t in tests):
        served = [t.name for t in tests if t.category == cat]
        label = "shared per category (holds out all test tasks of the category at once)"
        units.append(Unit(f"weak_shared_{cat}", "weprompt_weak", "weak", served, served, label))
    return units


def plan_units(cfg: ExperimentConfig, catalog: Catalog) -> list[Unit]:
    units: list[Unit] = []
    tests = [catalog.task(t) for t in cfg.test_tasks]
    if "weprompt_strong" in cfg.modes:
        for cat in dict.fromkeys(t.category for t in tests):
            served = [t.name for t in tests if t.category == cat]
            units.append(
                Unit(f"strong_{cat}", "weprompt_strong", "strong", served, served, held_out_category=cat)
            )
    if "weprompt_weak" in cfg.modes:
        units += _weak_units(cfg, tests)
    if "weprompt_all" in cfg.modes:
        names = [t.name for t in tests]
        units.append(Unit("all", "weprompt_all", "all", names, names))
    if "welm_finetune" in cfg.modes:
        units += [
            Unit(f"single_{t.name}", "welm_finetune", "single", [t.name], [t.name])
            for t in tests
            if "train" in t.splits
        ]
    return units


def drop_held_out_share(ft: FinetuneConfig, unit: Unit) -> None:
    """A strong unit cannot train on its held-out category: its share in a mixture shared by every unit
    of the experiment goes (the other categories keep their relative shares), with a log line."""
    cat = unit.held_out_category
    if cat is not None and cat in ft.mixture.categories:
        share = ft.mixture.categories.pop(cat)
        log.info("%s: mixture.categories.%s (share %s) dropped: held out by this unit", unit.name, cat, share)
