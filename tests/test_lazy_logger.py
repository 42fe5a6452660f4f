"""`claw_nb.lazy_logger`: no `logging` import until a message can go out, and then the same
records the standard logger makes."""

from __future__ import annotations

import logging
import subprocess
import sys

from claw_nb.lazy_logger import get_logger


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_an_unconfigured_process_drops_debug_without_importing_logging_and_shows_warnings():
    out = run(
        "import sys\n"
        "from claw_nb.lazy_logger import get_logger\n"
        "log = get_logger('claw_nb.test')\n"
        "log.debug('quiet %s', 1); log.info('quiet too')\n"
        "assert not log.isEnabledFor(10)\n"
        "print('logging' in sys.modules)\n"
        "log.warning('shown %s', 2)\n"
        "print('logging' in sys.modules)\n"
    )
    assert out.stdout.split() == ["False", "True"]
    assert out.stderr.strip() == "shown 2"  # logging's last-resort handler, as before


def test_the_run_path_imports_no_logging():
    out = run(
        "import sys\n"
        "import claw_nb.cli, claw_nb.api, claw_nb.sandbox, claw_nb.log.event_log, claw_nb.agent\n"
        "print(sorted(m for m in ('logging', 'traceback', 'textwrap') if m in sys.modules))\n"
    )
    assert out.stdout.strip() == "[]"


def test_once_logging_is_loaded_records_name_the_caller(caplog):
    log = get_logger("claw_nb.test_lazy")
    with caplog.at_level(logging.DEBUG, logger="claw_nb.test_lazy"):
        log.debug("seen %s", "here")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
        assert log.isEnabledFor(logging.DEBUG) and log.name == "claw_nb.test_lazy"
        assert log.getEffectiveLevel() == logging.DEBUG  # anything else: the real logger's
    first, second = caplog.records
    assert first.getMessage() == "seen here" and first.levelno == logging.DEBUG
    assert first.funcName == "test_once_logging_is_loaded_records_name_the_caller"
    assert first.pathname == __file__
    assert second.exc_info is not None and second.levelno == logging.ERROR


def test_attributes_set_on_it_are_the_real_loggers():
    log = get_logger("claw_nb.test_lazy_attrs")
    log.propagate = False
    assert logging.getLogger("claw_nb.test_lazy_attrs").propagate is False
    log.propagate = True
