"""The deployment files docs/deploy.md hands out are valid, and none runs stages unsandboxed.

The compose file is checked against the Compose specification (check-jsonschema's vendored
schema) and the systemd units with `systemd-analyze verify` in a root of their own (no engine, no
systemd running needed). A mutated copy of each must fail the same check, so a check that passes
everything cannot hide behind a green test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
UNITS = sorted(DEPLOY.glob("*.service"))
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")
SANDBOX_OPTIONS = {"seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"}
OPT_OUT = "AQM_UNSAFE_UNSANDBOXED_STAGES"
needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None and not os.environ.get("CI"),
    reason="no systemd-analyze (apt-get install systemd)",
)


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def verify_units(units: list[Path], root: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` of `units` installed in `root`, a tree with systemd's own units and
    the executable the units start (verify checks that it exists)."""
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    aqm = root / "opt/aqm/bin/aqm"
    aqm.parent.mkdir(parents=True)
    aqm.write_text("#!/bin/sh\n")
    aqm.chmod(0o755)
    installed = root / "etc/systemd/system"
    installed.mkdir(parents=True)
    for unit in units:
        shutil.copy(unit, installed / unit.name)
    names = [f"/etc/systemd/system/{unit.name}" for unit in units]
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelt_compose_key_is_caught_by_the_same_check(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("security_opt:", "security_opts:", 1))
    assert check_compose(broken).returncode != 0


def test_every_aqm_container_gets_the_sandbox_options_and_none_opts_out() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    aqm_services = {
        name: s
        for name, s in compose["services"].items()
        if str(s.get("image", "")).endswith(("/aqm:0.1.0",))
    }
    assert set(aqm_services) == {"serve", "worker"}
    for name, service in aqm_services.items():
        assert set(service["security_opt"]) >= SANDBOX_OPTIONS, name
        assert "privileged" not in service, name
    for text in (
        COMPOSE.read_text(),
        *(unit.read_text() for unit in UNITS),
        (ROOT / "Dockerfile").read_text(),
    ):
        assert OPT_OUT not in text


@needs_systemd_analyze
def test_the_systemd_units_verify_cleanly(tmp_path: Path) -> None:
    assert {unit.name for unit in UNITS} == {"aqm-serve.service", "aqm-worker@.service"}
    result = verify_units(UNITS, tmp_path)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr  # a warning is a failure too


@needs_systemd_analyze
def test_a_misspelt_unit_setting_is_caught_by_the_same_check(tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "aqm-serve.service"
    broken.parent.mkdir()
    broken.write_text(UNITS[0].read_text().replace("Restart=", "Restartt=", 1))
    result = verify_units([broken], tmp_path / "root")
    assert "Restartt" in result.stderr


def test_the_deploy_guide_hands_out_these_files() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for path in (COMPOSE, *UNITS):
        assert f"deploy/{path.name}" in guide
    for option in SANDBOX_OPTIONS:
        assert option in guide
