"""Logging setup. Library code only calls `logging.getLogger(__name__)`; the CLI owns the handler.

Every first-party module lives under the `weprompt` import root, so one handler on the `weprompt`
logger shows the whole project's messages (and nothing of third-party libraries below WARNING).
Progress bars (tqdm, rich) are not log messages and stay as they are.
"""

from __future__ import annotations

import logging
import sys

ROOT_LOGGER = "weprompt"
_HANDLER_NAME = "weprompt-cli"


def setup_logging(level: int = logging.INFO) -> None:
    """One stderr handler on the project's root logger; calling it again changes the level and points
    the handler at the current `sys.stderr` (which a caller, or pytest, may have replaced since)."""
    logger = logging.getLogger(ROOT_LOGGER)
    logger.setLevel(level)
    for h in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(h)  # not setStream: it flushes the old stream, which may be closed by now
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(levelname).1s %(name)s: %(message)s"))
    logger.addHandler(handler)
