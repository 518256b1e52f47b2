"""The CLI owns the log handler: one handler on the project's root logger, however often it is set up."""

from __future__ import annotations

import logging

from weprompt.common.logs import ROOT_LOGGER, setup_logging


def test_setup_is_idempotent_and_covers_every_layer(capsys, monkeypatch):
    logger = logging.getLogger(ROOT_LOGGER)
    monkeypatch.setattr(logger, "handlers", [])  # an earlier in-process `weprompt` call may have set one up
    before: list[logging.Handler] = []
    try:
        setup_logging(logging.INFO)
        setup_logging(logging.DEBUG)
        added = [h for h in logger.handlers if h not in before]
        assert len(added) == 1 and logger.level == logging.DEBUG
        logging.getLogger("weprompt.pretrain.engine.trainer").debug("from the engine")
        logging.getLogger("weprompt.eval.runner").info("from the evaluator")
        err = capsys.readouterr().err
        assert "D weprompt.pretrain.engine.trainer: from the engine" in err
        assert "I weprompt.eval.runner: from the evaluator" in err
    finally:
        for h in logger.handlers[:]:
            if h not in before:
                logger.removeHandler(h)
        logger.setLevel(logging.NOTSET)


def test_a_second_setup_writes_to_the_current_stderr(monkeypatch):
    import io

    logger = logging.getLogger(ROOT_LOGGER)
    monkeypatch.setattr(logger, "handlers", [])
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr("sys.stderr", first)
        setup_logging(logging.INFO)
        monkeypatch.setattr("sys.stderr", second)  # e.g. a later in-process `weprompt` call under pytest
        setup_logging(logging.INFO)
        logging.getLogger("weprompt.x").info("hello")
        assert "hello" in second.getvalue() and "hello" not in first.getvalue()
    finally:
        logger.setLevel(logging.NOTSET)
