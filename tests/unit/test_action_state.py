"""The Action's state commits: only aqm's own message shape names a thread and a blob."""

from __future__ import annotations

import pytest

from action.state import STATE_TITLE, _git_blob_sha, _named

BLOB = "0123456789abcdef0123456789abcdef01234567"
MESSAGES = {
    "aqm's message": (f"{STATE_TITLE}\n\nthread 7\nblob {BLOB}\n", (7, BLOB)),
    "another title": (f"aqm task state!\n\nthread 7\nblob {BLOB}", None),
    "no blank line": (f"{STATE_TITLE}\nthread 7\nblob {BLOB}\n", None),
    "a thread that is no number": (f"{STATE_TITLE}\n\nthread seven\nblob {BLOB}", None),
    "a short blob": (f"{STATE_TITLE}\n\nthread 7\nblob {BLOB[:39]}", None),
    "an upper-case blob": (f"{STATE_TITLE}\n\nthread 7\nblob {BLOB.upper()}", None),
    "a line more": (f"{STATE_TITLE}\n\nthread 7\nblob {BLOB}\nthread 8", None),
    "the blob first": (f"{STATE_TITLE}\n\nblob {BLOB}\nthread 7", None),
}


@pytest.mark.parametrize(("message", "named"), list(MESSAGES.values()), ids=list(MESSAGES))
def test_only_aqms_message_names_a_thread_and_a_blob(message: str, named: tuple[int, str] | None) -> None:
    assert _named(message) == named


def test_the_blob_sha_is_gits() -> None:
    assert _git_blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object
