"""Routing, fan-out, gates and failures: the engine's decisions, one behaviour per test."""

from __future__ import annotations

import pytest

from app.engine.commands import RunStage, SaveStage, StopStages
from app.engine.decide import decide
from app.engine.events import HumanDecided, StageFailed
from app.engine.state import TaskStatus
from app.spec.models import PipelineSettings, ProjectConfig

from .harness import Answer, Run, spec_of

LINEAR = """
agents:
  - {id: a, runtime: claude, system_prompt: "A: {{ input }}", handoffs: [{to: b}]}
  - {id: b, runtime: gemini, system_prompt: "B: {{ input }}", handoffs: [{to: c}]}
  - {id: c, runtime: codex, system_prompt: "C: {{ input }}"}
"""


def test_a_linear_pipeline_runs_every_agent_then_completes() -> None:
    run = Run(spec_of(LINEAR), answers={"a": ["plan"], "b": ["code"]}).start()
    assert run.agents == ["a", "b", "c"]
    assert run.state.status == TaskStatus.COMPLETED
    assert run.prompts[2] == "B: plan"  # the default payload is the previous output


def test_start_agent_can_be_chosen() -> None:
    assert Run(spec_of(LINEAR)).start("b").agents == ["b", "c"]


def test_payload_templates_see_output_input_and_params() -> None:
    spec = spec_of("""
    params: {lang: python}
    agents:
      - id: a
        runtime: claude
        handoffs: [{to: b, payload: "{{ params.lang }}|{{ input }}|{{ output }}|{{ gate_result }}"}]
      - {id: b, runtime: claude}
    """)
    run = Run(spec, answers={"a": ["OUT"]}).start()
    assert run.prompts[2] == "python|the task|OUT|"


def test_a_value_that_looks_like_a_template_stays_text() -> None:
    run = Run(spec_of(LINEAR), answers={"a": ["{{ 7*7 }} {% raw %}"]}).start()
    assert run.prompts[2] == "B: {{ 7*7 }} {% raw %}"


def test_fan_out_starts_every_branch_before_any_finishes() -> None:
    spec = spec_of("""
    agents:
      - {id: a, runtime: claude, handoffs: [{to: "b, c"}]}
      - {id: b, runtime: claude, handoffs: [{to: d}]}
      - {id: c, runtime: claude}
      - {id: d, runtime: claude}
    """)
    state = Run(spec).state
    state, commands = decide(
        spec, state, __import__("app.engine.events", fromlist=["TaskStarted"]).TaskStarted()
    )
    from app.engine.events import StageFinished

    state, commands = decide(spec, state, StageFinished(1, "plan"))
    started = [c.agent_id for c in commands if isinstance(c, RunStage)]
    assert started == ["b", "c"]  # the continuing branch first, then the fork, in `to` order
    assert {b.id for b in state.branches} == {"1", "1.2"}


def test_a_fan_out_task_ends_when_every_branch_has_ended() -> None:
    spec = spec_of("""
    agents:
      - {id: a, runtime: claude, handoffs: [{to: "b, c"}]}
      - {id: b, runtime: claude, gate: {type: human}}
      - {id: c, runtime: claude}
    """)
    run = Run(spec).start()
    waiting = run.state.status
    run.feed(HumanDecided("approved", by="maintainer"))
    assert (waiting, run.state.status) == (TaskStatus.AWAITING_GATE, TaskStatus.COMPLETED)  # c ended first


def test_a_branch_sees_the_context_up_to_the_fork_and_its_own() -> None:
    spec = spec_of("""
    agents:
      - {id: a, runtime: claude, handoffs: [{to: "b, c"}]}
      - {id: b, runtime: claude, handoffs: [{to: d}]}
      - {id: c, runtime: claude, handoffs: [{to: e}]}
      - {id: d, runtime: claude, system_prompt: "{{ context }}"}
      - {id: e, runtime: claude, system_prompt: "{{ context }}"}
    """)
    run = Run(spec, answers={"a": ["from a"], "b": ["from b"], "c": ["from c"]}).start()
    d_stage = run.agents.index("d") + 1
    assert "from a" in run.prompts[d_stage] and "from b" in run.prompts[d_stage]
    assert "from c" not in run.prompts[d_stage]


