"""`python -m action`: the GitHub Actions step (action.yml runs it); see action/run.py."""

from __future__ import annotations

from action.run import main

if __name__ == "__main__":
    raise SystemExit(main())
