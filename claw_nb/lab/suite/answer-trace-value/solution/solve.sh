#!/usr/bin/env bash
set -euo pipefail
"${PYTHON:-python3}" -c 'import puzzle; print(puzzle.compute(7))' > answer.txt