def test_every_matching_rule_contributes_in_order_without_duplicates() -> None:
    spec = spec_of("""
    agents:
      - id: a
        runtime: claude
        handoffs:
          - {to: b, condition: "severity == high"}
          - {to: "b, c", condition: always}
      - {id: b, runtime: claude}
      - {id: c, runtime: claude}
    """)
    run = Run(spec, answers={"a": ["SEVERITY: high"]}).start()
    assert run.agents == ["a", "b", "c"]


CONDITIONAL = """
agents:
  - id: a
    runtime: claude
    handoffs:
      - {to: urgent, condition: "severity == critical"}
      - {to: normal, condition: "severity != critical"}
  - {id: urgent, runtime: claude}
  - {id: normal, runtime: claude}
"""


def test_conditions_compare_the_keys_value_not_words_elsewhere() -> None:
    assert Run(
        spec_of(CONDITIONAL), answers={"a": ["This is not critical.\nSEVERITY: low"]}
    ).start().agents == ["a", "normal"]
    assert Run(spec_of(CONDITIONAL), answers={"a": ["Severity: Critical"]}).start().agents == ["a", "urgent"]
    assert Run(spec_of(CONDITIONAL), answers={"a": ['{"severity": "critical"}']}).start().agents == [
        "a",
        "urgent",
    ]


def test_auto_handoff_follows_line_anchored_directives_only() -> None:
    spec = spec_of("""
    agents:
      - {id: a, runtime: claude, handoffs: [{to: "*", condition: auto}]}
      - {id: b, runtime: claude}
      - {id: c, runtime: claude}
    """)
    output = "Use the format `HANDOFF: c`.\n```\nHANDOFF: c\n```\nHANDOFF: b."
    assert Run(spec, answers={"a": [output]}).start().agents == ["a", "b"]


REGISTRY_INCIDENT = """
agents:
  - id: detector
    runtime: claude
    handoffs: [{to: severity_router, condition: auto}]
  - id: severity_router
    runtime: claude
    handoffs: [{to: low_fix, condition: auto}]
  - {id: low_fix, runtime: claude}
  - {id: critical_fix, runtime: claude, handoffs: [{to: verifier}]}
  - {id: verifier, runtime: claude, handoffs: [{to: postmortem, condition: auto}]}
  - {id: postmortem, runtime: claude}
"""

# detector's, severity_router's and verifier's answers -> agents run, status, what the error names
AUTO_CASES = {
    "auto ignores to: the HANDOFF line names any agent (aqm's registry pipeline runs all 5)": (
        ["HANDOFF: severity_router", "SEVERITY: high\nHANDOFF: critical_fix", "HANDOFF: postmortem"],
        ["detector", "severity_router", "critical_fix", "verifier", "postmortem"],
        TaskStatus.COMPLETED,
        None,
    ),
    "a name outside the rule's to list is followed, also one listed nowhere": (
        ["HANDOFF: low_fix", "", ""],
        ["detector", "low_fix"],
        TaskStatus.COMPLETED,
        None,
    ),
    "several names fan out, each once": (
        ["HANDOFF: low_fix, critical_fix\nHANDOFF: low_fix", "", "HANDOFF: postmortem"],
        ["detector", "low_fix", "critical_fix", "verifier", "postmortem"],
        TaskStatus.COMPLETED,
        None,
    ),
    "no HANDOFF line ends the branch, as in aqm (with a note)": (
        ["nothing to hand off", "", ""],
        ["detector"],
        TaskStatus.COMPLETED,
        None,
    ),
    "a HANDOFF naming no agent fails the stage with a did-you-mean": (
        ["HANDOFF: severity_ruoter", "", ""],
        ["detector"],
        TaskStatus.FAILED,
        "wrote HANDOFF: severity_ruoter, which names no agent of the pipeline",
    ),
    "HANDOFF: * names no agent: a failure, not a silent end": (
        ["HANDOFF: *", "", ""],
        ["detector"],
        TaskStatus.FAILED,
        "wrote HANDOFF: *, which names no agent",
    ),
    "one unknown name among known ones fails before anything more runs": (
        ["HANDOFF: low_fix, nobody", "", ""],
        ["detector"],
        TaskStatus.FAILED,
        "HANDOFF: nobody",
    ),
    "a HANDOFF only in a code block fails instead of silently ending (aqm would follow it)": (
        ["Routing:\n```\nHANDOFF: severity_router\n```", "", ""],
        ["detector"],
        TaskStatus.FAILED,
        "only inside a code block or after other text on its line",
    ),
    "a HANDOFF after other text on its line fails too": (
        ["Done. HANDOFF: severity_router", "", ""],
        ["detector"],
        TaskStatus.FAILED,
        "at the start of a line",
    ),
}


