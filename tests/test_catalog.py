import shutil

import pytest
import yaml
from testutil import REPO, requires_data

from weprompt.catalog import CATEGORIES, CatalogError, load_catalog
from weprompt.data import split_file


def test_catalog_shape():
    cat = load_catalog()
    assert len(cat.tasks) >= 76
    assert set(cat.categories) == set(CATEGORIES) and len(cat.categories) == 14
    assert {t.name for t in cat.eval_tasks()} == {
        "cmrc2018",
        "drcd",
        "dureader_robust",
        "cft",
        "chid",
        "cmrc2017",
        "cmnli",
        "ocnli",
        "tnews",
        "iflytek",
        "webqa",
        "clue_wsc2020",
        "c3",
    }
    assert cat.paper_eval_tasks_missing == ["pd"]
    # paper §4 few-shot counts
    assert [cat.task(n).few_shot for n in ("cmrc2018", "drcd", "dureader_robust")] == [1, 1, 1]
    assert [cat.task(n).few_shot for n in ("cmrc2017", "chid")] == [2, 2]
    assert cat.task("ocnli").few_shot == 5
    assert cat.task("tnews").eval_negatives == 3 and cat.task("iflytek").eval_negatives == 3
    assert cat.task("ocnli").label_names == ("蕴含", "中立", "矛盾")
    # families take siblings out together
    assert {t.name for t in cat.family_members("dureader_robust")} == {
        "dureader_robust",
        "dureader_checklist",
        "dureader_yesno",
    }


def test_label_names_are_chinese_words():
    for t in load_catalog().tasks.values():
        for name in t.label_names:
            if name == "MOBA":  # an IFLYTEK app category; Chinese app stores use the acronym too
                continue
            assert any("\u4e00" <= ch <= "\u9fff" for ch in name), (
                f"{t.name}: label name '{name}' is not Chinese"
            )


@requires_data
def test_catalog_matches_data_dir(data_dir):
    cat = load_catalog()
    on_disk = {p.name for p in data_dir.iterdir() if p.is_dir()}
    assert on_disk == set(cat.tasks)
    for t in cat.tasks.values():
        for split in t.splits:
            path = split_file(data_dir, t.name, split)
            assert path is not None, f"{t.name}/{split} missing"
    shared = yaml.safe_load((data_dir / "catalog.yaml").read_text(encoding="utf-8"))
    for entry in shared["tasks"]:
        ours = cat.task(entry["name"])
        assert ours.category == entry["category"] and ours.splits == entry["splits"]


def _write(tmp_path, mutate):
    raw = yaml.safe_load((REPO / "prompt_bank" / "catalog.yaml").read_text(encoding="utf-8"))
    mutate(raw)
    p = tmp_path / "catalog.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda r: r["tasks"][0].update(categry="nli"),
            "task 'cmrc2018': unknown field 'categry'; did you mean 'category'?",
        ),
        (lambda r: r["tasks"][1].pop("family"), "task 'drcd': missing field 'family'"),
        (lambda r: r["tasks"][9].update(category="poetry"), "field 'category' is 'poetry'"),
        (lambda r: r["tasks"][9].update(eval_split="test"), "field 'eval_split' is 'test'"),
        (
            lambda r: r["tasks"][9].update(label_names=["a"]),
            "fields 'labels' (3) and 'label_names' (1) differ",
        ),
        (lambda r: r["tasks"].append(dict(r["tasks"][0])), "task 'cmrc2018' is listed twice"),
    ],
)
def test_catalog_errors_name_task_and_field(tmp_path, mutate, message):
    with pytest.raises(CatalogError, match=None) as e:
        load_catalog(_write(tmp_path, mutate))
    assert message in str(e.value)


def test_unknown_task_suggests():
    with pytest.raises(CatalogError, match="unknown task 'ocnly'.*did you mean 'ocnli'"):
        load_catalog().task("ocnly")


def test_missing_catalog(tmp_path):
    with pytest.raises(CatalogError, match="catalog not found"):
        load_catalog(tmp_path / "nope.yaml")


def test_bank_is_package_data():
    # The bank must ship with an install: pyproject declares it as package data.
    text = (REPO / "pyproject.toml").read_text()
    assert "prompt_bank" in text and "templates/*.yaml" in text
    assert shutil.which("weprompt"), "the console script is installed"
