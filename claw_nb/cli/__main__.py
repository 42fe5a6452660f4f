from claw_nb.cli import run

run()
