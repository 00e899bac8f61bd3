"""STAND-IN for the speaker, for the lab's own infrastructure self-tests only.

Announces the anycast prefix from the speaker YAML unconditionally (no health
checks), drains ExaBGP's stdin and exits on EOF. The real end-to-end tests run
`python3 -m speaker`; this exists so the lab can be tested without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    text = Path(args.config).read_text(encoding="utf-8")
    body = text[text.index("{"):]  # the lab renders the YAML as JSON after a comment line
    doc = json.loads(body)
    for service in doc["services"]:
        for prefix in service["prefixes"]:
            sys.stdout.write(f"announce route {prefix} next-hop self\n")
    sys.stdout.flush()
    for _line in sys.stdin:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
