"""The Action's figures: time from `python -m action` starting to the run card on GitHub, and the
GitHub calls it takes to load and to save a paused task's state.

The GitHub simulator is served on a real loopback port (`sim.serve()`); each run opens a new issue,
writes an `issue_comment.created` event of `/aqm run` by a maintainer to a file, and starts
`python -m action` as the composite step does (the runner's variables, a fresh HOME, workspace and
temp folder; the project already installed, so installation is excluded), then polls the
simulator's state every millisecond for the bot's comment with the run-card marker. The pipeline is
command stages that pause at a human gate, so each run ends by saving the task's state. The first
run is reported on its own (cold: the page cache holds no module yet); then `--runs` timed runs.
Finally one `/approve` run on the last issue resumes the paused task, and the simulator's call log
gives the Git Data API calls that loaded and saved its state.

    .venv/bin/python bench/action.py [--runs 5]

Goals (the Action issue): the first run card within 2 s; at most 3 calls to load a paused task.
Exit status: 0 whether the goals are met or not (this is a report); 1 when a run fails or posts no
card within 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.playground.simulator import GitHubSimulator
from app.playground.simulator.auth import mint_installation_token

ROOT = Path(__file__).resolve().parents[1]

REPO = "octo/demo"
CARD_MARKER = "<!-- aqm:run-card"
GOAL_CARD_S = 2.0
GOAL_LOAD_CALLS = 3
PIPELINE = """\
agents:
  - id: writer
    runtime: command
    command: ["sh", "-c", "echo 'def greet(name):' > greet.py; echo wrote greet.py"]
    handoffs: [{to: review}]
  - id: review
    runtime: command
    command: ["echo", "ready for review"]
    gate: {type: human}
    handoffs: [{to: done, condition: on_approve}]
  - id: done
    runtime: command
    command: ["echo", "shipped"]
"""


def runner_env(
    base: Path, url: str, token: str, event_name: str, payload: dict[str, object]
) -> dict[str, str]:
    """The variables a workflow step sees, in fresh folders under `base`."""
    for folder in ("workspace", "home", "temp"):
        (base / folder).mkdir(parents=True)
    payload.pop("installation", None)
    (base / "event.json").write_text(json.dumps(payload))
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(base / "home"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_PATH": str(base / "event.json"),
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": url.rstrip("/"),
        "GITHUB_WORKSPACE": str(base / "workspace"),
        "GITHUB_RUN_ID": base.name,
        "RUNNER_TEMP": str(base / "temp"),
        "GITHUB_OUTPUT": str(base / "output"),
        "AQM_GITHUB_TOKEN": token,
    }


def has_card(sim: GitHubSimulator, number: int) -> bool:
    return any(c.issue_number == number and CARD_MARKER in c.body for c in list(sim.world.comments.values()))


def run_once(sim: GitHubSimulator, url: str, token: str, base: Path, body: str, number: int) -> float:
    """Seconds from starting `python -m action` to the run card on the thread; waits for its end."""
    delivery = asyncio.run(sim.deliverer().comment_created(REPO, number, "maintainer", body))
    env = runner_env(base, url, token, delivery.event, json.loads(delivery.body))
    had_card = has_card(sim, number)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "action"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    card_s: float | None = None
    while process.poll() is None:
        if card_s is None and not had_card and has_card(sim, number):
            card_s = time.perf_counter() - started
        if time.perf_counter() - started > 60:
            process.kill()
            raise SystemExit(f"run {base.name}: no end within 60 s")
        time.sleep(0.001)
    _, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"run {base.name} exited {process.returncode}:\n{err.decode()[-2000:]}")
    if card_s is None and not had_card:
        raise SystemExit(f"run {base.name}: no run card")
    return card_s or 0.0


def state_calls(sim: GitHubSimulator, since: int) -> tuple[int, int]:
    """Git Data API calls since log entry `since`: (loading: GETs, saving: writes)."""
    calls = [
        c for c in sim.traffic.log[since:] if "/git/" in c.route and "/git/trees/{tree_sha}" not in c.route
    ]
    state = [c for c in calls if "refs/heads" not in c.path]
    return sum(c.method == "GET" for c in state), sum(c.method != "GET" for c in state)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aqm-bench-action-") as temp:
        sim = GitHubSimulator(Path(temp) / "sim")
        seeded = sim.seed_standard(files={"README.md": "# demo\n", ".aqm/agents.yaml": PIPELINE})
        token = mint_installation_token(sim.world, seeded.installation, lifetime_s=86_400).value
        with sim.serve() as url:
            times = []
            number = 0
            for run in range(args.runs + 1):
                number = sim.open_issue(REPO, f"Add greet() {run}", "", user="maintainer").number
                times.append(run_once(sim, url, token, Path(temp) / f"run-{run}", "/aqm run", number))
            since = len(sim.traffic.log)
            run_once(sim, url, token, Path(temp) / "resume", "/approve", number)
            loads, saves = state_calls(sim, since)
    cold, timed = times[0], times[1:]
    median, worst = statistics.median(timed), max(timed)
    print("aqm Action: python -m action start → run card on the thread (installation excluded)")
    print(f"{'run':<22}{'seconds':>10}")
    print(f"{'cold (first)':<22}{cold:>10.3f}")
    print(f"{'median of ' + str(len(timed)):<22}{median:>10.3f}")
    print(f"{'slowest':<22}{worst:>10.3f}")
    print(
        f"goal {GOAL_CARD_S:g} s: median/goal = {median / GOAL_CARD_S:.2f}, "
        f"slowest/goal = {worst / GOAL_CARD_S:.2f}"
    )
    print()
    print("state of a paused task (refs/aqm/threads/<n>), GitHub calls in the resuming /approve run")
    print(
        f"{'load (ref, commit, blob)':<28}{loads:>4}   goal ≤ {GOAL_LOAD_CALLS}: "
        f"{'met' if loads <= GOAL_LOAD_CALLS else 'missed'}"
    )
    print(f"{'save (blob, tree, commit, ref)':<28}{saves:>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
