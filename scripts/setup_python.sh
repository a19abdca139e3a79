#!/usr/bin/env bash
# Install the pinned Python tooling for zenrt test-data generation.
# Idempotent: exits immediately when every pin in requirements.txt is already
# satisfied. Needs only python3 + pip. Override the interpreter with $PYTHON.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="$HERE/requirements.txt"
PY="${PYTHON:-python3}"

if "$PY" - "$REQ" <<'PYEOF'
import sys
from importlib import metadata

ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        have = metadata.version(name.strip())
    except metadata.PackageNotFoundError:
        print(f"missing: {name}")
        ok = False
        continue
    # ignore local version labels such as torch 2.x.y+cu132 / +cpu
    if want and have.split("+", 1)[0] != want.strip():
        print(f"version mismatch: {name} has {have}, want {want}")
        ok = False
sys.exit(0 if ok else 1)
PYEOF
then
    echo "python requirements already satisfied ($REQ)"
    exit 0
fi

echo "installing python requirements from $REQ ..."
"$PY" -m pip install -q -r "$REQ"
echo "done"
