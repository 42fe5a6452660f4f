#!/usr/bin/env bash
set -euo pipefail
echo 8088 > answer.txt
