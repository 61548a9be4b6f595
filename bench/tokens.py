"""Prompt tokens per context strategy: aqm 1.3.2's own token benchmark against our engine, same inputs.

aqm's README claims, for a 10-agent linear pipeline (context_window 3, tokens ≈ chars / 4):
both 12,233, last_only 5,504, none 1,873. Its script, `tests/bench_token_efficiency.py`, is not
in the 1.3.2 sdist (whose include list is aqm/, schema/, docs/ and three files) but in the
repository's history: it is fetched at run time from GitHub at a pinned commit into
bench/.work/aqm-bench/ (git-ignored; nothing of aqm's code is committed here), or taken from
`--aqm-script PATH`. Then:

- aqm's numbers: its own `run_benchmark(10, strategy, 3)` (its mock runtime records every
  rendered prompt), run in the aqm 1.3.2 venv of bench/validate.py, for the five strategies.
- ours: the same pipeline (its `create_pipeline_yaml`, loaded with our strict loader), our pure
  engine (`decide`) answering each stage with the same output (its `_get_realistic_output`),
  each prompt rendered by `render_prompt`, counted by its `token_count`. These four names are
  taken out of the fetched file with `ast` (its top-level imports need aqm, so it is not imported).

Without the script (offline, no --aqm-script), both tools get this file's own inputs instead (ten
roles, outputs of 0.7–1.2 KB, the same template shape), aqm through a mock runtime of ours in its
venv; the totals then differ from the README's but the comparison is like for like.

    .venv/bin/python bench/tokens.py [--aqm-script PATH]

Goal: ours ≤ aqm for every strategy. A report: exit 0 whether it is met or not, 1 if a run fails.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from validate import RunFailed, reference_tool, table  # noqa: E402

from app.engine.commands import RunStage, SaveStage  # noqa: E402
from app.engine.decide import decide  # noqa: E402
from app.engine.events import Event, StageFinished, TaskStarted  # noqa: E402
from app.engine.prompts import render_prompt  # noqa: E402
from app.engine.spec import RunSpec  # noqa: E402
from app.engine.state import TaskState  # noqa: E402
from app.spec.loader import load_pipeline  # noqa: E402
from app.spec.models import ProjectConfig  # noqa: E402
from app.spec.source import MappingReader  # noqa: E402

AQM_REPOSITORY = "aqm-framework/aqm"
AQM_COMMIT = "dc425bf56f200e5b88aa6dc6a10488d8f44ba208"  # a commit that has the benchmark script
AQM_SCRIPT = "tests/bench_token_efficiency.py"
AQM_URL = f"https://raw.githubusercontent.com/{AQM_REPOSITORY}/{AQM_COMMIT}/{AQM_SCRIPT}"
CACHE = REPO / "bench" / ".work" / "aqm-bench" / "bench_token_efficiency.py"
TAKEN = ("token_count", "REALISTIC_OUTPUTS", "_get_realistic_output", "create_pipeline_yaml")

AGENTS = 10
WINDOW = 3
STRATEGIES = ("both", "shared", "last_only", "own", "none")
README = {"both": 12233, "last_only": 5504, "none": 1873}  # aqm 1.3.2's README, 10 agents
NOTES = {
    "both": "ours: the last 3 outputs once each, a line per older stage; aqm: input + output per stage",
    "shared": "= both (each agent runs once: no own notes to add)",
    "last_only": "ours: exactly the previous output; aqm: the previous stage's input + output",
    "own": "= none: an agent's own notes are empty on its first visit",
    "none": "the same text: the template with the input",
}


@dataclass(frozen=True, slots=True)
class Inputs:
    """What both tools are given: the pipeline per strategy, the answers, the task, the counter."""

    source: str
    from_aqm: bool
    description: str
    pipeline: Callable[[int, str, int], dict[str, Any]]  # (agents, strategy, window) -> agents.yaml
    output: Callable[[str, int], str]  # (agent id, stage) -> the agent's answer
    token_count: Callable[[str], int]


@dataclass(frozen=True, slots=True)
class Counted:
    status: str
    tokens: list[int]  # per prompt, in stage order

    @property
    def total(self) -> int:
        return sum(self.tokens)


# ---- aqm's benchmark script ----------------------------------------------------------------


def aqm_script(explicit: Path | None) -> Path | None:
    """The script: --aqm-script, else the cached copy, else fetched from GitHub; None if offline."""
    if explicit is not None:
        return explicit
    if CACHE.is_file():
        return CACHE
    try:
        with urllib.request.urlopen(AQM_URL, timeout=30) as response:
            text = response.read().decode("utf-8")
    except OSError as exc:
        print(f"could not fetch {AQM_URL}: {exc}", file=sys.stderr)
        return None
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(text, encoding="utf-8")
    return CACHE


def inputs_from_script(path: Path) -> Inputs:
    """token_count, REALISTIC_OUTPUTS, _get_realistic_output and create_pipeline_yaml of aqm's
    script, executed alone (its top-level imports need aqm), and the task text its run uses."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    body = [node for node in tree.body if _defines(node) & set(TAKEN)]
    missing = set(TAKEN) - {name for node in body for name in _defines(node)}
    if missing:
        raise RunFailed(f"{path} does not define {sorted(missing)}")
    namespace: dict[str, Any] = {"textwrap": textwrap}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return Inputs(
        source=f"aqm's {AQM_SCRIPT} ({AQM_REPOSITORY}@{AQM_COMMIT[:10]}, {path})",
        from_aqm=True,
        description=_task_description(tree),
        pipeline=namespace["create_pipeline_yaml"],
        output=namespace["_get_realistic_output"],
        token_count=namespace["token_count"],
    )


