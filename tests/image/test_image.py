"""The container image, built and run for real (`make image-test`, which `.ci/run` calls).

`scripts/image.sh build` builds the Dockerfile with podman and names the image in AQM_TEST_IMAGE;
without it these tests skip (the normal suite never builds an image). The container runs with the
flags docs/deploy.md gives users (`CONTAINER_FLAGS`), on the host's network, against the GitHub
simulator running on the host: a signed delivery goes to the container's `/webhook`, the container
calls the simulator back (installation token, comments) and clones the simulator's repository,
whose folder is mounted read-only at the same path (its clone URLs are `file://`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.playground.simulator import GitHubSimulator
from tests.e2e.helpers import eventually, seed_pipeline

IMAGE = os.environ.get("AQM_TEST_IMAGE", "")
pytestmark = [
    pytest.mark.skipif(not IMAGE, reason="no image: `make image-test` builds it (AQM_TEST_IMAGE)"),
    pytest.mark.timeout(600),  # a container's start and a real stage on a busy 2-core machine
]
ROOT = Path(__file__).resolve().parents[2]
IMAGE_UID = 10001  # the Dockerfile's `aqm` user
WEBHOOK_SECRET = "image-test-webhook-secret-91f3"
PLANTED = "planted-container-secret-6d2a"  # in the server's environment: must never reach a stage
# What bubblewrap needs to make the sandbox's namespaces in a container (docs/deploy.md says why).
CONTAINER_FLAGS = (
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
)
SNOOP = textwrap.dedent(
    """\
    echo "uid=$(id -u)"
    for f in /data/aqm.db /data/git; do
      if ls "$f" >/dev/null 2>&1; then echo "FOUND $f"; fi
    done
    echo "data: $(ls -A /data)"
    for f in /proc/*/environ; do echo "$f: $(tr '\\0' ' ' < "$f")"; done
    """
)
PIPELINE = f"""\
agents:
  - id: snoop
    runtime: command
    command: ["sh", "-c", {json.dumps(SNOOP)}]
"""


def podman(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """podman with the settings these machines need (scripts/image.sh; reference: containers.md).
    Values passed to the container go in `env` (named by `--env NAME`), never in argv: a failure
    shows argv."""
    command = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
    result = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {args[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the container's user can read: the simulator's repositories, mounted read-only."""
    folder = Path(tempfile.mkdtemp(prefix="aqm-image-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def hand_to_the_image_user(folder: Path) -> None:
    """The simulator's repositories, owned by the container's user: git refuses to fetch from a
    repository another user owns ("dubious ownership"), and the worker's git reads no config that
    could allow it (app/runtimes/git.py)."""
    subprocess.run(["chown", "-R", f"{IMAGE_UID}:{IMAGE_UID}", str(folder)], check=True)


def container_logs(name: str) -> str:
    return podman("logs", name, check=False).stdout + podman("logs", name, check=False).stderr


async def test_the_image_serves_handles_a_signed_delivery_and_sandboxes_its_stage(shared_dir: Path) -> None:
    sim = GitHubSimulator(shared_dir / "github")
    seeded = seed_pipeline(sim, PIPELINE)
    issue = sim.open_issue("octo/demo", "Snoop", "", user="maintainer")
    hand_to_the_image_user(shared_dir / "github")
    port, name = free_port(), f"aqm-image-test-{uuid.uuid4().hex[:8]}"
    with sim.serve() as api_url:
        environment = {
            "AQM_PORT": str(port),
            "AQM_HOST": "127.0.0.1",
            "AQM_GITHUB_API_URL": api_url,
            "AQM_GITHUB_APP_ID": str(seeded.app.id),
            "AQM_GITHUB_PRIVATE_KEY": seeded.key.private_pem,
            "AQM_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "AQM_API_TOKEN": PLANTED,
        }
        env_words = [word for key in environment for word in ("--env", key)]
        podman(
            "run", "--detach", "--name", name, "--network", "host", *CONTAINER_FLAGS, *env_words,
            "--volume", f"{shared_dir}:{shared_dir}:ro", IMAGE, env=environment,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"

            async def healthy() -> httpx.Response | None:
                try:
                    async with httpx.AsyncClient(timeout=5) as client:
                        response = await client.get(f"{base}/healthz")
                except httpx.TransportError:
                    return None
                return response if response.status_code == 200 else None

            health = await eventually(healthy, timeout_s=120, what=f"/healthz 200:\n{container_logs(name)}")
            assert health.json()["github"] is True

            status = podman("exec", name, "cat", "/proc/1/status").stdout
            uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
            assert uids == [str(IMAGE_UID)] * 4, status  # `aqm serve` itself: real, effective, saved, fs

            hooks = sim.deliverer(f"{base}/webhook", secret=WEBHOOK_SECRET)
            forged = sim.deliverer(f"{base}/webhook", secret="not-the-secret")
            refused = await forged.comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
            assert refused.response_status == 401
            delivery = await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
            assert delivery.response_status == 202, delivery.response_body

            async def stage_comment() -> str | None:
                bodies = [c.body for c in sim.world.comments.values() if "uid=" in c.body]
                if not bodies and "failed" in sim.thread("octo/demo", issue.number).lower():
                    raise AssertionError("the task failed")
                return bodies[0] if bodies else None

            try:
                output = await eventually(stage_comment, timeout_s=300, what="the stage's comment")
            except AssertionError:
                raise AssertionError(
                    f"{sim.thread('octo/demo', issue.number)}\n{container_logs(name)}"
                ) from None
            beside = podman("exec", name, "ls", "/data").stdout.split()
            assert {"aqm.db", "git", "workspaces"} <= set(beside)  # what the stage must not see is there
        finally:
            logs = container_logs(name)
            podman("rm", "--force", name, check=False)
    assert "uid=" in output, logs
    found = [line for line in output.splitlines() if line.startswith("FOUND")]
    assert found == [], output  # the database and the git folders exist (below), but not for the stage
    assert "data: workspaces" in output  # of the data folder, only the path to its own workspace
    assert "cannot create user namespaces" not in logs  # the whole sandbox: --unshare-user --disable-userns
    for secret in (WEBHOOK_SECRET, PLANTED, seeded.key.private_pem.splitlines()[1]):
        assert secret not in output
        assert secret not in logs
