"""The comment grammar: one row per behaviour, and arbitrary text never raises."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.github.commands import (
    HELP_TEXT,
    MAX_BODY_CHARS,
    MAX_COMMAND_LINES,
    AnswerCommand,
    ApproveCommand,
    CancelCommand,
    ChunksCommand,
    CommentCommand,
    FixCommand,
    HelpCommand,
    Invalid,
    RejectCommand,
    RestartCommand,
    RunCommand,
    StatusCommand,
    Unknown,
    command_name,
    needs_write,
    parse_comment,
)

ID = "T-1A2B3C"

PARSES = {
    # run
    "run with task text": ("/aqm run add rate limiting", [RunCommand(text="add rate limiting")]),
    "run without text leaves the task to the caller": ("/aqm run", [RunCommand()]),
    "run with every option": (
        "/aqm run --pipeline pr-review --agent coder --param lang=python --param depth=2 tidy up",
        [RunCommand("pr-review", "coder", {"lang": "python", "depth": "2"}, "tidy up")],
    ),
    "run options written with =": (
        "/aqm run --pipeline=pr-review --param=a=b=c",
        [RunCommand(pipeline="pr-review", params={"a": "b=c"})],
    ),
    "a quoted option value keeps its spaces": (
        '/aqm run --param \'msg=hello world\' --param "x=say \\"hi\\"" go',
        [RunCommand(params={"msg": "hello world", "x": 'say "hi"'}, text="go")],
    ),
    "task text is the rest of the line, quotes and apostrophes included": (
        '/aqm run don\'t touch "the" --flags here',
        [RunCommand(text='don\'t touch "the" --flags here')],
    ),
    "task text that is one quoted word loses its quotes": ('/aqm run "fix it"', [RunCommand(text="fix it")]),
    "-- ends the options": ("/aqm run -- --verbose output", [RunCommand(text="--verbose output")]),
    "an em dash typed for -- still reads as an option": (
        "/aqm run —pipeline x go",
        [RunCommand("x", text="go")],
    ),
    "run takes no task id: it is task text": (f"/aqm run {ID} again", [RunCommand(text=f"{ID} again")]),
    "verbs and prefix are case-insensitive": ("/AQM Run it", [RunCommand(text="it")]),
    "option names are case-insensitive": ("/aqm run --Pipeline x", [RunCommand(pipeline="x")]),
    # answer, fix
    "answer with a task id": (f"/aqm answer {ID} use PostgreSQL", [AnswerCommand(ID, "use PostgreSQL")]),
    "answer without a task id": ("/aqm answer use PostgreSQL", [AnswerCommand(None, "use PostgreSQL")]),
    "task ids are normalised to upper case": ("/aqm answer t-1a2b3c yes", [AnswerCommand(ID, "yes")]),
    "task ids may be longer than six digits": ("/aqm cancel T-1A2B3C4D", [CancelCommand("T-1A2B3C4D")]),
    "fix with a task id": (f"/aqm fix {ID} handle the empty list", [FixCommand(ID, "handle the empty list")]),
    # cancel, restart, status
    "cancel the newest task": ("/aqm cancel", [CancelCommand()]),
    "cancel a named task": (f"/aqm cancel {ID}", [CancelCommand(ID)]),
    "restart from the failed stage": (f"/aqm restart {ID}", [RestartCommand(ID)]),
    "restart from a stage": (f"/aqm restart {ID} --from-stage 3", [RestartCommand(ID, 3)]),
    "options and task id in any order": (f"/aqm restart --from-stage 2 {ID}", [RestartCommand(ID, 2)]),
    "status": ("/aqm status", [StatusCommand()]),
    "status of a task": (f"/aqm status {ID}", [StatusCommand(ID)]),
    # chunks
    "chunks lists by default": ("/aqm chunks", [ChunksCommand()]),
    "chunks list": (f"/aqm chunks {ID} list", [ChunksCommand(ID)]),
    "chunks add": (
        '/aqm chunks add "write the migration"',
        [ChunksCommand(None, "add", "write the migration")],
    ),
    "chunks done normalises the chunk id": (
        f"/aqm chunks {ID} done c-002",
        [ChunksCommand(ID, "done", "C-002")],
    ),
    "chunks remove": ("/aqm chunks remove C-001", [ChunksCommand(None, "remove", "C-001")]),
    # help
    "help": ("/aqm help", [HelpCommand()]),
    "bare /aqm is help": ("/aqm", [HelpCommand()]),
    # approve, reject
    "approve": ("/approve", [ApproveCommand()]),
    "approve with a reason": ("/approve looks right", [ApproveCommand(reason="looks right")]),
    "approve a named task and gate": (
        f"/approve {ID} --agent reviewer ship it",
        [ApproveCommand(ID, "reviewer", "ship it")],
    ),
    "/aqm approve is understood too": (f"/aqm approve {ID}", [ApproveCommand(ID)]),
    "reject with a reason": (
        f"/reject {ID} the tests are missing",
        [RejectCommand(ID, None, "the tests are missing")],
    ),
    "reject naming the gate": ("/reject --agent=rev nope", [RejectCommand(None, "rev", "nope")]),
    # where commands are read
    "up to three leading spaces": ("   /aqm status", [StatusCommand()]),
    "one command per line, in order": (
        "Thanks!\n/aqm cancel\nsome prose\n/aqm run again\r\n/approve",
        [CancelCommand(), RunCommand(text="again"), ApproveCommand()],
    ),
    "a command mid-line is prose": ("please /aqm run this", []),
    "four spaces make an indented code block": ("    /aqm run", []),
    "a tab makes an indented code block": ("\t/aqm run", []),
    "quoted lines are ignored": ("> /aqm run\n>/approve\n  > /reject no", []),
    "a reply under a quote counts": ("> /aqm run\n\n/aqm status", [StatusCommand()]),
    "backtick fences hide commands": ("```\n/aqm run\n```\n/aqm status", [StatusCommand()]),
    "tilde fences hide commands": ("~~~md\n/aqm run\n~~~\n/aqm status", [StatusCommand()]),
    "a fence closes only with its own kind and length": (
        "````\n```\n/aqm run\n~~~~\n````\n/aqm help",
        [HelpCommand()],
    ),
    "an unclosed fence hides the rest": ("```\n/aqm run", []),
    "inline code is not a fence": ("```not a fence``` here\n/aqm help", [HelpCommand()]),
    "html comments hide commands": ("<!--\n/aqm run\n-->\n/aqm help", [HelpCommand()]),
    "an html comment in inline code hides nothing": ("use `<!--` to\n/aqm help", [HelpCommand()]),
    "a <details> block hides commands": (
        "<details><summary>old</summary>\n\n/aqm run\n\n</details>\n/aqm help",
        [HelpCommand()],
    ),
    "a <pre> block hides commands": ("<PRE>\n/aqm run\n</pre>\n/aqm help", [HelpCommand()]),
    "a <code> element over lines hides commands": ("<code>\n/approve\n</code>\n/aqm help", [HelpCommand()]),
    "nested hiding elements close in order": (
        "<details>\n<pre>\n</pre>\n/aqm run\n</details>\n/aqm help",
        [HelpCommand()],
    ),
    "an unclosed <details> hides the rest": ("<details open>\n/aqm run", []),
    "an element opened and closed on one line hides nothing": (
        "see <code>x</code> and <details>y</details>\n/aqm help",
        [HelpCommand()],
    ),
    "a tag in inline code or an html comment opens nothing": (
        "type `<details>` or <!-- <pre> -->\n/aqm help",
        [HelpCommand()],
    ),
    "a tag in a fenced block opens nothing": ("```\n<details>\n```\n/aqm help", [HelpCommand()]),
    "other bots' commands are not ours": ("/assign @me\n/retest\n/improve\n/review", []),
    "a word starting with /aqm is not a command": ("/aqmfoo run", []),
    "/approve must be a whole word": ("/approve, thanks", []),
}

ERRORS = {
    "unknown verb with did-you-mean": ("/aqm rnu", Unknown("/aqm rnu", "/aqm run")),
    "unknown verb near status": ("/aqm stat", Unknown("/aqm stat", "/aqm status")),
    "a word for a command we name otherwise": ("/aqm retry", Unknown("/aqm retry", "/aqm restart")),
    "unknown verb with nothing close": ("/aqm frobnicate", Unknown("/aqm frobnicate", None)),
    "a typo of /approve": ("/aprove", Unknown("/aprove", "/approve")),
    "a typo of /reject": ("/rejcet it", Unknown("/rejcet", "/reject")),
}

INVALID = {
    "unknown option with did-you-mean": ("/aqm run --pipline x", "did you mean --pipeline?"),
    "an option the verb does not take": (f"/aqm cancel {ID} --force", "takes none"),
    "an option without its value": ("/aqm run --pipeline", "--pipeline needs a value"),
    "an option followed by another option": ("/aqm run --agent --pipeline x", "--agent needs a value"),
    "an option given twice": ("/aqm run --pipeline a --pipeline b", "given 2 times"),
    "an unclosed quote": ('/aqm run --param "msg=oops', "no closing quotation"),
    "a param without =": ("/aqm run --param lang", "KEY=VALUE"),
    "a param key that is not a name": ("/aqm run --param '$x=1'", "KEY=VALUE"),
    "a param given twice": ("/aqm run --param a=1 --param a=2", "given twice"),
    "a pipeline name with a slash": ("/aqm run --pipeline ../x", "not a pipeline name"),
    "an agent id with a space": ("/aqm run --agent 'a b'", "not an agent id"),
    "a short task id": ("/aqm cancel T-12", "at least six hex digits"),
    "a stage that is not a number": (f"/aqm restart {ID} --from-stage two", "stage number"),
    "stage zero": (f"/aqm restart {ID} --from-stage 0", "stage number"),
    "answer without text": (f"/aqm answer {ID}", "the answer is missing"),
    "fix without text": ("/aqm fix", "what to change is missing"),
    "reject without a reason": (f"/reject {ID}", "the reason is missing"),
    "words after cancel": (f"/aqm cancel {ID} now please", "unexpected 'now please'"),
    "chunks add without text": ("/aqm chunks add", "the chunk's text is missing"),
    "chunks done without an id": ("/aqm chunks done", "chunk id"),
    "chunks done with a bad id": ("/aqm chunks done 7", "not a chunk id"),
    "unknown chunks action": ("/aqm chunks ad x", "did you mean 'add'?"),
    "an over-long line": ("/aqm run " + "x" * 9_000, "longer than"),
}


@pytest.mark.parametrize(("body", "expected"), list(PARSES.values()), ids=list(PARSES))
def test_comments_parse_into_commands(body: str, expected: list[CommentCommand]) -> None:
    assert parse_comment(body) == expected


@pytest.mark.parametrize(("body", "expected"), list(ERRORS.values()), ids=list(ERRORS))
def test_unknown_verbs_get_a_did_you_mean(body: str, expected: Unknown) -> None:
    assert parse_comment(body) == [expected]


@pytest.mark.parametrize(("body", "message"), list(INVALID.values()), ids=list(INVALID))
def test_bad_lines_become_invalid_with_a_message_and_usage(body: str, message: str) -> None:
    [result] = parse_comment(body)
    assert isinstance(result, Invalid), result
    assert message in result.message
    assert result.usage.startswith(("/aqm ", "/approve", "/reject"))


EDITS = {
    "an edit that keeps the command runs nothing": ("/aqm run go", "/aqm run go\n\nthanks", []),
    "whitespace changes do not make a new command": ("/aqm run  go", "  /aqm run go ", []),
    "an added command line runs once": ("/aqm run go", "/aqm run go\n/aqm status", [StatusCommand()]),
    "a changed command line is new": ("/aqm run go", "/aqm run stop", [RunCommand(text="stop")]),
    "a second copy of a kept line is new": ("/aqm cancel", "/aqm cancel\n/aqm cancel", [CancelCommand()]),
    "a command moved out of a code block is new": ("```\n/aqm cancel\n```", "/aqm cancel", [CancelCommand()]),
    "an old invalid line is not answered again": ("/aqm rnu", "/aqm rnu\nfixed typo below", []),
}


@pytest.mark.parametrize(("before", "after", "expected"), list(EDITS.values()), ids=list(EDITS))
def test_edits_count_only_the_command_lines_they_add(
    before: str, after: str, expected: list[CommentCommand]
) -> None:
    assert parse_comment(after, previous=before) == expected


def test_a_body_over_githubs_limit_is_ignored() -> None:
    assert parse_comment("/aqm cancel\n" + "x" * MAX_BODY_CHARS) == []


def test_at_most_the_first_command_lines_are_read() -> None:
    commands = parse_comment("/aqm status\n" * (MAX_COMMAND_LINES + 50))
    assert len(commands) == MAX_COMMAND_LINES


@pytest.mark.parametrize(
    "body",
    [
        "`" * 65_000,
        "<!--" + "`" * 65_000,
        "``a`" * 16_000 + "<!--",
        "<!-- ` " * 9_000,
        "/aprovee x\n" * 6_000,
    ],
    ids=["backticks", "backticks after a comment", "mixed runs", "comments and ticks", "many near-typos"],
)
def test_pathological_bodies_parse_in_linear_time(body: str) -> None:
    started = time.perf_counter()
    parse_comment(body)
    assert time.perf_counter() - started < 2


WRITE = {
    "run": (RunCommand(), True),
    "answer": (AnswerCommand(None, "x"), True),
    "cancel": (CancelCommand(), True),
    "restart": (RestartCommand(), True),
    "fix": (FixCommand(None, "x"), True),
    "chunks": (ChunksCommand(), True),
    "approve": (ApproveCommand(), True),
    "reject": (RejectCommand(None, None, "x"), True),
    "help": (HelpCommand(), False),
    "status": (StatusCommand(), False),
    "unknown only gets help": (Unknown("/aqm x"), False),
    "invalid only gets its message": (Invalid("/aqm run --x", "bad"), False),
}


@pytest.mark.parametrize(("command", "expected"), list(WRITE.values()), ids=list(WRITE))
def test_every_command_but_help_and_status_needs_write_access(
    command: CommentCommand, expected: bool
) -> None:
    assert needs_write(command) is expected


def test_command_names_are_what_users_type() -> None:
    assert command_name(RunCommand()) == "/aqm run"
    assert command_name(RejectCommand(None, None, "x")) == "/reject"
    assert command_name(Unknown("/aqm rnu", "/aqm run")) == "/aqm rnu"


def test_the_help_text_lists_every_verb_and_runs_nothing() -> None:
    for verb in ("run", "answer", "cancel", "restart", "fix", "status", "chunks", "help"):
        assert f"`/aqm {verb}" in HELP_TEXT
    assert "`/approve" in HELP_TEXT and "`/reject" in HELP_TEXT
    assert parse_comment(HELP_TEXT) == []


LINE_PARTS = st.sampled_from(
    [
        "/aqm ",
        "/approve ",
        "/reject ",
        "/aqm run ",
        "/aqm chunks ",
        "/aqm restart ",
        "--pipeline ",
        "--param ",
        "--agent=",
        "--from-stage ",
        "--",
        "—",
        "T-1A2B3C ",
        "t-1a ",
        "C-001 ",
        "add ",
        "done ",
        "'",
        '"',
        "\\",
        "=",
        "```",
        "~~~",
        "> ",
        "    ",
        "\t",
        "<!--",
        "-->",
        "`",
        "\n",
        "\r",
        " ",
        "x",
        "\u00a0",
        "\u2028",
        "é",
        "\x00",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(LINE_PARTS | st.text(max_size=8), max_size=40).map("".join), st.none() | st.text(max_size=50))
def test_arbitrary_text_never_raises(body: str, previous: str | None) -> None:
    for command in parse_comment(body, previous=previous):
        assert isinstance(command, CommentCommand)
        needs_write(command)
        command_name(command)
