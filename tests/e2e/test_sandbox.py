"""Stages are sandboxed on the App: real `aqm worker` processes on Redis running hostile stages, a
worker SIGKILLed mid-stage, and the start-up refusal without bubblewrap (or its loud opt-out).

The workers are subprocesses (tests/e2e/test_worker_recovery.py's `Workers`) started with planted,
distinctive secrets in their environment: what a stage prints goes to the thread (simulator
comments) and the store, and neither may show any of them. A missing Redis or PostgreSQL skips on a
laptop and fails in CI, as does a missing bwrap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.playground.simulator import GitHubSimulator
from app.store.store import TaskStore
from tests.conftest import FakeClis, needs_bwrap
from tests.e2e.helpers import (
    SECRET,
    app_settings,
    deliverer,
    eventually,
    needs_postgres,
    needs_redis,
    redis_db,
    running,
    seed_pipeline,
    settle,
)
from tests.e2e.test_worker_recovery import ROOT, fresh_postgres_database, settings_for, workers_of
from tests.integration.runtimes.procs import pids_running, survivors

pytestmark = needs_bwrap
PLANTED = {  # the workers' own environment: every value distinctive, none may reach a stage
    "AQM_API_TOKEN": "planted-api-token-4d1c",
    "PGPASSWORD": "planted-pg-password-77aa",
    "GEMINI_API_KEY": "planted-gemini-key-0b9e",
    "CODEX_API_KEY": "planted-codex-key-c3f1",
}
CLAUDE_KEY = "sk-ant-planted-claude-key-5e02"  # the claude stage's own key: it alone may see it
HOSTILE = textwrap.dedent(
    """\
    for f in /proc/$PPID/environ /proc/1/environ /proc/*/environ {data}/aqm.db {data}/workspaces/T-OTHER/notes.txt \\
             ../T-OTHER/notes.txt {home}/.netrc /root/.bash_history "$HOME/.netrc"; do
      if cat "$f" >/dev/null 2>&1; then echo "FOUND $f: $(tr '\\0' ' ' < "$f")"; fi
    done
    ls -a .. {data} {home} /root 2>&1
    """
)
HOSTILE_PIPELINE = """\
agents:
  - id: snoop
    runtime: command
    command: ["sh", "-c", {script}]
    handoffs: [{{to: agent}}]
  - id: agent
    runtime: claude
    system_prompt: "Summarise: {{{{ input }}}}"
"""
HANGING_PIPELINE = """\
agents:
  - {id: wait, runtime: command, command: ["sh", "-c", "sleep 86391 & sleep 86390"]}
"""


def planted_secrets(private_pem: str) -> list[str]:
    """Every secret value the worker holds or can read, as it would appear in a stage's output."""
    key_lines = [line for line in private_pem.splitlines() if line and not line.startswith("-----")]
    return [SECRET, *PLANTED.values(), key_lines[0], key_lines[-1], "secret-of-the-home", "secret-of-T-OTHER"]


@needs_redis
async def test_a_hostile_pipeline_reads_no_secret_of_its_worker(
    tmp_path: Path, fake_clis: FakeClis, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, home = tmp_path / "aqm-data", tmp_path / "worker-home"
    (data / "workspaces" / "T-OTHER").mkdir(parents=True)
    (data / "workspaces" / "T-OTHER" / "notes.txt").write_text("secret-of-T-OTHER")
    home.mkdir()
    (home / ".netrc").write_text("machine github.com password secret-of-the-home")
    script = HOSTILE.format(data=data, home=home)
    fake_clis.script(default={"mode": "snoop"})
    for name, value in {"HOME": str(home), "ANTHROPIC_API_KEY": CLAUDE_KEY, **PLANTED}.items():
        monkeypatch.setenv(name, value)  # the workers' environment is ours
    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, HOSTILE_PIPELINE.format(script=json.dumps(script)))
    async with redis_db(11) as redis_url:
        with sim.serve() as base_url:
            settings = settings_for(tmp_path, seeded, base_url, redis_url, None)
            async with running(settings) as app:
                store = await TaskStore.connect(settings.effective_database_url)
                try:
                    with workers_of(settings, tmp_path / "logs") as workers:
                        workers.start()
                        issue = sim.open_issue("octo/demo", "Snoop", "", user="maintainer")
                        await deliverer(sim, app).comment_created(
                            "octo/demo", issue.number, "maintainer", "/aqm run"
                        )

                        async def ended() -> str | None:
                            tasks = await store.list_tasks()
                            done = [t for t in tasks if t.status in ("completed", "failed")]
                            return done[0].id if done else None

                        task_id = await eventually(ended, timeout_s=60, what="the task to end")
                        assert (await store.get_task(task_id)).status == "completed", workers.output()
                        snooped, agent = await store.list_stages(task_id, texts=True)

                        async def commented() -> str | None:
                            thread = sim.thread("octo/demo", issue.number)
                            return thread if "Completed" in thread and "ANTHROPIC_API_KEY" in thread else None

                        thread = await eventually(commented, timeout_s=10, what="the stage comments")
                finally:
                    await store.close()
    assert settings.github_private_key is not None
    seen = "\n".join([thread, snooped.output_text, agent.output_text, snooped.input_text, agent.input_text])
    for secret in planted_secrets(settings.github_private_key.get_secret_value()):
        assert secret not in seen, f"{secret!r} leaked:\n{seen}"
    found = [line for line in snooped.output_text.splitlines() if line.startswith("FOUND")]
    assert all(line.startswith("FOUND /proc/") for line in found), found  # only its own processes
    assert CLAUDE_KEY not in snooped.output_text  # a command stage gets no LLM key
    assert f"own ANTHROPIC_API_KEY={CLAUDE_KEY}" in agent.output_text  # the claude stage gets its own


@needs_redis
@needs_postgres
async def test_a_killed_workers_stage_dies_with_it_and_leaves_no_file(tmp_path: Path) -> None:
    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, HANGING_PIPELINE)
    async with redis_db(10) as redis_url, fresh_postgres_database() as database_url:
        with sim.serve() as base_url:
            settings = settings_for(tmp_path, seeded, base_url, redis_url, database_url)
            async with running(settings) as app:
                with workers_of(settings, tmp_path / "logs") as workers:
                    first = workers.start(TMPDIR=str(worker_tmp))
                    workers.start(TMPDIR=str(worker_tmp))  # the same data folder: it re-runs the stage
                    issue = sim.open_issue("octo/demo", "Hang", "", user="maintainer")
                    await deliverer(sim, app).comment_created(
                        "octo/demo", issue.number, "maintainer", "/aqm run"
                    )

                    async def stage_running() -> list[int] | None:
                        pids = pids_running("sleep", "86391") + pids_running("sleep", "86390")
                        return pids if len(pids) == 2 else None

                    try:
                        stage = await eventually(stage_running, timeout_s=30, what="the stage to run")
                    except AssertionError:
                        raise AssertionError(workers.output()) from None
                    during = sorted(entry.name for entry in worker_tmp.iterdir())
                    runner = first if _runs_under(first.pid, stage[0]) else workers.processes[1]
                    os.kill(runner.pid, signal.SIGKILL)  # SIGKILL the worker alone, not its process group
                    runner.wait(timeout=10)
                    assert survivors(stage, within_s=5) == [], workers.output()
                    after = sorted(entry.name for entry in worker_tmp.iterdir())
    assert during == [] and after == []  # no aqm-input-* (nor any stage file) in the temp folder


def _runs_under(ancestor: int, pid: int) -> bool:
    """Whether `pid` descends from `ancestor` (by /proc's parent links)."""
    while pid > 1:
        if pid == ancestor:
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def test_a_worker_without_bubblewrap_refuses_to_start(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {
        **os.environ,
        "PATH": str(empty),
        "PYTHONPATH": str(ROOT),
        "AQM_REDIS_URL": "redis://127.0.0.1:6379/9",
        "AQM_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 1
    assert "stages must run sandboxed, but bwrap (bubblewrap) is not installed" in done.stderr.decode()
    assert "AQM_UNSAFE_UNSANDBOXED_STAGES=1" in done.stderr.decode()


def test_the_server_without_bubblewrap_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.server.app import create_app

    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, HANGING_PIPELINE)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as raised:
        create_app(app_settings(seeded, tmp_path, sim.base_url))
    assert raised.value.variable == "AQM_UNSAFE_UNSANDBOXED_STAGES"


async def test_the_opt_out_runs_stages_and_every_card_says_so(tmp_path: Path) -> None:
    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, 'agents:\n  - {id: say, runtime: command, command: ["echo", "said"]}\n')
    settings = app_settings(seeded, tmp_path, sim.base_url, unsafe_unsandboxed_stages=True)
    async with running(settings, sim.transport()) as app:
        issue = sim.open_issue("octo/demo", "Say", "", user="maintainer")
        await deliverer(sim, app).comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
        await settle(app)
    thread = sim.thread("octo/demo", issue.number)
    assert "said" in thread and "Completed" in thread
    assert "Stages run **unsandboxed** on this server (`AQM_UNSAFE_UNSANDBOXED_STAGES`)" in thread