@pytest.mark.parametrize(
    ("answers", "agents", "status", "error"), list(AUTO_CASES.values()), ids=list(AUTO_CASES)
)
def test_auto_routing(answers: list[str], agents: list[str], status: TaskStatus, error: str | None) -> None:
    scripted: dict[str, list[Answer]] = {
        agent: [answer]
        for agent, answer in zip(["detector", "severity_router", "verifier"], answers, strict=True)
    }
    run = Run(spec_of(REGISTRY_INCIDENT), answers=scripted).start()
    assert (run.agents, run.state.status) == (agents, status)
    if error is None:
        assert run.state.error is None
    else:
        assert error in (run.state.error or ""), run.state.error
        assert [s.status for s in run.saved(len(agents)) if s.finished][-1] == "failed"


def test_a_misspelt_handoff_names_the_agent_it_probably_meant() -> None:
    run = Run(spec_of(REGISTRY_INCIDENT), answers={"detector": ["HANDOFF: severity_ruoter"]}).start()
    assert "did you mean 'severity_router'?" in (run.state.error or "")


def test_an_auto_agent_that_names_nobody_leaves_a_note() -> None:
    run = Run(spec_of(REGISTRY_INCIDENT), answers={"detector": ["all fine"]}).start()
    assert run.state.notes == (
        "'detector' (condition: auto) named no agent with a HANDOFF: line, so its branch ends",
    )


@pytest.mark.parametrize(
    ("condition", "output"),
    [("severity == low", "This is critical!"), ("severity in [low, high]", "This is high priority.")],
    ids=["==", "in"],
)
def test_a_condition_whose_key_is_missing_fails_where_aqm_would_have_matched_the_word(
    condition: str, output: str
) -> None:
    spec = spec_of(CONDITIONAL.replace("severity != critical", condition))
    run = Run(spec, answers={"a": [output]}).start()
    assert (run.agents, run.state.status) == (["a"], TaskStatus.FAILED)
    assert "has no 'SEVERITY: <value>' line" in (run.state.error or "")


def test_a_negated_condition_never_counts_as_aqms_word_match() -> None:
    spec = spec_of(
        CONDITIONAL.replace("severity == critical", "severity not in [critical]").replace(
            "severity != critical", "not severity == critical"
        )
    )
    run = Run(spec, answers={"a": ["SEVERITY: critical\nIt is critical."]}).start()
    assert (run.agents, run.state.status) == (["a"], TaskStatus.COMPLETED)


def test_a_condition_whose_key_is_missing_and_whose_word_is_absent_ends_the_branch() -> None:
    run = Run(spec_of(CONDITIONAL.replace("!= critical", "== low")), answers={"a": ["All good."]}).start()
    assert (run.agents, run.state.status) == (["a"], TaskStatus.COMPLETED)


REVIEW_LOOP = """
agents:
  - {id: dev, runtime: claude, handoffs: [{to: review}]}
  - id: review
    runtime: gemini
    gate: {type: llm, max_retries: 2}
    handoffs:
      - {to: ship, condition: on_approve}
      - {to: dev, condition: on_reject, payload: "Fix: {{ reject_reason }}"}
  - {id: ship, runtime: claude}
"""


def test_a_rejection_routes_on_reject_with_the_reason() -> None:
    run = Run(
        spec_of(REVIEW_LOOP), verdicts={"review": [("rejected", "no tests"), ("approved", "ok")]}
    ).start()
    assert run.agents == ["dev", "review", "dev", "review", "ship"]
    assert run.prompts[3] == "Fix: no tests"
    assert run.state.status == TaskStatus.COMPLETED


def test_max_retries_counts_rejections_across_the_whole_loop() -> None:
    run = Run(
        spec_of(REVIEW_LOOP),
        verdicts={"review": [("rejected", "r1"), ("rejected", "r2"), ("rejected", "r3")]},
    )
    run.start()
    assert run.state.status == TaskStatus.FAILED
    assert run.agents == ["dev", "review", "dev", "review", "dev", "review"]
    assert run.state.error is not None and "'review' rejected 3 times; max_retries is 2" in run.state.error


