#!/usr/bin/env bash
set -euo pipefail
echo 'TAX_RATE = 0.2' >> settings.py
sed -i '1i from settings import TAX_RATE\n' shop.py refunds.py
sed -i 's/(1 + 0.2)/(1 + TAX_RATE)/' shop.py refunds.py
