"""Where JupyterLab finds claw's lab extension, and how an editable install gets it there.

`pip install claw_nb` puts `labextension/` into `<prefix>/share/jupyter/labextensions/claw-nb`
(pyproject's data-files), and JupyterLab (or Notebook 7) loads it after a page reload. An
editable install (`pip install -e .`) skips data files: `python -m claw_nb.jupyter.lab_extension`
links the directory there instead. The extension must be where the *server* runs: with
JupyterLab in another environment than the kernel, run this (or install claw_nb) there.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

NAME = "claw-nb"


def source_dir() -> Path:
    """The extension's files in this package."""
    return Path(str(resources.files("claw_nb.jupyter").joinpath("labextension")))


def target_dir(prefix: str | None = None) -> Path:
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "labextensions" / NAME


def link(prefix: str | None = None) -> Path:
    """Link the extension into `prefix`'s labextensions directory (replacing a link or an
    older copy of it, nothing else)."""
    target = target_dir(prefix)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    elif target.exists():
        if not (target / "package.json").is_file() or NAME not in (
            target / "package.json"
        ).read_text(encoding="utf-8"):
            raise FileExistsError(f"{target} exists and is not claw's extension; remove it first")
        import shutil

        shutil.rmtree(target)
    os.symlink(source_dir(), target, target_is_directory=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claw_nb.jupyter.lab_extension",
        description="Link claw's JupyterLab extension into an environment (for editable "
        "installs; a normal install puts it there already). Reload JupyterLab afterwards.",
    )
    parser.add_argument("--prefix", help="the environment's prefix (default: this Python's)")
    args = parser.parse_args(argv)
    try:
        target = link(args.prefix)
    except OSError as exc:
        print(f"claw-nb: cannot link the lab extension: {exc}", file=sys.stderr)
        return 1
    print(f"linked {target} -> {source_dir()}; reload JupyterLab to load it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