def test_a_rejection_without_a_matching_route_fails_naming_the_gate() -> None:
    spec = spec_of(
        "agents:\n  - {id: a, runtime: claude, gate: {type: llm}, handoffs: [{to: b, condition: on_approve}]}\n"
        "  - {id: b, runtime: claude}\n"
    )
    run = Run(spec, verdicts={"a": [("rejected", "bad")]}).start()
    assert run.state.status == TaskStatus.FAILED and "'a' gate rejected" in (run.state.error or "")


def test_an_always_handoff_matches_after_a_rejection_too() -> None:
    spec = spec_of(
        "agents:\n  - {id: a, runtime: claude, gate: {type: llm}, handoffs: [{to: b}]}\n"
        "  - {id: b, runtime: claude}\n"
    )
    assert Run(spec, verdicts={"a": [("rejected", "bad")]}).start().agents == ["a", "b"]


def test_the_gate_runs_on_the_agents_runtime_unless_config_says_otherwise() -> None:
    from app.engine.commands import AskGate

    run = Run(spec_of(REVIEW_LOOP), verdicts={"review": [("approved", "")]}).start()
    asks = [c for c in run.commands if isinstance(c, AskGate)]
    assert [(a.runtime, a.model) for a in asks] == [("gemini", None)]


def test_an_unparseable_verdict_is_asked_again_then_fails_the_task() -> None:
    from app.engine.commands import AskGate
    from app.engine.events import GateErrored, StageFinished, TaskStarted

    spec = spec_of(REVIEW_LOOP)
    run = Run(spec)
    run.state, _ = decide(spec, run.state, TaskStarted())
    run.state, _ = decide(spec, run.state, StageFinished(1, "code"))
    run.state, commands = decide(spec, run.state, StageFinished(2, "review"))
    assert [c.attempt for c in commands if isinstance(c, AskGate)] == [1]
    for attempt in (2, 3):
        run.state, commands = decide(spec, run.state, GateErrored(2, "prose, no JSON"))
        assert [c.attempt for c in commands if isinstance(c, AskGate)] == [attempt]
    run.state, _ = decide(spec, run.state, GateErrored(2, "prose, no JSON"))
    assert run.state.status == TaskStatus.FAILED and "no verdict after 3 attempts" in (run.state.error or "")
    assert run.state.rejections == {}  # never counted as a quality rejection


HUMAN = """
agents:
  - {id: dev, runtime: claude, handoffs: [{to: deploy}]}
  - id: deploy
    runtime: claude
    gate: {type: human}
    handoffs:
      - {to: done, condition: on_approve}
      - {to: dev, condition: on_reject, payload: "{{ reject_reason }}"}
  - {id: done, runtime: claude}
"""


def test_a_human_gate_pauses_and_approval_continues_without_rerunning() -> None:
    run = Run(spec_of(HUMAN)).start()
    assert (run.state.status, run.agents) == (TaskStatus.AWAITING_GATE, ["dev", "deploy"])
    run.feed(HumanDecided("approved", "LGTM", by="octocat"))
    assert (run.state.status, run.agents) == (TaskStatus.COMPLETED, ["dev", "deploy", "done"])
    assert [s.gate_result for s in run.saved(2) if s.gate_result] == ["approved"]


def test_the_history_line_of_a_gated_stage_shows_the_humans_decision() -> None:
    done = '{id: done, runtime: claude, context_window: 1, system_prompt: "{{ context }}"}'
    spec = spec_of(HUMAN.replace("{id: done, runtime: claude}", done))
    run = Run(spec, answers={"deploy": ["shipped it"]}).start().feed(HumanDecided("rejected", "no"))
    run.feed(HumanDecided("approved"))
    assert run.agents == ["dev", "deploy", "dev", "deploy", "done"]
    assert "- stage 2 deploy(rejected): shipped it\n" in run.prompts[5]
    assert "## [stage 4] deploy (approved)\n" in run.prompts[5]


def test_a_human_rejection_routes_with_its_reason() -> None:
    run = Run(spec_of(HUMAN)).start().feed(HumanDecided("rejected", "needs tests"))
    assert run.agents == ["dev", "deploy", "dev", "deploy"] and run.prompts[3] == "needs tests"


def test_a_decision_for_a_task_not_waiting_changes_nothing() -> None:
    run = Run(spec_of(LINEAR)).start()
    before = run.state
    run.feed(HumanDecided("approved"))
    assert run.state == before


