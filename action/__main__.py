"""`python -m action`: the GitHub Actions step. Placeholder: a later issue hands the event to the engine."""

from __future__ import annotations

import sys


def main() -> int:
    print("aqm action: not available in this version (arrives with the GitHub Action issue)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
