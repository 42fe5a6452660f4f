#!/usr/bin/env bash
set -euo pipefail
cat > ext_report.sh <<'SH'
#!/usr/bin/env bash
find "$1" -type f | while read -r f; do
  base=$(basename "$f")
  case "$base" in
    *.*) echo "${base##*.}" ;;
    *) echo none ;;
  esac
done | sort | uniq -c | awk '{print $2, $1}' | sort -k2,2nr -k1,1
SH
chmod +x ext_report.sh
