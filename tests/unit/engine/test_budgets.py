"""`github.budget` in the engine: stages and cost are counted from events, time arrives as an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.engine.commands import RunStage, SaveStage, StopStages
from app.engine.decide import decide
from app.engine.events import CancelRequested, StageFinished, TaskStarted, TimeBudgetSpent, Usage
from app.engine.state import TaskState, TaskStatus
from app.spec.models import Budget, GitHubSettings, PipelineSettings, ProjectConfig
from app.store.records import StageRecord, running_seconds

from .harness import Run, spec_of

LOOP = "agents:\n  - {id: a, runtime: claude, handoffs: [{to: a}]}\n"


def budget(**limits: float) -> ProjectConfig:
    return ProjectConfig(github=GitHubSettings(budget=Budget(**limits)))


def loop_with_costs(config: ProjectConfig, cost: float, rounds: int) -> tuple[TaskState, list[object]]:
    """Start the loop and finish up to `rounds` stages, each costing `cost`."""
    spec = spec_of(LOOP, config)
    state = TaskState(task_id="T-000001", description="the task")
    state, commands = decide(spec, state, TaskStarted())
    seen: list[object] = list(commands)
    for number in range(1, rounds + 1):
        if state.status != TaskStatus.IN_PROGRESS:
            break
        state, commands = decide(spec, state, StageFinished(number, "ok", Usage(10, 10, cost)))
        seen += commands
    return state, seen


def test_the_cost_budget_stops_the_task_before_the_next_stage() -> None:
    state, commands = loop_with_costs(budget(max_cost_usd=0.5), 0.2, rounds=10)
    started = [c.stage for c in commands if isinstance(c, RunStage)]
    assert started == [1, 2, 3]  # after 3 stages $0.60 >= $0.50: no 4th stage
    assert state.status == TaskStatus.FAILED
    assert state.error == "stopped after $0.60 spent: budget max_cost_usd 0.5"
    assert abs(state.cost_usd - 0.6) < 1e-9


def test_without_a_cost_budget_the_cost_is_only_counted() -> None:
    state, commands = loop_with_costs(ProjectConfig(pipeline=PipelineSettings(max_stages=4)), 0.2, rounds=10)
    assert [c.stage for c in commands if isinstance(c, RunStage)] == [1, 2, 3, 4]
    assert state.error == "Exceeded maximum number of stages (4)."


def test_the_stage_budget_names_itself_when_it_is_the_tighter_limit() -> None:
    run = Run(spec_of(LOOP, budget(max_stages=3))).start()
    assert len(run.agents) == 3
    assert run.state.error == "stopped after 3 stages: budget max_stages 3"


def test_spent_time_stops_the_running_stage_and_fails_the_task() -> None:
    spec = spec_of(LOOP, budget(max_minutes=10))
    state, _ = decide(spec, TaskState(task_id="T-000001", description="x"), TaskStarted())
    state, commands = decide(spec, state, TimeBudgetSpent(12.44))
    assert state.status == TaskStatus.FAILED
    assert state.error == "stopped after 12.4 min: budget max_minutes 10"
    assert StopStages((1,)) in commands
    saved = [c for c in commands if isinstance(c, SaveStage)]
    assert [(c.stage, c.status, c.finished) for c in saved] == [(1, "cancelled", True)]


def test_a_time_report_under_the_budget_or_without_one_changes_nothing() -> None:
    for config, minutes in ((budget(max_minutes=10), 9.9), (ProjectConfig(), 99.0)):
        spec = spec_of(LOOP, config)
        state, _ = decide(spec, TaskState(task_id="T-000001", description="x"), TaskStarted())
        after, commands = decide(spec, state, TimeBudgetSpent(minutes))
        assert (after.status, commands) == (TaskStatus.IN_PROGRESS, [])


def test_a_cancelled_task_waits_for_nobody() -> None:
    """A push cancels a task paused at a human gate: its card must no longer ask for `/approve`."""
    spec = spec_of("agents:\n  - {id: a, runtime: claude, gate: {type: human}}\n")
    paused = Run(spec).start().state
    assert paused.status == TaskStatus.AWAITING_GATE and paused.branches[0].gate is not None
    state, _ = decide(spec, paused, CancelRequested("new commits"))
    assert state.status == TaskStatus.CANCELLED
    assert [(b.status, b.gate) for b in state.branches] == [("cancelled", None)]


def test_running_time_counts_parallel_stages_once_and_pauses_not_at_all() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def stage(number: int, start_s: float, end_s: float | None) -> StageRecord:
        end = None if end_s is None else t0 + timedelta(seconds=end_s)
        return StageRecord(
            "T-000001", number, "a", started_at=t0 + timedelta(seconds=start_s), finished_at=end
        )

    stages = [
        stage(1, 0, 60),  # 0-60
        stage(2, 30, 90),  # parallel with 1: 60-90 more
        stage(3, 600, 660),  # after a 510 s pause for a human: 60 more
        stage(4, 700, None),  # still running at `now` (t0 + 730 s): 30 more
    ]
    assert running_seconds(stages, t0 + timedelta(seconds=730)) == 60 + 30 + 60 + 30
    assert running_seconds([], t0) == 0.0
