"""What the thread shows: hostile strings stay inert, limits hold, the commands to type appear literally."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.state import Branch, Chunk, GateWait, Question, TaskState, TaskStatus
from app.errors import SpecError
from app.github import render
from app.github.commands import Invalid, RunCommand, Unknown, parse_comment
from app.github.markdown import code, fenced, text
from app.spec.models import Budget
from app.store.records import StageRecord, TaskRecord

ID = "T-1A2B3C"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LIMIT = 65_536
HOSTILE = [
    "<!-- hidden -->",
    "</details><details open><summary>x</summary>",
    "@everyone and @octo-org/admins",
    "```` fence ``` break `",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1)) ![x](http://x/y.png)",
    "| a | b |\n|---|---|",
    "# heading\n- item\n1. one\n> quote\n/approve\n/aqm run",
    "\u202eevil\u2066 zero\u200bwidth\x00nul",
]


# ---- a small model of what GitHub renders: code is inert, everything else must be -------------


def prose(markdown: str) -> str:
    """The markdown without its code (fenced blocks, code spans) and without our own markup."""
    kept: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        if fence is not None:
            if re.fullmatch(r" {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*", line):
                fence = None
            continue
        opening = re.match(r" {0,3}(`{3,}|~{3,})", line)
        if opening:
            fence = opening[1]
            continue
        kept.append(line)
    assert fence is None, "a fenced block is left open"
    joined = "\n".join(kept)
    joined = re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", "", joined, flags=re.DOTALL)
    joined = re.sub(r"^<!-- aqm:(run-card|stage) T-[0-9A-F]+[ 0-9/]* -->$", "", joined, flags=re.MULTILINE)
    joined = re.sub(r"\[(details|the task's page)\]\(https://[^\s()<>]+\)", "", joined)  # our own links
    for tag in ("<details><summary>", "</summary>", "</details>", "<sub>", "</sub>"):
        joined = joined.replace(tag, "")
    return joined


def assert_inert(markdown: str) -> None:
    outside = prose(markdown)
    assert "<" not in outside, outside
    assert not re.search(r"(?<![A-Za-z0-9_])@(?!\u2060)[A-Za-z0-9]", outside), outside
    assert not re.search(r"(?<!\\)\]\(|(?<!\\)!\[", outside), outside  # no link or image syntax
    assert "\u202e" not in markdown and "\x00" not in markdown
    assert parse_comment(markdown) == [], "what the app writes must never read as a command"


def assert_our_details_balanced(markdown: str) -> None:
    outside = prose(markdown.replace("<details><summary>", "\x01").replace("</details>", "\x02"))
    assert outside.count("\x01") == outside.count("\x02")


# ---- records -------------------------------------------------------------------------------------


def task(description: str = "add rate limiting", status: str = "in_progress") -> TaskRecord:
    return TaskRecord(
        id=ID,
        pipeline="pr-review",
        description=description,
        status=status,
        state={},
        created_at=T0,
        updated_at=T0 + timedelta(minutes=3),
    )


def stage(number: int, agent: str = "planner", **fields: object) -> StageRecord:
    values: dict[str, object] = {
        "status": "completed",
        "runtime": "claude",
        "input_tokens": 1_000,
        "output_tokens": 234,
        "cost_usd": 0.0123,
        "started_at": T0 + timedelta(seconds=10 * number),
        "finished_at": T0 + timedelta(seconds=10 * number + 7),
        "output_text": f"output of stage {number}",
    }
    values.update(fields)
    return StageRecord(task_id=ID, number=number, agent_id=agent, **values)  # type: ignore[arg-type]


def gate(agent: str, number: int, branch: str = "1") -> Branch:
    return Branch(
        id=branch, status="awaiting_gate", gate=GateWait(agent_id=agent, stage=number, input="", output="")
    )


def state(status: TaskStatus = TaskStatus.IN_PROGRESS, **fields: object) -> TaskState:
    return TaskState(task_id=ID, status=status, **fields)


def card(
    task_state: TaskState,
    stages: list[StageRecord] | None = None,
    record: TaskRecord | None = None,
    **kw: object,
) -> str:
    options: dict[str, object] = {"pipeline": "pr-review", "runtime_of": {}, "public_url": None} | kw
    return render.run_card(record or task(), task_state, stages or [], **options)  # type: ignore[arg-type]


WAITING = state(TaskStatus.AWAITING_GATE, branches=(gate("reviewer", 2),))
TWO_GATES = state(TaskStatus.AWAITING_GATE, branches=(gate("sec", 3, "1.1"), gate("perf", 4, "1.2")))
ASKING = state(
    TaskStatus.AWAITING_HUMAN_INPUT,
    branches=(
        Branch(
            id="1",
            status="awaiting_human_input",
            question=Question(
                agent_id="planner", questions=("Which database?", "Keep the old API?"), mode="before"
            ),
        ),
    ),
)
FAILED = state(TaskStatus.FAILED, error="claude exited 1: rate limited", failed_stage=2)


# ---- the run card --------------------------------------------------------------------------------


def test_the_run_card_starts_with_its_hidden_marker() -> None:
    body = card(state())
    assert body.startswith(f"<!-- aqm:run-card {ID} -->\n")
    assert render.run_card_task_id(body) == ID
    assert render.run_card_task_id("a comment") is None


STATUS_WORDS = {
    "pending": (TaskStatus.PENDING, "Queued"),
    "in_progress": (TaskStatus.IN_PROGRESS, "Running"),
    "awaiting_gate": (TaskStatus.AWAITING_GATE, "Waiting for approval"),
    "awaiting_human_input": (TaskStatus.AWAITING_HUMAN_INPUT, "Waiting for an answer"),
    "completed": (TaskStatus.COMPLETED, "Completed"),
    "failed": (TaskStatus.FAILED, "Failed"),
    "cancelled": (TaskStatus.CANCELLED, "Cancelled"),
    "stalled": (TaskStatus.STALLED, "Stalled"),
}


@pytest.mark.parametrize(("status", "words"), list(STATUS_WORDS.values()), ids=list(STATUS_WORDS))
def test_the_card_says_its_status_in_words_first(status: TaskStatus, words: str) -> None:
    title = card(state(status)).split("\n")[1]
    assert title.startswith("### ") and f" {words} · aqm `{ID}`" in title


def test_a_continued_task_waiting_in_its_threads_queue_reads_queued() -> None:
    assert " Queued · aqm " in card(state(), queued=True).split("\n")[1]
    assert " Completed · aqm " in card(state(TaskStatus.COMPLETED), queued=True).split("\n")[1]


def test_the_stage_table_has_agent_runtime_status_duration_tokens_and_cost() -> None:
    body = card(
        state(),
        [stage(1, model="sonnet"), stage(2, "coder", status="running", runtime=None, finished_at=None)],
        runtime_of={"coder": "codex"},
        now=T0 + timedelta(seconds=95),
    )
    assert "| # | Agent | Runtime | Status | Time | Tokens | Cost |" in body
    assert "| 1 | `planner` | claude · sonnet | ✅ done | 7.0s | 1,234 | $0.01 |" in body
    assert "| 2 | `coder` | codex | 🔄 running | 1m 15s | 1,234 | $0.01 |" in body
    assert "**Pipeline** `pr-review` · 2 stages · 2,468 tokens · $0.02" in body


def test_a_branch_column_appears_only_when_stages_ran_on_several_branches() -> None:
    assert "Branch" not in card(state(), [stage(1), stage(2)])
    fanned = card(state(), [stage(1), stage(2, branch="1.1"), stage(3, branch="1.2")])
    assert "| # | Branch | Agent |" in fanned and "| 2 | `1.1` | `planner` |" in fanned


def test_a_waiting_gate_shows_the_literal_commands_to_type() -> None:
    body = card(WAITING, [stage(1), stage(2, "reviewer")])
    assert f"`/approve {ID} [reason]`" in body
    assert f"`/reject {ID} <reason>`" in body
    assert "⏸️ waiting for approval" in body  # the gated stage's row
    assert "review of this pull request" not in body


def test_a_card_on_a_pull_request_says_a_review_counts() -> None:
    assert "**Approve** continues, **Request changes** rejects" in card(WAITING, reviewable=True)


def test_several_waiting_gates_are_named_with_agent() -> None:
    body = card(TWO_GATES, reviewable=True)
    assert f"`/approve {ID} --agent sec [reason]`" in body
    assert f"`/reject {ID} --agent perf <reason>`" in body
    assert "review of this pull request" not in body  # a review cannot say which gate


def test_a_question_shows_the_questions_and_the_answer_command() -> None:
    body = card(ASKING)
    assert "1. Which database?" in body and "2. Keep the old API?" in body
    assert f"`/aqm answer {ID} <text>`" in body


def test_a_failed_task_shows_its_error_and_the_restart_command() -> None:
    body = card(FAILED, [stage(1), stage(2, status="failed")])
    assert "#### ❌ Failed at stage 2" in body
    assert "```\nclaude exited 1: rate limited\n```" in body
    assert f"`/aqm restart {ID} --from-stage 2`" in body
    assert f"`/aqm fix {ID} <what to change>`" in body


def test_a_failure_without_a_message_still_says_so() -> None:
    assert "no error message was recorded" in card(state(TaskStatus.FAILED))


def test_budgets_are_shown_only_when_set() -> None:
    assert "Budget" not in card(state(), [stage(1)])
    body = card(
        state(),
        [stage(1), stage(2, finished_at=None)],  # stage 2 still runs, since T0+20s
        budget=Budget(max_stages=10, max_cost_usd=5, max_minutes=30),
        now=T0 + timedelta(minutes=12, seconds=20),
    )
    # time counts while a stage runs (7 s of stage 1, then 12 min of stage 2), not the pause between
    assert "**Budget** stages 2 / 10 · cost $0.02 / $5.00 · time 12.1 / 30 min" in body


def test_the_card_links_the_tasks_page_only_over_http() -> None:
    assert f"[details](https://aqm.example.com/tasks/{ID})" in card(
        state(), public_url="https://aqm.example.com/"
    )
    assert "[details]" not in card(state(), public_url="javascript:alert(1)")


def test_chunks_and_notes_are_shown() -> None:
    chunks = (Chunk(id="C-001", description="auth", status="done"), Chunk(id="C-002", description="db"))
    body = card(state(chunks=chunks, notes=("budget at 80%",)))
    assert "Chunks: 1/2 done" in body and "| `C-002` | ⬜ pending | db |" in body
    assert "- budget at 80%" in body
    assert_our_details_balanced(body)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_in_a_card_stay_inert(hostile: str) -> None:
    hostile_state = state(
        TaskStatus.AWAITING_HUMAN_INPUT,
        branches=(Branch(id="1", question=Question(agent_id="a", questions=(hostile,), mode="before")),),
        notes=(hostile,),
        chunks=(Chunk(id="C-001", description=hostile),),
    )
    stages = [stage(1, model=hostile, runtime=hostile, output_text=hostile)]
    body = card(hostile_state, stages, task(description=hostile), pipeline=hostile)
    assert_inert(body)
    assert_our_details_balanced(body)
    failed = card(
        state(TaskStatus.FAILED, error=hostile), stages, task(description=hostile), pipeline=hostile
    )
    assert_inert(failed)


AUTOLINKED = {  # what GitHub links in prose -> how the app shows it (U+2060 joiners are invisible)
    "an issue number": ("see #123", "see #\u2060123"),
    "an issue of another repository": ("octo/demo#7", "octo/demo#\u20607"),
    "a GH- reference": ("GH-42", "GH-\u206042"),
    "a mention": ("cc @octocat", "cc @\u2060octocat"),
    "a commit of another repository": ("octo/demo@abc1234", "octo/demo@\u2060abc123\u20604"),
    "an email": ("mail a@example.org", "mail a@\u2060example.org"),
    "a bare URL": ("https://evil.example/x", "https:\u2060//evil.example/x"),
    "a www host": ("www.evil.example", "www\u2060.evil.example"),
    "a commit id": ("0123456789abcdef", "012345\u20606789ab\u2060cdef"),
    "task and chunk ids stay whole": ("T-1A2B3C4D and C-001", "T-1A2B3C4D and C-001"),
    "joiners in the input are dropped first": ("see #\u2060\u2060123", "see #\u2060123"),
}


@pytest.mark.parametrize(("value", "shown"), list(AUTOLINKED.values()), ids=list(AUTOLINKED))
def test_references_github_would_autolink_are_shown_unlinked(value: str, shown: str) -> None:
    assert text(value) == shown
    assert f"> {shown}\n" in card(state(), record=task(description=value))


def test_a_card_of_a_thousand_stages_fits_githubs_limit() -> None:
    stages = [stage(n, f"agent_{n}", model="m" * 500 + "<&>" * 100) for n in range(1, 1001)]
    body = card(state(), stages)
    assert len(body) <= LIMIT
    assert "earlier stages not shown" in body
    assert "| 1000 | `agent_1000` |" in body


# ---- check runs ----------------------------------------------------------------------------------


def test_the_check_run_summary_mirrors_the_card() -> None:
    stages = [stage(1), stage(2, "reviewer")]
    title, summary, details = render.check_run_output(task(), WAITING, stages, pipeline="pr-review")
    assert title == "Waiting for approval: reviewer (stage 2)"
    assert summary == card(WAITING, stages).split("\n", 1)[1]
    assert "- **1** `planner` · ✅ done — output of stage 1" in details


def test_check_run_output_stays_under_the_limits() -> None:
    stages = [stage(n, output_text="x" * 70_000) for n in range(1, 400)]
    title, summary, details = render.check_run_output(task(), FAILED, stages)
    assert title == "Failed at stage 2"
    assert len(summary) <= 65_535 and len(details) <= 65_535


CHECK_STATES = {
    "queued": (state(TaskStatus.PENDING), ("queued", None)),
    "running": (state(), ("in_progress", None)),
    "a gate needs action": (WAITING, ("completed", "action_required")),
    "a question needs action": (ASKING, ("completed", "action_required")),
    "completed": (state(TaskStatus.COMPLETED), ("completed", "success")),
    "failed": (FAILED, ("completed", "failure")),
    "stalled is a failure": (state(TaskStatus.STALLED), ("completed", "failure")),
    "cancelled": (state(TaskStatus.CANCELLED), ("completed", "cancelled")),
}


@pytest.mark.parametrize(("task_state", "expected"), list(CHECK_STATES.values()), ids=list(CHECK_STATES))
def test_check_run_status_follows_the_task(task_state: TaskState, expected: tuple[str, str | None]) -> None:
    assert render.check_run_state(task_state) == expected


def test_check_run_buttons_appear_only_when_exactly_one_gate_waits() -> None:
    actions = render.check_run_actions(WAITING)
    assert [a["identifier"] for a in actions] == ["approve", "reject"]
    assert all(len(a["label"]) <= 20 and len(a["description"]) <= 40 for a in actions)
    assert render.check_run_actions(TWO_GATES) == [] and render.check_run_actions(state()) == []


# ---- stage comments ------------------------------------------------------------------------------


def test_a_stage_comment_fences_the_output_and_folds_the_transcript() -> None:
    [body] = render.stage_comment(
        ID, stage(2, "coder", model="sonnet"), transcript="user: hi\nassistant: hello"
    )
    assert body.startswith(f"<!-- aqm:stage {ID} 2 1/1 -->\n#### ✅ Stage 2 · `coder` · done")
    assert body.startswith(render.stage_marker(ID, 2))
    assert "<sub>claude · sonnet · 7.0s · 1,234 tokens · $0.01</sub>" in body
    assert "```\noutput of stage 2\n```" in body
    assert (
        "<details><summary>Transcript</summary>\n\n```\nuser: hi\nassistant: hello\n```\n\n</details>" in body
    )


def test_session_minutes_are_named_so() -> None:
    [body] = render.stage_comment(ID, stage(5, kind="session"), transcript="minutes")
    assert "<summary>Session minutes</summary>" in body and "· session ·" in body


def test_a_rejected_gate_shows_its_reason() -> None:
    [body] = render.stage_comment(
        ID, stage(3, gate_result="rejected", reject_reason="no tests"), transcript=None
    )
    assert "#### ↩️ Stage 3 · `planner` · rejected" in body and "**Gate: rejected** — no tests" in body


def test_an_empty_output_says_so() -> None:
    [body] = render.stage_comment(ID, stage(1, output_text=""), transcript=None)
    assert "*(no output)*" in body


def test_the_fence_is_longer_than_any_backtick_run_inside() -> None:
    [body] = render.stage_comment(ID, stage(1, output_text="a ```` b\n`````\n```"), transcript=None)
    assert "``````\na ```` b\n`````\n```\n``````" in body
    assert_inert(body)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_in_a_stage_comment_stay_inert(hostile: str) -> None:
    record = stage(
        1,
        hostile[:50].replace(" ", "_"),
        output_text=hostile,
        reject_reason=hostile,
        gate_result="rejected",
        error=hostile,
        retry_reason=hostile,
        retry_count=1,
        model=hostile,
    )
    [body] = render.stage_comment(ID, record, transcript=hostile)
    assert_inert(body)
    assert_our_details_balanced(body)


def test_a_megabyte_of_output_is_split_into_parts_each_under_the_limit() -> None:
    output = "".join(f"line {n:07d} " + "x" * 80 + "\n" for n in range(11_000))  # about 1 MB
    parts = render.stage_comment(
        ID,
        stage(4, output_text=output),
        transcript="t" * 300_000,
        details_url="https://aqm.example.com/tasks/T-1A2B3C",
    )
    assert len(parts) == render.MAX_STAGE_PARTS
    assert all(len(part) <= LIMIT for part in parts)
    assert [part.split("\n", 1)[0] for part in parts] == [
        f"<!-- aqm:stage {ID} 4 {i}/4 -->" for i in range(1, 5)
    ]
    assert "· part 2/4" in parts[1]
    shown = "\n".join(re.search(r"\n```\n(.*?)\n```\n", part, re.DOTALL)[1] for part in parts)  # type: ignore[index]
    assert output.startswith(shown + "\n")
    assert "more characters of output are not shown here" in parts[-1]
    assert "[the task's page](https://aqm.example.com/tasks/T-1A2B3C)" in parts[-1]
    assert "<details><summary>Transcript</summary>" in parts[-1] and "<details>" not in parts[0]
    for part in parts:
        assert_inert(part)


def test_an_output_that_fits_in_a_few_parts_is_not_cut() -> None:
    output = "y" * 99 + "\n"
    parts = render.stage_comment(ID, stage(1, output_text=output * 1_500), transcript=None)
    assert len(parts) == 3 and all(len(part) <= LIMIT for part in parts)
    assert "not shown" not in parts[-1]


@pytest.mark.parametrize(
    "output",
    ["z" * 1_000_000, "`" * 300_000 + "\n" + "~" * 300_000, ("`" * 70 + "a") * 10_000],
    ids=["one long line", "huge backtick and tilde runs", "many backtick runs"],
)
def test_pathological_outputs_still_fit(output: str) -> None:
    parts = render.stage_comment(ID, stage(1, output_text=output), transcript=output)
    assert 1 <= len(parts) <= render.MAX_STAGE_PARTS
    assert all(len(part) <= LIMIT for part in parts)
    for part in parts:
        prose(part)  # every fence is closed


def test_a_smaller_limit_is_honoured() -> None:
    parts = render.stage_comment(
        ID, stage(1, output_text="w\n" * 10_000), transcript="t\n" * 5_000, max_chars=4_000
    )
    assert all(len(part) <= 4_000 for part in parts)


# ---- replies -------------------------------------------------------------------------------------


def test_a_refusal_pings_the_commenter_and_names_the_command() -> None:
    body = render.refusal("octocat", RunCommand())
    assert body.startswith("@octocat, sorry: `/aqm run` needs write access")
    assert "`/approve` needs write access" in render.refusal("octocat", "/approve")


@pytest.mark.parametrize("hostile", ["evil[bot]", "<b>x</b>", "a b @everyone", "x`y"])
def test_a_refusal_of_an_odd_login_pings_no_one(hostile: str) -> None:
    assert_inert(render.refusal(hostile, RunCommand()))


def test_help_leads_with_the_did_you_mean() -> None:
    body = render.help_reply(Unknown("/aqm rnu", "/aqm run"))
    assert body.startswith("`/aqm rnu` is not an aqm command. Did you mean `/aqm run`?\n\n**aqm commands**")
    assert render.help_reply(None).startswith("**aqm commands**")
    assert_inert(render.help_reply(Unknown("/aqm <!--x", None)))


def test_an_invalid_command_gets_its_message_and_usage() -> None:
    [invalid] = parse_comment("/aqm run --pipline x")
    assert isinstance(invalid, Invalid)
    body = render.invalid_reply(invalid)
    assert "unknown option --pipline: did you mean --pipeline?" in body
    assert "```\n/aqm run --pipline x\n```" in body and "Usage: `/aqm run [--pipeline NAME]" in body
    assert_inert(body)


def test_validation_errors_are_listed_with_file_line_and_column() -> None:
    errors = [
        SpecError("unknown field 'handof'", ".aqm/agents.yaml", 7, 5, fix="did you mean 'handoffs'?"),
        SpecError("missing agents", ".aqm/agents.yaml", 1, 1),
        SpecError("</details>@everyone", ".aqm/config.yaml", 2, 3),
    ]
    body = render.validation_errors(errors)
    assert "has 3 errors" in body
    assert ".aqm/agents.yaml:1:1: missing agents\n.aqm/agents.yaml:7:5: unknown field 'handof'" in body
    assert "fix: did you mean 'handoffs'?" in body
    assert_inert(body)


def test_a_queued_run_points_at_the_active_one() -> None:
    body = render.queued_reply("T-ABCDEF", ID, active_url="https://github.com/o/r/issues/1#issuecomment-2")
    assert f"queued behind [`{ID}`](https://github.com/o/r/issues/1#issuecomment-2)" in body
    assert "`/aqm cancel T-ABCDEF`" in body


def test_a_stale_review_says_which_commit_the_gate_waits_for() -> None:
    body = render.stale_review_reply(ID, reviewed_sha="a" * 40, gate_sha="b" * 40, reviewer="alice")
    assert body.startswith("@alice, your review of `aaaaaaa` was not taken as an approval")
    assert "`bbbbbbb`" in body and f"`/approve {ID} [reason]`" in body
    rejecting = render.stale_review_reply(ID, reviewed_sha="a" * 40, gate_sha=None, approving=False)
    assert "a rejection" in rejecting and "no gate of that task waits" in rejecting


def test_several_waiting_gates_are_listed_with_their_commands() -> None:
    gates = [
        GateWait(agent_id="sec", stage=3, input="", output=""),
        GateWait(agent_id="perf", stage=4, input="", output=""),
    ]
    body = render.waiting_gates_reply(ID, gates)
    assert f"`/approve {ID} --agent sec [reason]`" in body and f"`/reject {ID} --agent perf <reason>`" in body
    assert "Nothing" in render.waiting_gates_reply(ID, [])


def test_a_fork_pull_request_waits_for_a_maintainer() -> None:
    body = render.fork_waiting_reply(pipeline="pr-review")
    assert "from a fork" in body and "`/aqm run`" in body and "`pr-review`" in body


# ---- the escaping primitives ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_becomes_one_inert_line(value: str) -> None:
    line = text(value, limit=1_000)
    assert "\n" not in line and "<" not in line
    assert_inert(f"x {line}")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_code_spans_and_blocks_contain_anything(value: str) -> None:
    assert_inert(f"x {code(value, limit=1_000)}")
    assert_inert(fenced(value))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=3_000), st.text(max_size=3_000))
def test_arbitrary_outputs_render_inert_and_within_limits(output: str, transcript: str) -> None:
    parts = render.stage_comment(ID, stage(1, output_text=output), transcript=transcript, max_chars=2_000)
    assert all(len(part) <= 2_000 for part in parts)
    for part in parts:
        assert_inert(part)


# ---- task commands -------------------------------------------------------------------------------


def test_the_chunk_reply_lists_every_chunk_with_its_status() -> None:
    chunks = (
        Chunk(id="C-001", description="write docs", status="done"),
        Chunk(id="C-002", description="test"),
    )
    body = render.chunks_reply(ID, chunks, note="Marked C-001 done.")
    assert body.startswith("Marked C-001 done.\n\n**Chunks of `T-1A2B3C`**: 1/2 done")
    assert "| `C-001` | ✅ done | write docs |" in body and "| `C-002` | ⬜ pending | test |" in body


def test_a_task_without_chunks_says_how_to_add_one() -> None:
    body = render.chunks_reply(ID, ())
    assert f"`{ID}` has no chunks yet. Add one with `/aqm chunks {ID} add <text>`." in body


def test_a_long_chunk_list_says_how_many_are_not_shown() -> None:
    chunks = tuple(Chunk(id=f"C-{n:03}", description=f"chunk {n}") for n in range(1, 8))
    body = render.chunks_reply(ID, chunks, limit=5)
    assert "0/7 done (2 more not shown)" in body and "C-006" not in body


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_chunks_and_notes_stay_inert(hostile: str) -> None:
    assert_inert(render.chunks_reply(ID, (Chunk(id="C-001", description=hostile),), note=f"Added: {hostile}"))


def test_a_task_problem_names_the_command_and_the_problem() -> None:
    body = render.task_problem_reply(
        "octocat",
        "/aqm restart",
        "Task T-1A2B3C cannot be restarted while it is in_progress",
        then="/aqm cancel T-1A2B3C",
        then_words="Stop it first:",
    )
    assert body.startswith("@octocat, `/aqm restart` did nothing: Task T-1A2B3C cannot be restarted")
    assert body.rstrip().endswith("Stop it first: `/aqm cancel T-1A2B3C`.")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_task_problem_with_hostile_text_stays_inert(hostile: str) -> None:
    body = render.task_problem_reply("octocat", RunCommand(), hostile, then=hostile, then_words=hostile)
    assert body.startswith("@octocat, ")  # the one ping: the commenter
    assert_inert(body.removeprefix("@octocat, "))


def test_a_card_warns_when_stages_run_unsandboxed() -> None:
    warned = card(state(), unsandboxed=True)
    assert "unsandboxed" in warned and "AQM_UNSAFE_UNSANDBOXED_STAGES" in warned
    assert "unsandboxed" not in card(state())
