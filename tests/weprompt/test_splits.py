import pytest
import synthdata
from testutil import requires_data

from weprompt.catalog import load_catalog
from weprompt.leakage import example_ngrams, example_text, leakage_report, ngrams
from weprompt.splits import SplitError, build_split
from weprompt.templates import Template, TemplateCollection

CAT = load_catalog()
# Splits are about the catalog; give every task one template so only the rules decide.
BANK = {n: TemplateCollection(n, [Template(name="t", jinja="{{id}} ||| x")]) for n in CAT.tasks}
# The data dir says which tasks have a train split: the synthetic one (tests/synthdata.py) has them for
# ocnli, cinlid, afqmc, chnsenticorp, tnews, c3, cmrc2018, drcd and chid (cmnli has none, as in the catalog).
synthetic_data = pytest.mark.usefixtures("synth_data")


@synthetic_data
def test_strong_holds_out_the_whole_category():
    s = build_split(CAT, BANK, ["ocnli"], "strong")
    nli = {t.name for t in CAT.in_category("nli")}
    assert nli.isdisjoint(s.train_tasks)
    assert s.excluded["ocnli"] == "test task"
    assert s.excluded["cmnli"] == "same category 'nli' as test task ocnli"
    assert "tnews" in s.train_tasks and "c3" in s.train_tasks


@synthetic_data
def test_weak_holds_out_only_the_task_and_its_family():
    s = build_split(CAT, BANK, ["dureader_robust"], "weak")
    assert s.excluded["dureader_robust"] == "test task"
    # the family leaves with it, even from another category... and from the same one
    assert s.excluded["dureader_checklist"].startswith("same source-dataset family 'dureader'")
    assert s.excluded["dureader_yesno"].startswith("same source-dataset family 'dureader'")
    assert "cmrc2018" in s.train_tasks and "drcd" in s.train_tasks  # same category stays in weak mode


@synthetic_data
def test_family_crosses_categories():
    # csldcp (topic classification) shares the CSL family with csl_title_generation (summarization)
    s = build_split(CAT, BANK, ["csldcp"], "weak")
    assert s.excluded["csl_title_generation"].startswith("same source-dataset family 'csl'")
    assert s.excluded["csl_keyword"].startswith("same source-dataset family 'csl'")


@synthetic_data
def test_several_test_tasks_hold_out_the_union():
    s = build_split(CAT, BANK, ["ocnli", "c3"], "strong")
    for cat in ("nli", "commonsense_reasoning"):
        assert {t.name for t in CAT.in_category(cat)}.isdisjoint(s.train_tasks)


@synthetic_data
def test_all_and_none():
    s = build_split(CAT, BANK, ["ocnli"], "all")
    assert "ocnli" in s.train_tasks
    s = build_split(CAT, BANK, ["ocnli"], "none")
    assert s.train_tasks == []
    s = build_split(CAT, BANK, ["ocnli"], "single")
    assert s.train_tasks == ["ocnli"] and s.excluded["afqmc"].startswith("single-task")
    with pytest.raises(SplitError, match="leaves no training task"):
        build_split(CAT, BANK, ["cmnli"], "single")  # CMNLI has no train split


@synthetic_data
def test_tasks_that_cannot_train_say_why():
    s = build_split(CAT, BANK, ["ocnli"], "weak")
    assert s.excluded["webqa"] == "cannot train: no train split"
    no_prompts = dict(BANK)
    no_prompts["tnews"] = TemplateCollection("tnews", [])
    assert build_split(CAT, no_prompts, ["ocnli"], "weak").excluded["tnews"] == "cannot train: no templates"


@synthetic_data
def test_bad_requests():
    with pytest.raises(Exception, match="unknown task 'ocnlx'"):
        build_split(CAT, BANK, ["ocnlx"], "strong")
    with pytest.raises(SplitError, match="unknown split mode 'medium'"):
        build_split(CAT, BANK, ["ocnli"], "medium")
    only_nli = {
        n: (c if CAT.task(n).category == "nli" else TemplateCollection(n, [])) for n, c in BANK.items()
    }
    with pytest.raises(SplitError, match="leaves no training task"):
        build_split(CAT, only_nli, ["ocnli"], "strong")


@synthetic_data
def test_split_fingerprints_and_template_ids():
    s = build_split(CAT, BANK, ["ocnli"], "strong")
    assert set(s.templates) == set(s.train_tasks) == set(s.fingerprints)
    assert all(len(h) == 64 for h in s.fingerprints.values())


def test_ngrams_ignore_whitespace_and_ids():
    assert ngrams("一二三 四五", 3) == ngrams("一二三四五", 3)
    assert "Q_1" not in example_text({"id": "Q_1", "text": "正文", "answers": {"text": ["甲"]}})


