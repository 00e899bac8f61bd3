#!/bin/bash
# The test command: installs what the tests need (tests/bootstrap.sh), then runs
# lint, types and every test: unit, fuzz, the namespace lab with real FRR, BIND
# and ExaBGP (4.2 from Debian and 5.0 from PyPI), and the Debian package.
# Needs root (namespaces, packages). Extra arguments go to pytest, e.g.
#   tests/run.sh -m "not lab and not package and not fuzz"    # quick, no root needed
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash tests/bootstrap.sh
fi
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff" >&2
.venv-tools/bin/ruff check speaker tests
echo "== mypy" >&2
.venv-tools/bin/mypy speaker
echo "== lint-imports (the layers of ARCHITECTURE.md)" >&2
.venv-tools/bin/lint-imports
echo "== pytest" >&2
status=0
/usr/bin/python3 -m pytest -m "not bench" -p no:cacheprovider "$@" || status=$?
# A lab run that died half-way leaves nothing behind for the next one.
if [ "$(id -u)" = 0 ]; then
  /usr/bin/python3 -m tests.lab down >/dev/null 2>&1 || true
fi
exit "$status"