COMMAND = """
agents:
  - {id: tests, runtime: command, command: [pytest], handoffs: [{to: fix, condition: on_reject}, {to: ok, condition: on_approve}]}
  - {id: fix, runtime: claude, system_prompt: "{{ input }}"}
  - {id: ok, runtime: claude}
"""


def test_a_command_exit_code_is_its_verdict() -> None:
    assert Run(spec_of(COMMAND), exit_codes={"tests": [0]}).start().agents == ["tests", "ok"]
    failing = Run(spec_of(COMMAND), answers={"tests": ["2 failed"]}, exit_codes={"tests": [1]}).start()
    assert failing.agents == ["tests", "fix"] and failing.prompts[2] == "2 failed"


def test_a_failing_command_without_a_route_fails_the_task() -> None:
    spec = spec_of("agents:\n  - {id: t, runtime: command, command: [make]}\n")
    run = Run(spec, answers={"t": ["boom"]}, exit_codes={"t": [2]}).start()
    assert run.state.status == TaskStatus.FAILED and "exited non-zero" in (run.state.error or "")


def test_a_crashed_cli_fails_the_task_with_its_error() -> None:
    run = Run(spec_of(LINEAR), answers={"b": [StageFailed(0, "claude: not logged in", "auth")]}).start()
    assert run.state.status == TaskStatus.FAILED
    assert run.state.error == "Stage 2 (b) failed: claude: not logged in" and run.state.failed_stage == 2


def test_the_retry_policy_reruns_the_stage_with_backoff_and_fallback_context() -> None:
    spec = spec_of("""
    agents:
      - {id: a, runtime: claude, handoffs: [{to: b}]}
      - id: b
        runtime: claude
        context_strategy: both
        retry: {max_retries: 2, backoff: 5, fallback_context_strategy: none}
    """)
    run = Run(spec, answers={"b": [StageFailed(0, "timeout", "timeout"), "ok"]}).start()
    stages = [c for c in run.commands if isinstance(c, RunStage) and c.agent_id == "b"]
    assert [(s.stage, s.attempt, s.delay_s, s.prompt.context.strategy) for s in stages] == [
        (2, 1, 0.0, "both"),
        (2, 2, 5.0, "none"),
    ]
    assert run.state.status == TaskStatus.COMPLETED


def test_max_stages_bounds_a_loop() -> None:
    spec = spec_of(
        "agents:\n  - {id: a, runtime: claude, handoffs: [{to: a}]}\n",
        ProjectConfig(pipeline=PipelineSettings(max_stages=5)),
    )
    run = Run(spec).start()
    assert len(run.agents) == 5 and run.state.error == "Exceeded maximum number of stages (5)."


def test_a_failing_branch_stops_its_running_siblings() -> None:
    spec = spec_of("""
    agents:
      - {id: a, runtime: claude, handoffs: [{to: "b, c"}]}
      - {id: b, runtime: claude}
      - {id: c, runtime: claude}
    """)
    from app.engine.events import StageFinished, TaskStarted

    state = Run(spec).state
    state, _ = decide(spec, state, TaskStarted())
    state, _ = decide(spec, state, StageFinished(1, "x"))
    state, commands = decide(spec, state, StageFailed(2, "boom"))
    assert StopStages((3,)) in commands and state.status == TaskStatus.FAILED


def test_a_judged_stage_is_remembered_as_the_agents_as_a_resumed_task_rebuilds_it() -> None:
    run = Run(spec_of(REVIEW_LOOP), verdicts={"review": [("approved", "ok")]}).start()
    assert [(h.agent_id, h.kind) for h in run.state.history] == [
        ("dev", "agent"),
        ("review", "agent"),
        ("ship", "agent"),
    ]


def test_a_session_whose_result_names_no_agent_fails_as_its_own_stage() -> None:
    spec = spec_of("""
    agents:
      - id: talk
        type: session
        participants: [x, y]
        max_rounds: 1
        handoffs: [{to: "*", condition: auto}]
      - {id: x, runtime: claude}
      - {id: y, runtime: claude}
    """)
    run = Run(spec, answers={"x": ["VOTE: AGREE"], "y": ["VOTE: AGREE\nHANDOFF: nobody"]}).start()
    assert run.state.status == TaskStatus.FAILED
    assert "(talk) failed: 'talk' wrote HANDOFF: nobody" in (run.state.error or "")
    failed = [s for s in run.commands if isinstance(s, SaveStage) and s.status == "failed"]
    assert [(s.agent_id, s.kind) for s in failed] == [("talk", "session")]
