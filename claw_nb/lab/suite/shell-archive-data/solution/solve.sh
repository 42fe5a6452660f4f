#!/usr/bin/env bash
set -euo pipefail
tar czf backup.tar.gz data
tar tzf backup.tar.gz | grep -v '/$' | wc -l | tr -d ' ' > count.txt
