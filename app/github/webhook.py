"""Webhook intake facts, as functions of bytes and headers: verify, name, parse.

The signature is checked over the raw request bytes with a constant-time comparison; nothing
is parsed or stored before it passes. Every refusal is a `BadDelivery` carrying the HTTP status
and a message that GitHub shows in the hook's "Recent Deliveries" (so the sender sees why):

    401  X-Hub-Signature-256 missing, repeated, malformed (not `sha256=` + 64 lower-case hex
         digits, non-ASCII included) or not the HMAC of the body
    400  X-GitHub-Event / X-GitHub-Delivery missing; a signed body that is not UTF-8, not JSON,
         not an object, or nested deeper than MAX_JSON_DEPTH
    413  a body over MAX_BODY_BYTES (checked by the server before and while reading it)

Payloads are read by app/github/events.py, dispatched on `X-GitHub-Event` (never guessed from
the body).

`delivery_key` names what a delivery is about, so that the same event under another GUID (the
GUID header is not signed: anyone holding one signed body can re-send it) is handled once: for
the events aqm acts on, the event, action, object id and `updated_at` (plus what tells two
changes of one second apart: the comment's text, the label, the pushed SHA); for every other
event, and for payloads without those fields, the SHA-256 of the body itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import operator
import re
from dataclasses import dataclass
from itertools import accumulate, count
from typing import Any

from app.errors import AqmError

# GitHub caps webhook payloads at 25 MB and does not deliver larger ones
# (https://docs.github.com/webhooks/webhook-events-and-payloads#payload-cap): nothing larger is real.
MAX_BODY_BYTES = 25 * 1024 * 1024
# Real payloads nest less than 20 deep; far above that, far below what a parser's recursion survives.
MAX_JSON_DEPTH = 128
SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")  # str pattern: ASCII digits and letters only
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: no backtracking blow-up
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_WEIGHT = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # opening 2, closing 0: depth = sum - n


class BadDelivery(AqmError):
    """A delivery we refuse: `status` is the HTTP answer (401 unsigned, 400 malformed, 413 too large)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class DeliveryHeaders:
    event: str
    delivery_id: str
    signature: str

    @classmethod
    def of(cls, headers: Any) -> DeliveryHeaders:
        """The delivery's headers; the signature header's form is checked first (401), before
        anything else is looked at or the body is read."""
        signature = signature_of(headers)
        event = headers.get("x-github-event")
        delivery_id = headers.get("x-github-delivery")
        if not event or not delivery_id:
            raise BadDelivery("missing X-GitHub-Event or X-GitHub-Delivery", status=400)
        return cls(event, delivery_id, signature)


def signature_of(headers: Any) -> str:
    """The one well-formed `X-Hub-Signature-256` value; BadDelivery(401) for none, two or a malformed one."""
    values = headers.getlist(SIGNATURE_HEADER)
    if not values:
        raise BadDelivery("missing X-Hub-Signature-256: set a secret on the webhook", status=401)
    if len(values) > 1:
        raise BadDelivery("more than one X-Hub-Signature-256 header", status=401)
    if not _SIGNATURE.fullmatch(values[0]):
        raise BadDelivery("malformed X-Hub-Signature-256: expected sha256= and 64 hex digits", status=401)
    return str(values[0])


def verify_signature(body: bytes, signature: str, secret: str) -> None:
    """Raise BadDelivery(401) unless `signature` is the HMAC-SHA256 of the raw body.

    The form is checked again here so that the comparison only ever sees ASCII text
    (`hmac.compare_digest` raises TypeError on non-ASCII str: a 500, not a 401)."""
    if not _SIGNATURE.fullmatch(signature):
        raise BadDelivery("malformed X-Hub-Signature-256: expected sha256= and 64 hex digits", status=401)
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise BadDelivery("X-Hub-Signature-256 does not match the body and the webhook secret", status=401)


