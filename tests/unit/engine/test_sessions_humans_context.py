"""Sessions, chunks, human input, context strategies, entry point, cancel and resume."""

from __future__ import annotations

from app.engine.commands import ChooseEntry, RunStage, StopStages
from app.engine.context import summary_line
from app.engine.decide import decide
from app.engine.events import (
    CancelRequested,
    ChunksEdited,
    HumanAnswered,
    Resumed,
    StageFinished,
    TaskStarted,
)
from app.engine.sessions import chunks_table
from app.engine.state import TaskStatus
from app.spec.models import PipelineSettings, ProjectConfig

from .harness import Answer, Run, spec_of

SESSION = """
agents:
  - {id: arch, runtime: claude, system_prompt: "arch on {{ input }}\\n{{ transcript }}"}
  - {id: sec, runtime: gemini, system_prompt: "sec on {{ input }}"}
  - id: meeting
    type: session
    participants: [arch, sec]
    max_rounds: 3
    consensus: {method: vote, keyword: "VOTE: AGREE", require: all}
    summary_agent: arch
    handoffs: [{to: impl}]
  - {id: impl, runtime: claude, system_prompt: "build {{ input }}"}
"""


def test_a_session_runs_rounds_until_everyone_votes_then_summarises() -> None:
    run = Run(
        spec_of(SESSION),
        answers={
            "arch": ["idea\nVOTE: AGREE", "still\nVOTE: AGREE", "THE SUMMARY"],
            "sec": ["I will NOT VOTE: AGREE yet", "fine\nVOTE: AGREE"],
        },
    ).start("meeting")
    assert run.agents == ["arch", "sec", "arch", "sec", "arch", "impl"]
    assert run.prompts[7] == "build THE SUMMARY"  # stage 6 records the session itself
    assert "## Round 1" in run.prompts[3] and "I will NOT VOTE: AGREE yet" in run.prompts[3]
    assert "reached consensus" in run.prompts[5]
    assert run.state.status == TaskStatus.COMPLETED


def test_votes_are_not_sticky() -> None:
    run = Run(
        spec_of(SESSION),
        answers={
            "arch": ["VOTE: AGREE", "changed my mind", "VOTE: AGREE"],
            "sec": [
                "ok",
                "VOTE: AGREE",
                "VOTE: AGREE",
            ],
        },
    ).start("meeting")
    assert run.agents[:6] == ["arch", "sec", "arch", "sec", "arch", "sec"]  # no consensus after round 2


def test_without_consensus_the_last_turn_is_the_result_after_max_rounds() -> None:
    run = Run(spec_of(SESSION), answers={"sec": ["no", "no", "LAST WORD"]}).start("meeting")
    assert run.agents == ["arch", "sec"] * 3 + ["impl"]
    assert run.prompts[8] == "build LAST WORD"  # 6 turns, stage 7 = the session's result


def test_majority_and_moderator_order() -> None:
    spec = spec_of(
        SESSION.replace("require: all", "require: majority")
        .replace("summary_agent: arch", "summary_agent: sec\n    turn_order: moderator")
        .replace("participants: [arch, sec]", "participants: [arch, sec, impl]")
    )
    run = Run(spec, answers={"sec": ["VOTE: AGREE", "SUM"], "arch": ["VOTE: AGREE"]}).start("meeting")
    assert run.agents[:3] == ["sec", "arch", "impl"]  # the moderator speaks first
    assert run.agents[3] == "sec"  # 2 of 3 agree: the moderator summarises


def test_turns_count_toward_max_stages() -> None:
    spec = spec_of(SESSION, ProjectConfig(pipeline=PipelineSettings(max_stages=4)))
    run = Run(spec).start("meeting")
    assert run.state.status == TaskStatus.FAILED and len(run.agents) == 4


def test_a_failed_turn_fails_the_session_visibly() -> None:
    from app.engine.events import StageFailed

    run = Run(spec_of(SESSION), answers={"sec": [StageFailed(0, "gemini exited 41", "auth")]}).start(
        "meeting"
    )
    assert run.state.status == TaskStatus.FAILED
    assert run.state.error == "Session 'meeting': Stage 2 (sec) failed: gemini exited 41"


CHUNKED = """
agents:
  - {id: pm, runtime: claude, system_prompt: "{{ chunks }}"}
  - {id: dev, runtime: claude}
  - id: build
    type: session
    participants: [pm, dev]
    max_rounds: 4
    consensus: {require_chunks_done: true}
    chunks: {initial: [setup, auth]}
"""


def test_chunk_directives_are_line_anchored_and_gate_consensus() -> None:
    run = Run(
        spec_of(CHUNKED),
        answers={
            "pm": ["CHUNK_ADD: tests\nVOTE: AGREE", "VOTE: AGREE"],
            "dev": [
                "CHUNK_DONE: C-001\nsay `CHUNK_DONE: C-002` to finish\nVOTE: AGREE",
                "CHUNK_DONE: C-002\nCHUNK_REMOVE: C-003\nVOTE: AGREE",
            ],
        },
    ).start("build")
    assert [(c.id, c.status) for c in run.state.chunks] == [("C-001", "done"), ("C-002", "done")]
    assert run.agents == ["pm", "dev", "pm", "dev"]  # round 1 agreed but chunks were open
    assert "| C-001 | ⬜ pending | setup |" in run.prompts[1]


