"""Argument validation does not pay for format checks claw_nb never makes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_validation_imports_jsonschema_without_its_iri_parser_and_leaves_it_importable():
    code = (
        "import sys\n"
        "from claw_nb.toolcalls.schema import validate_arguments\n"
        "schema = {'type': 'object', 'properties': {'n': {'type': 'integer'}}}\n"
        "assert validate_arguments(schema, {'n': 'x'}) is not None\n"
        "assert 'jsonschema' in sys.modules and 'rfc3987_syntax' not in sys.modules\n"
        "try:\n"
        "    import rfc3987_syntax\n"
        "except ImportError:\n"
        "    pass  # not installed here: nothing to hide\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
