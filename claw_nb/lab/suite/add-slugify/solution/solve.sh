#!/usr/bin/env bash
set -euo pipefail
cat >> text_utils.py <<'PY'

import re


def slugify(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
PY