def test_chunks_can_be_edited_by_a_user_and_render_as_a_table() -> None:
    spec = spec_of(CHUNKED)
    state = Run(spec).state
    for event in (
        ChunksEdited("add", "write | docs"),
        ChunksEdited("add", "b"),
        ChunksEdited("done", "c-001"),
        ChunksEdited("remove", "C-002"),
        ChunksEdited("add", "c"),
    ):
        state, _ = decide(spec, state, event)
    assert [c.id for c in state.chunks] == ["C-001", "C-002"]
    assert chunks_table(state.chunks).splitlines()[2] == "| C-001 | ✅ done | write \\| docs |"
    assert chunks_table(()) == "(no chunks defined)"


ASKING = """
agents:
  - id: planner
    runtime: claude
    human_input: {mode: before, prompt: "Which features?"}
    handoffs: [{to: dev}]
  - {id: dev, runtime: claude, human_input: true, handoffs: [{to: qa}]}
  - {id: qa, runtime: claude}
"""


def test_human_input_before_asks_then_runs_with_the_answer() -> None:
    run = Run(spec_of(ASKING)).start()
    assert run.state.status == TaskStatus.AWAITING_HUMAN_INPUT and run.agents == []
    run.feed(HumanAnswered("only login"))
    assert run.prompts[1].endswith("--- User Input ---\nonly login")


def test_on_demand_questions_pause_and_the_answer_goes_back_to_the_asker() -> None:
    run = Run(spec_of(ASKING), answers={"dev": ["HUMAN_INPUT: Postgres or SQLite?", "used SQLite"]}).start()
    run.feed(HumanAnswered("planner says hi"))
    assert run.state.status == TaskStatus.AWAITING_HUMAN_INPUT
    run.feed(HumanAnswered("SQLite"))
    assert run.agents == ["planner", "dev", "dev", "qa"]
    assert "--- User Response ---\nSQLite" in run.prompts[3] and "Postgres or SQLite?" in run.prompts[3]
    assert run.prompts[4] == "used SQLite"


CONTEXT = """
agents:
  - {id: a, runtime: claude, handoffs: [{to: b}]}
  - {id: b, runtime: claude, handoffs: [{to: c}]}
  - {id: c, runtime: claude, handoffs: [{to: d}]}
  - {id: d, runtime: claude, handoffs: [{to: a2}], context_strategy: STRATEGY, context_window: 2,
     system_prompt: "[{{ context }}]"}
  - {id: a2, runtime: claude}
"""


def context_of(strategy: str) -> str:
    outputs: dict[str, list[Answer]] = {
        "a": ["# Title\nA says\n---\n| x | y |"],
        "b": ["B says"],
        "c": ["C says"],
    }
    run = Run(spec_of(CONTEXT.replace("STRATEGY", strategy)), answers=outputs).start()
    return run.prompts[4]


def test_last_only_is_exactly_the_previous_output() -> None:
    assert context_of("last_only") == "[C says]"


def test_none_is_empty() -> None:
    assert context_of("none") == "[]"


def test_shared_windows_recent_stages_and_summarises_older_ones() -> None:
    assert context_of("shared") == (
        "[[history]\n- stage 1 a(completed): A says\n[recent]\n\n"
        "## [stage 2] b (completed)\nB says\n\n## [stage 3] c (completed)\nC says]"
    )


def test_own_shows_only_the_agents_own_outputs() -> None:
    assert context_of("own") == "[]"  # d has not run before


def test_an_output_with_separators_is_never_cut() -> None:
    text = context_of("both").replace("context_window: 2", "")
    assert "A says" in text
    spec = spec_of(CONTEXT.replace("STRATEGY", "shared").replace("context_window: 2", "context_window: 0"))
    run = Run(spec, answers={"a": ["# Title\nA says\n---\n| x | y |"]}).start()
    assert "A says\n---\n| x | y |" in run.prompts[4]


def test_summary_lines_skip_headings_and_are_short() -> None:
    assert summary_line("# Heading\n**Label**\n\n" + "x" * 300)[:3] == "xxx"
    assert len(summary_line("y" * 300)) == 120


def test_entry_point_auto_asks_for_a_structured_choice_and_falls_back_saying_so() -> None:
    spec = spec_of("entry_point: auto\n" + CONTEXT.replace("STRATEGY", "none"))
    chosen = Run(spec, entry="c").start()
    assert chosen.agents == ["c", "d", "a2"]
    asks = [c for c in chosen.commands if isinstance(c, ChooseEntry)]
    assert (
        asks
        and asks[0].choices == ("a", "b", "c", "d", "a2")
        and "<task>\nthe task\n</task>" in asks[0].message
    )
    fallback = Run(spec, entry=None).start()
    assert fallback.agents[0] == "a" and "starting with 'a'" in fallback.state.notes[0]


def test_cancel_stops_running_stages_and_ignores_late_results() -> None:
    spec = spec_of(CONTEXT.replace("STRATEGY", "none"))
    state = Run(spec).state
    state, _ = decide(spec, state, TaskStarted())
    state, commands = decide(spec, state, CancelRequested("user"))
    assert StopStages((1,)) in commands and state.status == TaskStatus.CANCELLED
    late, commands = decide(spec, state, StageFinished(1, "late"))
    assert late == state and commands == []


def test_resume_reruns_the_stage_that_was_running() -> None:
    spec = spec_of(CONTEXT.replace("STRATEGY", "none"))
    state = Run(spec).state
    state, _ = decide(spec, state, TaskStarted())
    state, _ = decide(spec, state, StageFinished(1, "a done"))
    state, commands = decide(spec, state, Resumed())
    assert [(c.stage, c.agent_id) for c in commands if isinstance(c, RunStage)] == [(2, "b")]
