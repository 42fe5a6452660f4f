#!/usr/bin/env bash
set -euo pipefail
"${PYTHON:-python3}" - <<'PY'
import pathlib
p = pathlib.Path("wc.py")
s = p.read_text()
s = s.replace('    parser.add_argument("file")\n',
              '    parser.add_argument("file")\n    parser.add_argument("--lines", action="store_true")\n')
s = s.replace("        print(len(f.read().split()))",
              "        text = f.read()\n    print(len(text.splitlines()) if args.lines else len(text.split()))")
p.write_text(s)
PY
