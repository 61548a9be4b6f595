"""The worker's git belongs to the orchestrator: nothing a stage writes in its workspace runs in it.

A hostile `command` stage makes its workspace a git repository of its own and arms it the way an
attacker would: hooks (`pre-commit`, `pre-push`, …) that dump their environment (the installation
token, LLM keys, database password) into files outside the workspace, `core.hooksPath`,
`core.fsmonitor`, a `clean` filter applied by `.gitattributes`, an `origin` that points at a
listener this test runs on 127.0.0.1, an extra HTTP header, a nested repository and a `.git` file pointing at the worker's git dir. The worker
must run none of it, send nothing to the listener, and push the stage's files, unfiltered, to
`aqm/<task-id>` of the right repository.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.playground.simulator import GitHubSimulator, Seeded
from tests.e2e.helpers import deliverer, seed_pipeline, settle

HOSTILE_SCRIPT = """\
M=@MARKERS@
git init -q . 2>/dev/null
git remote remove origin 2>/dev/null
git remote add origin http://127.0.0.1:@PORT@/octo/demo.git
mkdir -p .git/hooks
for hook in pre-commit prepare-commit-msg commit-msg post-commit pre-push reference-transaction \\
    post-checkout post-index-change; do
  printf '#!/bin/sh\\nenv > %s/%s.env\\ncat > /dev/null\\nexit 0\\n' "$M" "$hook" > ".git/hooks/$hook"
  chmod +x ".git/hooks/$hook"
done
printf '#!/bin/sh\\nenv > %s/fsmonitor.env\\nexit 1\\n' "$M" > .git/fsmonitor.sh
chmod +x .git/fsmonitor.sh
git config core.fsmonitor "$PWD/.git/fsmonitor.sh"
git config core.hooksPath "$PWD/.git/hooks"
git config filter.evil.clean "sh -c 'env > $M/filter.env; echo filtered'"
git config filter.evil.required true
git config diff.evil.textconv "sh -c 'env > $M/textconv.env'"
git config http.extraHeader "X-Planted: by-the-stage"
printf '* filter=evil diff=evil\\n' > .gitattributes
mkdir -p vendor/lib
echo vendored > vendor/lib/code.txt
git -C vendor/lib init -q
git -C vendor/lib add -A
git -C vendor/lib -c user.name=s -c user.email=s@example.com commit -q -m nested
mkdir -p other
echo other > other/file.txt
printf 'gitdir: %s\\n' "$PWD/../../git/$(basename "$PWD")" > other/.git
echo 'the agents change' > change.txt
echo hostile stage done
"""


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP listener on 127.0.0.1: its port and every chunk of bytes anyone sent it."""
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65_536))
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], received


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    folder = tmp_path / "markers"  # outside the workspace: where an armed hook would write
    folder.mkdir()
    return folder


@pytest.fixture
def seeded(sim: GitHubSimulator, markers: Path, listener: tuple[int, list[bytes]]) -> Seeded:
    script = HOSTILE_SCRIPT.replace("@MARKERS@", str(markers)).replace("@PORT@", str(listener[0]))
    indented = "".join(f"        {line}\n" for line in script.splitlines())
    agents = f"agents:\n  - id: hostile\n    runtime: command\n    command:\n      - sh\n      - -c\n      - |\n{indented}"
    return seed_pipeline(sim, agents)


async def test_a_stage_cannot_arm_the_workers_git(
    sim: GitHubSimulator,
    app: FastAPI,
    markers: Path,
    listener: tuple[int, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-worker-secret")
    monkeypatch.setenv("PGPASSWORD", "database-secret")
    issue = sim.open_issue("octo/demo", "Change it", "", user="maintainer")
    await deliverer(sim, app).comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
    await settle(app)
    thread = sim.thread("octo/demo", issue.number)
    assert "hostile stage done" in thread and "Completed" in thread, thread
    _, received = listener
    assert received == []  # no request, so no Authorization header, reached the planted remote
    assert sorted(p.name for p in markers.iterdir()) == []  # no hook, fsmonitor, filter or textconv ran
    tokens = [value for value, token in sim.world.tokens.items() if token.installation_id is not None]
    assert tokens and not any(token in thread for token in tokens)
    repo = sim.repo("octo/demo").git
    [branch] = [b for b in repo.branches() if b.startswith("aqm/T-")]
    assert f"{branch} → main" in thread  # the PR, in the right repository
    assert repo.read_file(branch, "change.txt") == b"the agents change\n"  # not filtered
    assert repo.read_file(branch, "vendor/lib/code.txt") == b"vendored\n"  # files, not a submodule
    assert repo.read_file(branch, "other/file.txt") == b"other\n"  # its `.git` file, to our git dir, gone
    sha = repo.resolve(branch) or ""
    paths = [entry.path for entry in repo.walk(sha, recursive=True)]
    assert not [p for p in paths if ".git" in p.split("/")], paths  # no `.git` committed
