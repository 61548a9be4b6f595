"""A delivery's one reply: everything it has to say, each thing once, under GitHub's limit."""

from __future__ import annotations

from app.github.commands import Invalid, RunCommand, Unknown
from app.github.render import MAX_COMMENT_CHARS
from app.github.replies import MAX_INVALID_SHOWN, Replies


def test_nothing_to_say_posts_nothing() -> None:
    assert Replies(login="octocat").render() is None


def test_a_thousand_refusals_and_unknown_verbs_make_one_short_reply() -> None:
    replies = Replies(login="octocat")
    for n in range(1_000):
        replies.refuse(RunCommand(text=str(n)))
        replies.ask_help(Unknown("/aqm rnu", "/aqm run"))
        replies.misread(Invalid(f"/aqm run --x{n % 10}", "unknown option"))
    body = replies.render() or ""
    assert body.count("@octocat, sorry: `/aqm run` needs write access") == 1
    assert body.count("**aqm commands**") == 1 and body.count("is not an aqm command") == 1
    assert body.count("Could not read this command") == MAX_INVALID_SHOWN
    assert f"{10 - MAX_INVALID_SHOWN} more lines could not be read either" in body
    assert len(body) < 10_000


def test_the_same_answer_twice_is_said_once_and_the_reply_fits_githubs_limit() -> None:
    replies = Replies(login="octocat")
    for n in range(30):
        replies.add("No aqm task on this thread yet.\n")
        replies.add(f"card {n}\n" + "x" * 10_000)
    body = replies.render() or ""
    assert body.count("No aqm task on this thread yet.") == 1
    assert len(body) <= MAX_COMMENT_CHARS and "more replies do not fit in this comment" in body
