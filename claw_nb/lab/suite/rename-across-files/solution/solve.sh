#!/usr/bin/env bash
set -euo pipefail
sed -i 's/calc_total/compute_total/g' billing.py invoice.py report.py