def check_declared_length(headers: Any) -> None:
    """BadDelivery(413) when Content-Length announces more than MAX_BODY_BYTES (400 when it is
    malformed); nothing to check for a chunked body, which the reader counts instead."""
    values = headers.getlist("content-length")
    if not values:
        return
    if len(values) > 1 or not values[0].isascii() or not values[0].isdigit():
        raise BadDelivery("malformed Content-Length", status=400)
    if int(values[0]) > MAX_BODY_BYTES:
        raise too_large()


def too_large() -> BadDelivery:
    return BadDelivery(f"the body is over {MAX_BODY_BYTES} bytes, GitHub's payload cap", status=413)


@dataclass(frozen=True, slots=True)
class Payload:
    """A signed body, checked: its text (what the delivery record keeps) and its JSON object."""

    text: str
    data: dict[str, Any]

    @property
    def action(self) -> str | None:
        """The payload's `action` (for the delivery record), when it has one."""
        action = self.data.get("action")
        return action if isinstance(action, str) else None


def read_payload(body: bytes) -> Payload:
    """The body as a JSON object; BadDelivery(400) saying what is wrong with it.

    The nesting depth is measured before parsing, without recursion, so a deep body is a clear
    400 and never a RecursionError in a parser (json's here, pydantic's in the worker)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadDelivery("the body is not UTF-8", status=400) from None
    if json_depth(body) > MAX_JSON_DEPTH:
        raise BadDelivery(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels", status=400)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: cannot happen below the depth limit
        raise BadDelivery(
            "the body is not JSON (set the webhook's content type to application/json)", status=400
        ) from None
    if not isinstance(data, dict):
        raise BadDelivery("the body is not a JSON object", status=400)
    return Payload(text, data)


def json_depth(body: bytes) -> int:
    """How deep the brackets of a JSON text nest, strings skipped: exact for valid JSON.

    Linear and in C (a regex, two translations, an accumulate): a 25 MB body takes a moment and
    no stack, whatever its shape."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    weights = brackets.translate(_BRACKET_WEIGHT)
    return max(map(operator.sub, accumulate(weights), count(1)), default=0)


# event.action -> (the payload's object, the fields that tell two versions of it apart)
_KEYED: dict[str, tuple[str, tuple[str, ...]]] = {
    "issue_comment.created": ("comment", ("updated_at", "body")),
    "issue_comment.edited": ("comment", ("updated_at", "body")),
    "pull_request_review.submitted": ("review", ("submitted_at", "commit_id")),
    "issues.opened": ("issue", ("updated_at",)),
    "issues.labeled": ("issue", ("updated_at", "/label/name")),
    "pull_request.opened": ("pull_request", ("updated_at",)),
    "pull_request.labeled": ("pull_request", ("updated_at", "/label/name")),
    "pull_request.synchronize": ("pull_request", ("updated_at", "/after")),
}


def delivery_key(event: str, payload: dict[str, Any], body: bytes) -> str:
    """What the delivery is about: equal for the same event delivered under two GUIDs.

    `payload` is the body as `read_payload` parsed it (read once); `body` its raw bytes."""
    try:
        action = payload.get("action")
        kind, fields = _KEYED[f"{event}.{action}"]
        subject = payload[kind]
        parts = [subject["id"], *(_field(payload, subject, name) for name in fields)]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "sha256:" + hashlib.sha256(body).hexdigest()
    if any(part is None or part == "" for part in parts[:2]):
        return "sha256:" + hashlib.sha256(body).hexdigest()
    digest = hashlib.sha256(json.dumps(parts[1:]).encode()).hexdigest()[:32]
    return f"{event}.{action}:{kind}:{parts[0]}:{parts[1]}:{digest}"


def _field(payload: dict[str, Any], subject: dict[str, Any], name: str) -> Any:
    """A field of the event's object, or (`/a/b`) of the whole payload."""
    if not name.startswith("/"):
        return subject.get(name)
    value: Any = payload
    for step in name.strip("/").split("/"):
        value = value.get(step) if isinstance(value, dict) else None
    return value
