#!/usr/bin/env bash
set -euo pipefail
grep -rl TODO src | sort > todo.txt