def test_ngrams_stay_inside_one_field_and_skip_labels():
    row = {"title": "德云社停演非上级命令属自发行为", "label_name": "entertainment"}
    assert example_ngrams(row, 13) == ngrams("德云社停演非上级命令属自发行为", 13)
    # two short fields never make a 13-gram together
    assert not example_ngrams({"sentence1": "一二三四五六七", "sentence2": "八九十甲乙丙"}, 13)


@requires_data
def test_shared_label_names_are_not_leakage():
    # THUCNews titles and TNEWS share label names ('entertainment' in 'news_entertainment'); that
    # flagged 7.7 % of THUCNews as leaking into TNEWS before labels were skipped.
    report = leakage_report(CAT, ["tnews"], ["thucnews_title"], sample=300)
    assert report.per_task["thucnews_title"]["rate"] < 0.01 and not report.errors


@requires_data
def test_leakage_detects_copied_eval_examples():
    # ocnli's validation set is held out; cmnli/cnsd_snli translations are different text: ~0 overlap.
    clean = leakage_report(CAT, ["ocnli"], ["afqmc"], sample=200)
    assert clean.per_task["afqmc"]["rate"] < 0.01 and not clean.errors
    # Training on the test task itself is caught: CMRC2018 trial and dev articles share passages
    leak = leakage_report(CAT, ["cmrc2018"], ["cmrc2018"], sample=200, threshold=0.0)
    assert leak.per_task["cmrc2018"]["rate"] > 0 and "training task 'cmrc2018'" in leak.errors[0]
    allowed = leakage_report(CAT, ["cmrc2018"], ["cmrc2018"], sample=200, threshold=0.0, allow=["cmrc2018"])
    assert not allowed.errors


def test_leakage_on_synthetic_rows(tmp_path):
    """The two checks above without the real data: independent rows share no 13-gram; training rows that
    quote eval examples are caught, and can be allowed explicitly."""
    data = synthdata.write_data_dir(tmp_path / "data", tasks=("ocnli", "afqmc"))
    clean = leakage_report(CAT, ["ocnli"], ["afqmc"], sample=200, data_dir=data)
    assert clean.per_task["afqmc"]["rate"] < 0.01 and not clean.errors
    leaky = synthdata.write_data_dir(tmp_path / "leaky", tasks=("ocnli",))
    evals = synthdata.task_rows("ocnli", "validation", synthdata.EVAL_ROWS)  # the rows on disk
    train = synthdata.task_rows("afqmc", "train", 300)
    for row, quoted in zip(train[:30], evals, strict=False):
        row["sentence1"] = quoted["sentence1"]
    synthdata.write_jsonl_gz(leaky / "afqmc" / "train.jsonl.gz", train)
    leak = leakage_report(CAT, ["ocnli"], ["afqmc"], sample=300, data_dir=leaky)
    assert leak.per_task["afqmc"]["overlapping"] == 30 and "training task 'afqmc'" in leak.errors[0]
    assert not leakage_report(CAT, ["ocnli"], ["afqmc"], sample=300, data_dir=leaky, allow=["afqmc"]).errors


def _reference_report(test_tasks, train_tasks, n, sample, seed=0):
    """The leakage rule as first written, one n-gram set per example: the report must not change."""
    import random

    from weprompt.data import load_split

    grams = set()
    for t in test_tasks:
        for split in ("validation", "test"):
            if split in CAT.task(t).splits:
                for row in load_split(t, split):
                    grams |= example_ngrams(row, n)
    rng, out = random.Random(seed), {}
    for t in train_tasks:
        ds = load_split(t, "train")
        idx = sorted(rng.sample(range(len(ds)), min(sample, len(ds))))
        hits = sum(1 for row in ds.select(idx) if example_ngrams(row, n) & grams)
        out[t] = {"checked": len(idx), "overlapping": hits, "rate": round(hits / len(idx), 4)}
    return out


@synthetic_data
@pytest.mark.parametrize("n", [4, 13])
def test_leakage_report_is_the_per_example_set_rule(n):
    """The early-exit check gives exactly the report of intersecting each example's n-gram set."""
    train = ["tnews", "afqmc", "c3", "cmrc2018", "chnsenticorp"]
    report = leakage_report(CAT, ["ocnli"], train, n=n, sample=40, threshold=1.0)
    assert report.per_task == _reference_report(["ocnli"], train, n, 40)
    if n == 4:  # short n-grams do overlap in the synthetic data: the comparison is not all zeros
        assert any(v["overlapping"] for v in report.per_task.values())
