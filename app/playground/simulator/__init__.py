"""The GitHub simulator: one stateful stand-in for GitHub shared by the main command and every test.

    sim = GitHubSimulator(tmp_path / "github")          # state + FastAPI app (`sim.app`)
    seeded = sim.seed_standard()                        # App `aqm`, installation, repo octo/demo
    gh = sim.github()                                   # githubkit client (installation auth), in process
    hooks = sim.deliverer("http://aqm.test/webhook", transport=httpx.ASGITransport(app=aqm_app))
    await hooks.comment_created("octo/demo", 1, "maintainer", "/aqm run")
    sim.traffic.fail_next(2, status=502)                # faults; sim.traffic.count("issues.create_comment")
    print(sim.thread("octo/demo", 1))

Modules: `state` (dataclasses), `git` (real bare repositories), `core`/`checks`/`apps` (operations
with GitHub's validation), `render*` (REST shapes from GitHub's examples), `routes/` (the REST API),
`traffic` (counts, log, faults, rate-limit headers), `templates`/`payloads`/`deliverer` (webhooks),
`thread` (the human view), `simulator` (the façade).
"""

from app.playground.simulator.apps import AppKey, generate_app_key
from app.playground.simulator.core import ApiEvent
from app.playground.simulator.deliverer import Deliverer, Delivery
from app.playground.simulator.git import Symlink
from app.playground.simulator.simulator import DEMO_AGENTS_YAML, GitHubSimulator, Seeded
from app.playground.simulator.traffic import Fault, LoggedCall, Traffic

__all__ = [
    "DEMO_AGENTS_YAML",
    "ApiEvent",
    "AppKey",
    "Deliverer",
    "Delivery",
    "Fault",
    "GitHubSimulator",
    "LoggedCall",
    "Seeded",
    "Symlink",
    "Traffic",
    "generate_app_key",
]