def _defines(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _task_description(tree: ast.Module) -> str:
    """The `Task(description="…")` that the script's run_benchmark creates."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Task":
            for keyword in node.keywords:
                if keyword.arg == "description" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    raise RunFailed("no Task(description=...) in aqm's script")


# ---- this file's own inputs (offline) ------------------------------------------------------

OWN_ROLES = (
    "scout",
    "designer",
    "builder",
    "tester",
    "critic",
    "shipper",
    "watcher",
    "tuner",
    "writer",
    "closer",
)
OWN_TASK = "Add an export to CSV button to the reports page, with tests and documentation."


def own_pipeline(agents: int, strategy: str, window: int) -> dict[str, Any]:
    ids = [OWN_ROLES[i % len(OWN_ROLES)] + (f"_{i}" if i >= len(OWN_ROLES) else "") for i in range(agents)]
    pipeline = []
    for index, agent_id in enumerate(ids):
        agent: dict[str, Any] = {
            "id": agent_id,
            "runtime": "claude",
            "context_strategy": strategy,
            "context_window": window,
            "system_prompt": f"Role: {agent_id}.\nTask: {{{{ input }}}}\n\nEarlier work:\n{{{{ context }}}}",
        }
        if index + 1 < len(ids):
            agent["handoffs"] = [{"to": ids[index + 1]}]
        pipeline.append(agent)
    return {"agents": pipeline}


def own_output(agent_id: str, stage: int) -> str:
    """A plausible report of 0.7–1.2 KB: a heading, findings, a verdict."""
    lines = [f"## {agent_id.title()} report (stage {stage})", "", "Findings:"]
    for item in range(1, 8 + stage % 5):
        lines.append(
            f"- item {item}: the {agent_id} checked part {item} of the change against the plan; "
            "it holds, with one note."
        )
    lines += ["", f"Verdict: ready for the next step after {agent_id}."]
    return "\n".join(lines) + "\n"


def own_token_count(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


OWN_INPUTS = Inputs(
    source="this file's own inputs (aqm's script unavailable)",
    from_aqm=False,
    description=OWN_TASK,
    pipeline=own_pipeline,
    output=own_output,
    token_count=own_token_count,
)


# ---- aqm 1.3.2 -------------------------------------------------------------------------------

AQM_DRIVER = r"""
import importlib.util, json, sys, tempfile
from pathlib import Path

request = json.load(sys.stdin)
result = {}
if request["script"]:
    spec = importlib.util.spec_from_file_location("aqm_token_benchmark", request["script"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for strategy in request["strategies"]:
        run = module.run_benchmark(request["agents"], strategy, context_window=request["window"])
        result[strategy] = {"status": run["status"], "tokens": run["per_agent_tokens"]}
else:
    import yaml
    from aqm.core.agent import load_agents
    from aqm.core.pipeline import Pipeline
    from aqm.core.project import init_project
    from aqm.core.task import Task
    from aqm.queue.file import FileQueue

    class Runtime:
        name = "mock"

        def __init__(self, outputs):
            self.outputs, self.prompts = outputs, []

        def run(self, prompt, agent, task, on_output=None, on_thinking=None, on_tool=None):
            self.prompts.append(prompt)
            return self.outputs[agent.id]

    for strategy, config in request["pipelines"].items():
        with tempfile.TemporaryDirectory() as temp:
            root = init_project(Path(temp))
            path = root / ".aqm" / "agents.yaml"
            path.write_text(yaml.safe_dump(config), encoding="utf-8")
            agents = load_agents(path)
            queue = FileQueue(root / ".aqm" / "queue")
            pipeline = Pipeline(agents, queue, root)
            runtime = Runtime(request["outputs"])
            pipeline._runtimes["claude"] = runtime
            task = Task(description=request["description"])
            first = next(iter(agents))
            queue.push(task, first)
            done = pipeline.run_task(task, first)
            result[strategy] = {"status": done.status.value, "prompts": runtime.prompts}
print(json.dumps(result))
"""


def run_aqm(inputs: Inputs, script: Path | None) -> dict[str, Counted]:
    """aqm's own benchmark when its script is there, else our mock runtime, in aqm's venv."""
    python = reference_tool().executable.parent / "python"
    request: dict[str, Any] = {
        "script": str(script) if script is not None else None,
        "strategies": list(STRATEGIES),
        "agents": AGENTS,
        "window": WINDOW,
    }
    if script is None:
        request["pipelines"] = {s: inputs.pipeline(AGENTS, s, WINDOW) for s in STRATEGIES}
        request["outputs"] = {
            agent["id"]: inputs.output(agent["id"], stage)
            for stage, agent in enumerate(request["pipelines"]["none"]["agents"], start=1)
        }
        request["description"] = inputs.description
    result = subprocess.run(
        [str(python), "-c", AQM_DRIVER],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        raise RunFailed(f"aqm's token benchmark exited {result.returncode}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    counted = {}
    for strategy, found in answer.items():
        tokens = found["tokens"] if "tokens" in found else [inputs.token_count(p) for p in found["prompts"]]
        counted[strategy] = Counted(found["status"], tokens)
    return counted


# ---- ours ------------------------------------------------------------------------------------


def run_ours(inputs: Inputs, strategy: str) -> tuple[Counted, list[str]]:
    """Our pure engine through the whole pipeline, each stage answered with the same output."""
    text = json.dumps(inputs.pipeline(AGENTS, strategy, WINDOW))  # JSON is YAML
    spec = RunSpec(load_pipeline(MappingReader({"agents.yaml": text}), "agents.yaml"), ProjectConfig())
    state = TaskState(task_id="T-000001", description=inputs.description)
    outputs: dict[int, str] = {}
    prompts: list[str] = []
    pending: list[Event] = [TaskStarted()]
    while pending:
        state, commands = decide(spec, state, pending.pop(0))
        for command in commands:
            if isinstance(command, SaveStage) and command.output_text is not None:
                outputs[command.stage] = command.output_text
            elif isinstance(command, RunStage):
                prompts.append(render_prompt(command.prompt, outputs))
                pending.append(StageFinished(command.stage, inputs.output(command.agent_id, len(prompts))))
    return Counted(state.status.value, [inputs.token_count(p) for p in prompts]), prompts


# ---- the report ------------------------------------------------------------------------------


def verdict(theirs: int, mine: int) -> str:
    """PASS or MISS, saying why ours is smaller: not the same context in fewer tokens, but other
    content (the note of each row says which), so the figure is no like-for-like saving."""
    if mine > theirs:
        return "MISS"
    if mine == theirs:
        return "PASS (the same text)"
    return (
        "PASS: different context content (each stage's repeated input dropped), not fewer tokens for the same"
    )


def report(aqm: dict[str, Counted], ours: dict[str, Counted], inputs: Inputs) -> str:
    rows, details = [], []
    base_aqm, base_ours = aqm["both"].total, ours["both"].total
    for strategy in STRATEGIES:
        theirs, mine = aqm[strategy], ours[strategy]
        ratio = mine.total / theirs.total
        rows.append(
            [
                strategy,
                f"{theirs.total:,}",
                f"{mine.total:,}",
                f"{ratio:.2f}",
                verdict(theirs.total, mine.total),
                NOTES[strategy],
            ]
        )
        details.append(
            [
                strategy,
                f"{max(theirs.tokens):,} / {max(mine.tokens):,}",
                f"{theirs.total // len(theirs.tokens):,} / {mine.total // len(mine.tokens):,}",
                f"{1 - theirs.total / base_aqm:.1%} / {1 - mine.total / base_ours:.1%}",
                f"{theirs.status} / {mine.status}",
            ]
        )
    lines = [
        table(["strategy", "aqm total", "ours total", "ours/aqm", "ours ≤ aqm: verdict", "note"], rows),
        "",
        table(
            [
                "strategy",
                "max prompt aqm / ours",
                "avg/agent aqm / ours",
                "saving vs both aqm / ours",
                "status",
            ],
            details,
        ),
    ]
    if inputs.from_aqm:
        same = all(aqm[s].total == figure for s, figure in README.items())
        shown = ", ".join(f"{s} {figure:,}" for s, figure in README.items())
        lines += ["", f"aqm's README: {shown} — {'reproduced' if same else 'NOT reproduced'} by this run."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--aqm-script", type=Path, help=f"a copy of aqm's {AQM_SCRIPT}")
    args = parser.parse_args(argv)
    try:
        script = aqm_script(args.aqm_script)
        inputs = inputs_from_script(script) if script is not None else OWN_INPUTS
        aqm = run_aqm(inputs, script)
        ours = {strategy: run_ours(inputs, strategy)[0] for strategy in STRATEGIES}
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = [
        f"{tool} {s}: {c.status}" for tool, runs in (("aqm", aqm), ("ours", ours)) for s, c in runs.items()
    ]
    print(
        f"{AGENTS}-agent linear pipeline, context_window {WINDOW}; rendered prompts only, tokens = "
        f"token_count(prompt) summed over the stages; inputs: {inputs.source}"
    )
    print()
    print(report(aqm, ours, inputs))
    not_completed = [line for line in failed if not line.endswith("completed")]
    if not_completed:
        print(f"error: runs that did not complete: {not_completed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
