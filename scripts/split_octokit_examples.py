"""Split octokit's webhook examples (one JSON index) into tests/fixtures/octokit-webhooks/.

Usage: `npm pack @octokit/webhooks-examples@7.6.1 && tar xzf octokit-webhooks-examples-7.6.1.tgz`,
then `python scripts/split_octokit_examples.py package/api.github.com/index.json`. Each example
becomes `<event>.<action>.<n>.json` (`<event>.<n>.json` for events without an action), numbered
in the index's order, its JSON unchanged (re-indented).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "octokit-webhooks"


def split(index: Path, target: Path = TARGET) -> int:
    """Write every example of `index` under `target`; returns how many."""
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    for event in json.loads(index.read_text()):
        seen: dict[str, int] = {}
        for example in event["examples"]:
            stem = ".".join(filter(None, [event["name"], example.get("action")]))
            seen[stem] = seen.get(stem, 0) + 1
            path = target / f"{stem}.{seen[stem]}.json"
            path.write_text(json.dumps(example, indent=2, ensure_ascii=False) + "\n")
            written += 1
    return written


if __name__ == "__main__":
    print(split(Path(sys.argv[1])), "examples written")
