#!/usr/bin/env bash
set -euo pipefail
echo sync > answer.txt
