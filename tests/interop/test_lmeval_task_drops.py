"""`weprompt lmeval-task` says which rows it left out and why, instead of dropping them silently."""

from testutil import REPO

from weprompt.cli.main import main
from weprompt.templates import Template, TemplateCollection, TemplateMetadata

M = TemplateMetadata(True, True, ["Accuracy"], ["zh"])


def _bank(tmp_path, jinja: str):
    bank = tmp_path / "bank"
    (bank / "templates").mkdir(parents=True)
    (bank / "catalog.yaml").write_text((REPO / "prompt_bank/catalog.yaml").read_text(encoding="utf-8"))
    tpl = Template(name="t", jinja=jinja, answer_choices="蕴含 ||| 中立 ||| 矛盾", metadata=M)
    TemplateCollection("ocnli", [tpl], bank / "templates" / "ocnli.yaml").save()
    return bank


def _run(tmp_path, bank):
    return main(
        [
            "lmeval-task",
            "--task",
            "ocnli",
            "--bank-dir",
            str(bank),
            "--limit",
            "4",
            "--out",
            str(tmp_path / "out"),
        ]
    )


def test_rows_a_template_cannot_render_are_reported(synth_data, tmp_path, capsys):
    jinja = "{{sentence1}}{% for i in range(10**6) %}x{% endfor %} ||| {{answer_choices[label_id]}}"
    assert _run(tmp_path, _bank(tmp_path, jinja)) == 2
    err = capsys.readouterr().err
    assert "left out 4 validation row(s) the template cannot render; first, validation/0: template 't'" in err
    assert "over the limit of 10,000 (RENDER_MAX_RANGE)" in err


def test_a_clean_template_leaves_nothing_out(synth_data, tmp_path, capsys):
    assert (
        _run(tmp_path, _bank(tmp_path, "{{sentence1}}？{{sentence2}} ||| {{answer_choices[label_id]}}")) == 0
    )
    assert "left out" not in capsys.readouterr().err
