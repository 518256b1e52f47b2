"""`weprompt annotate`: its options reach the app, bad paths fail before a server starts."""

from __future__ import annotations

from weprompt.cli.main import build_parser, main


def test_annotate_is_a_verb_with_its_options(bank, tmp_path):
    from weprompt.annotation_ui.cli import annotate_env, streamlit_command

    args = build_parser().parse_args(
        [
            "annotate",
            "--bank-dir",
            str(bank),
            "--data-dir",
            str(tmp_path),
            "--port",
            "8765",
            "--tokenizer",
            "tok",
        ]
    )
    env = annotate_env(args)
    assert env["WEPROMPT_BANK_DIR"] == str(bank.resolve()) and env["WEPROMPT_DATA_DIR"] == str(tmp_path)
    assert env["WEPROMPT_TOKENIZER"].endswith("tok")
    cmd = streamlit_command(args.port)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765" and cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[cmd.index("run") + 1].endswith("annotation_ui/app.py")


def test_annotate_refuses_missing_dirs(tmp_path, capsys):
    assert main(["annotate", "--bank-dir", str(tmp_path / "nope")]) == 2
    assert "no catalog.yaml" in capsys.readouterr().err
    assert main(["annotate", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
