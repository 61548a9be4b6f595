"""`make demo`: the main job on embedded defaults.

At this stage of the project: validate every curated pipeline under `pipelines/` and the
demo project's pipeline, and print each one's agent graph. Later issues grow this into the
offline playground (app + GitHub simulator + a demo repository).
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.errors import SpecErrors
from app.project import reader_for_file
from app.spec.graph import render_text
from app.spec.loader import load_pipeline

REPO = Path(__file__).resolve().parents[2]


def curated_files(root: Path) -> list[Path]:
    return sorted((root / "pipelines").glob("*/*/agents.yaml"))


def main() -> int:
    files = curated_files(REPO)
    if not files:
        print(f"no pipelines found under {REPO / 'pipelines'}", file=sys.stderr)
        return 1
    failed = 0
    for file in files:
        reader, path = reader_for_file(file)
        name = f"{file.parent.parent.name}@{file.parent.name}"
        try:
            pipeline = load_pipeline(reader, path, name=name)
        except SpecErrors as exc:
            failed += 1
            print(f"INVALID {file.relative_to(REPO)}\n{exc}\n", file=sys.stderr)
            continue
        print(f"valid   {file.relative_to(REPO)}")
        print(render_text(pipeline) + "\n")
    print(f"{len(files) - failed} of {len(files)} pipelines valid")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
