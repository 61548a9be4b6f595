"""`make demo`: the main job on embedded defaults (SQLite, in-process, no LLM CLI needed).

1. validate every curated pipeline under `pipelines/` and the demo's own pipeline;
2. choose the runtime of the demo's LLM agents: an authenticated claude, gemini or codex CLI
   when one is found, else `local` (a small model on this machine, no network) — the
   playground's choice alone (DESIGN.md): `aqm run` never swaps a pipeline's runtimes;
3. create a demo project in a fresh folder and run the demo pipeline with the real `aqm`
   command: a plan (LLM), a fan-out (code by a script, docs by the LLM, in parallel), a test
   stage whose exit code sends a buggy first attempt back for a fix, an LLM review with an llm
   gate, and a maintainer's human gate that every route reaches, whatever the model wrote;
4. approve the gate as a maintainer would, show the finished task and what the model wrote.

Later issues grow this into the offline playground (the GitHub App and its simulator).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from app.errors import SpecErrors
from app.project import reader_for_file
from app.runtimes.registry import cli_available, get_runtime
from app.spec.graph import render_text
from app.spec.loader import load_pipeline

REPO = Path(__file__).resolve().parents[2]
DEMO = Path(__file__).resolve().parent / "demo"
AQM = str(Path(sys.executable).parent / "aqm")
TASK = "Add a greet(name) function with docs"
LLM_CLIS = ("claude", "gemini", "codex")
LLM_AGENTS = ("planner", "docs", "reviewer")  # the demo agents on `${{ params.runtime }}`


def curated_files(root: Path) -> list[Path]:
    return sorted((root / "pipelines").glob("*/*/agents.yaml"))


def validate_all() -> bool:
    ok = True
    for file in [*curated_files(REPO), DEMO / "agents.yaml"]:
        reader, path = reader_for_file(file)
        try:
            pipeline = load_pipeline(reader, path, name=file.parent.name)
        except SpecErrors as exc:
            ok = False
            print(f"INVALID {file}\n{exc}\n", file=sys.stderr)
            continue
        print(f"valid   {_shown(file)} ({len(pipeline.agents)} agents)")
    return ok


def choose_runtime() -> str | None:
    """The demo's LLM runtime: an authenticated CLI when one is found, else the local model."""
    for name in LLM_CLIS:
        if cli_available(name):
            return name
    return "local" if cli_available("local") else None


def describe(runtime: str) -> str:
    if runtime != "local":
        return f"{runtime} (an authenticated {runtime} CLI was found)"
    model = Path(get_runtime("local").default_model() or "?").name
    return f"local: {model}, a small model on this machine (no authenticated claude, gemini or codex CLI)"


def make_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="aqm-demo-"))
    (root / ".aqm" / "pipelines").mkdir(parents=True)
    shutil.copy(DEMO / "agents.yaml", root / ".aqm" / "pipelines" / "default.yaml")
    shutil.copytree(DEMO / "agents", root / "agents")
    return root


def aqm(project: Path, *args: str) -> str:
    words = [a for a in args if not a.startswith("python=")]
    if words and words[-1] == "--param":
        words.pop()  # the demo's own interpreter: not something a user types
    shown = " ".join(a if " " not in a else repr(a) for a in words)
    print(f"\n$ aqm {shown}", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AQM_")}
    result = subprocess.run([AQM, *args], cwd=project, capture_output=True, text=True, check=False, env=env)
    print(result.stdout.rstrip())
    if result.stderr.strip():
        print(result.stderr.rstrip(), file=sys.stderr)
    return result.stdout


def main() -> int:
    print("== 1. Validate the curated pipelines and the demo pipeline")
    if not validate_all():
        return 1
    runtime = choose_runtime()
    if runtime is None:
        print("no LLM runtime here: run `make` to install the local model (runtime: local)", file=sys.stderr)
        return 1
    print(f"\n== 2. The demo's LLM agents run on {describe(runtime)}")
    project = make_project()
    reader, path = reader_for_file(project / ".aqm" / "pipelines" / "default.yaml")
    print(f"\n== 3. Run the demo pipeline in {project}\n")
    print(render_text(load_pipeline(reader, path, name="default", overrides={"runtime": runtime})))
    output = aqm(project, "run", TASK, "--param", f"runtime={runtime}", "--param", f"python={sys.executable}")
    match = re.search(r"Task (T-[0-9A-F]+)", output)
    if match is None or "awaiting_gate" not in output:
        print("the demo did not reach its human gate", file=sys.stderr)
        return 1
    task = match.group(1)
    print("\n== 4. A maintainer approves the gate")
    finished = aqm(project, "approve", task, "-r", "Looks good to me")
    aqm(project, "status", task)
    print(f"\n== What the model ({runtime}) wrote")
    for agent in LLM_AGENTS:
        aqm(project, "context", task, "--agent", agent)
    files = sorted(p.name for p in project.iterdir() if p.is_file())
    print(f"\nFiles the agents wrote in {project}: {', '.join(files)}")
    if "Status: completed" not in finished:
        return 1
    print("\n== 5. The same flow on GitHub: the App and the GitHub simulator, offline\n")
    from app.playground import github_demo

    return github_demo.main()


def _shown(file: Path) -> str:
    try:
        return str(file.relative_to(REPO))
    except ValueError:
        return str(file)


if __name__ == "__main__":
    raise SystemExit(main())
