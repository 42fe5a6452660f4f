"""`python -m claw_nb`: the command-line interface."""

from claw_nb.cli import run

run()
