"""The GitHub part of the main command: the App and the GitHub simulator, in one process.

A maintainer comments `/aqm run` on an issue of a demo repository; the app acknowledges the
delivery, runs the pipeline, keeps its run card up to date, comments each stage, pushes the
agents' commit as a pull request and waits at the human gate; an outsider's `/approve` is
refused; the maintainer's `/approve` finishes the task. The thread is printed as a user reads it.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx

from app.playground.simulator import GitHubSimulator
from app.queue import InProcessQueue
from app.server.app import create_app
from app.settings import Settings

SECRET = "playground-webhook-secret"  # noqa: S105 - the offline demo's own, not a credential
PIPELINE = """\
# The demo repository's pipeline (its .aqm/agents.yaml on the default branch)
agents:
  - id: implementer
    runtime: command
    command:
      - sh
      - -c
      - "printf 'def greet(name):\\\\n    return f\\"Hello, {name}!\\"\\\\n' > greet.py; echo Wrote greet.py"
    handoffs: [{to: tests}]
  - id: tests
    runtime: command
    command: ["sh", "-c", "grep -q 'Hello, ' greet.py && echo '1 passed'"]
    gate: {type: human}
    handoffs: [{to: release, condition: on_approve}]
  - id: release
    runtime: command
    command: ["echo", "Released greet() after approval"]
"""


async def run(workdir: Path) -> bool:
    """Play the scenario; True when the task completed with its pull request."""
    sim = GitHubSimulator(workdir / "github")
    seeded = sim.seed_standard(files={"README.md": "# demo\n", ".aqm/agents.yaml": PIPELINE})
    settings = Settings(
        data_dir=workdir / "aqm-data",
        github_api_url=sim.base_url,
        github_app_id=str(seeded.app.id),
        github_private_key=seeded.key.private_pem,
        github_webhook_secret=SECRET,
        api_token="playground",  # noqa: S106
    )
    app = create_app(settings, github_transport=sim.transport())
    async with app.router.lifespan_context(app):
        queue = app.state.queue
        assert isinstance(queue, InProcessQueue)
        hooks = sim.deliverer(
            "http://aqm.local/webhook", transport=httpx.ASGITransport(app=app), secret=SECRET
        )
        issue = sim.open_issue(
            "octo/demo", "Add a greet(name) function", "Greet people by name.", user="maintainer"
        )
        for user, body in (
            ("maintainer", "/aqm run"),
            ("outsider", "/approve"),
            ("maintainer", "/approve LGTM"),
        ):
            print(f"  @{user} comments {body!r}")
            await hooks.comment_created("octo/demo", issue.number, user, body)
            await queue.join()
        thread = sim.thread("octo/demo", issue.number)
    print()
    print(thread)
    return "Completed" in thread and "aqm/T-" in thread


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="aqm-github-demo-") as folder:
        return 0 if asyncio.run(run(Path(folder))) else 1
