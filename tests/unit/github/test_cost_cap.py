"""A shell's cap on a task's cost (the Action's `max-cost-usd`) on top of config.yaml's budget."""

from __future__ import annotations

import pytest

from app.github.config import capped
from app.spec.models import Budget, GitHubSettings, ProjectConfig

CASES = {
    "no cap of the shell's leaves config.yaml's": (None, 5.0, 5.0),
    "a cap where config.yaml has none holds": (2.0, None, 2.0),
    "the shell's lower cap holds": (2.0, 5.0, 2.0),
    "config.yaml's lower cap holds": (9.0, 5.0, 5.0),
    "neither has one": (None, None, None),
}


@pytest.mark.parametrize(("shell", "config", "expected"), list(CASES.values()), ids=list(CASES))
def test_the_lower_cost_cap_holds(shell: float | None, config: float | None, expected: float | None) -> None:
    project = ProjectConfig(github=GitHubSettings(budget=Budget(max_cost_usd=config)))
    assert capped(project, shell).github.budget.max_cost_usd == expected
