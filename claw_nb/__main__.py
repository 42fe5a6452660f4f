"""`python -m claw_nb`: the command-line interface."""

from claw_nb import import_guard

import_guard.install()  # before anything else: the working directory is sys.path[0] here

from claw_nb.cli import run  # noqa: E402

run()
