#!/usr/bin/env bash
set -euo pipefail
cat >> models.py <<'PY'

    def __post_init__(self):
        if not self.item:
            raise ValueError("item must not be empty")
        if not isinstance(self.quantity, int) or self.quantity <= 0:
            raise ValueError("quantity must be a positive int")
        if self.unit_price < 0:
            raise ValueError("unit_price must not be negative")

    @property
    def total(self):
        return self.quantity * self.unit_price
PY
