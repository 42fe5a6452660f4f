#!/usr/bin/env bash
set -euo pipefail
cd notes && for f in *.txt; do mv "$f" "${f%.txt}.md"; done
