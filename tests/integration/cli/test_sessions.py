"""Sessions through `aqm run`: rounds until a vote consensus, the summary, the handoff after, chunks."""

from __future__ import annotations

from tests.integration.cli.conftest import Project, script_rule, sha256, stage_rows

TOPIC = "choose a database"
MEETING = """
    agents:
      - id: meeting
        type: session
        participants: [alice, bob]
        summary_agent: alice
        max_rounds: 4
        consensus: {method: vote, keyword: "VOTE: AGREE"}
        handoffs: [{to: writer}]
      - id: alice
        runtime: claude
        system_prompt: "Topic: {{ input }}\\n{{ transcript }}"
      - id: bob
        runtime: gemini
        system_prompt: "Topic: {{ input }}\\n{{ transcript }}"
      - id: writer
        runtime: codex
        system_prompt: "Write up: {{ input }}"
"""


def test_a_session_reaches_vote_consensus_then_summarises_and_hands_off(project: Project) -> None:
    project.pipeline(MEETING)
    project.fakes.script(
        script_rule("claude", match="reached consensus", text="We use PostgreSQL."),
        # not a vote: the keyword is not on a line of its own
        script_rule("claude", times=1, text="PostgreSQL? I will NOT VOTE: AGREE yet."),
        script_rule("claude", text="PostgreSQL it is.\nVOTE: AGREE"),
        script_rule("gemini", text="Fine by me.\nVOTE: AGREE"),
    )

    ran = project.run(TOPIC).ok()

    assert "Status: completed" in ran.stdout
    # round 1: alice, bob; round 2: alice, bob; the summary by alice; then the writer
    assert project.clis() == ["claude", "gemini", "claude", "gemini", "claude", "codex"]
    assert project.calls("codex")[0]["stdin_sha256"] == sha256("Write up: We use PostgreSQL.")
    rows = stage_rows(project.status(ran.task_id))
    assert [(r["AGENT"], r["KIND"]) for r in rows] == [
        ("alice", "turn"),
        ("bob", "turn"),
        ("alice", "turn"),
        ("bob", "turn"),
        ("alice", "summary"),
        ("meeting", "session"),
        ("writer", "agent"),
    ]
    transcript = project.aqm("context", ran.task_id, "--transcript").ok().stdout
    assert transcript.index("## Round 1") < transcript.index("## Round 2") < transcript.index("Final Summary")
    assert "I will NOT VOTE: AGREE yet." in transcript and "We use PostgreSQL." in transcript
    assert "## Round 3" not in transcript


CHUNKED = """
    agents:
      - id: planning
        type: session
        participants: [alice, bob]
        max_rounds: 1
        chunks: {initial: ["design the schema"]}
      - id: alice
        runtime: claude
        system_prompt: "{{ chunks }}"
      - id: bob
        runtime: gemini
        system_prompt: "{{ chunks }}"
"""


def chunk_rows(text: str) -> dict[str, tuple[str, str]]:
    """`| C-001 | ✅ done | text |` rows of a chunks table: id -> (status word, description)."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("C-"):
            rows[cells[0]] = (cells[1].split()[-1], cells[2])
    return rows


def test_chunk_directives_and_the_chunks_command_edit_a_tasks_chunks(project: Project) -> None:
    project.pipeline(CHUNKED)
    project.fakes.script(
        script_rule("claude", text="CHUNK_ADD: write the migrations\nCHUNK_DONE: C-001\nVOTE: AGREE"),
        script_rule("gemini", text="CHUNK_ADD: load test it\nVOTE: AGREE"),
    )
    task_id = project.run(TOPIC).ok().task_id
    table_bob_saw = (
        "| ID | Status | Description |\n|----|--------|-------------|\n"
        "| C-001 | ✅ done | design the schema |\n| C-002 | ⬜ pending | write the migrations |\n"
        "\n**Progress: 1/2 done, 1 remaining**"
    )
    assert project.calls("gemini")[0]["stdin_sha256"] == sha256(table_bob_saw)  # alice's changes
    assert chunk_rows(project.aqm("chunks", "list", task_id).ok().stdout) == {
        "C-001": ("done", "design the schema"),
        "C-002": ("pending", "write the migrations"),
        "C-003": ("pending", "load test it"),
    }

    project.aqm("chunks", "add", task_id, "write the docs").ok()
    project.aqm("chunks", "done", task_id, "C-002").ok()
    listed = project.aqm("chunks", "remove", task_id, "C-003").ok().stdout

    assert chunk_rows(listed) == {
        "C-001": ("done", "design the schema"),
        "C-002": ("done", "write the migrations"),
        "C-004": ("pending", "write the docs"),
    }
    assert "**Progress: 2/3 done, 1 remaining**" in listed
