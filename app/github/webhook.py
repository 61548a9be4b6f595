"""Webhook intake facts, as functions of bytes and headers: verify, name, parse.

The signature is checked over the raw request bytes (githubkit's constant-time `verify`);
nothing is parsed or stored before it passes. Payloads are read by app/github/events.py,
dispatched on `X-GitHub-Event` (never guessed from the body).

`delivery_key` names what a delivery is about, so that the same event under another GUID (the
GUID header is not signed: anyone holding one signed body can re-send it) is handled once: for
the events aqm acts on, the event, action, object id and `updated_at` (plus what tells two
changes of one second apart: the comment's text, the label, the pushed SHA); for every other
event, and for payloads without those fields, the SHA-256 of the body itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from app.errors import AqmError


class BadDelivery(AqmError):
    """A delivery we refuse: `status` is the HTTP answer (401 unsigned, 400 malformed)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class DeliveryHeaders:
    event: str
    delivery_id: str
    signature: str | None

    @classmethod
    def of(cls, headers: Any) -> DeliveryHeaders:
        event = headers.get("x-github-event")
        delivery_id = headers.get("x-github-delivery")
        if not event or not delivery_id:
            raise BadDelivery("missing X-GitHub-Event or X-GitHub-Delivery", status=400)
        return cls(event, delivery_id, headers.get("x-hub-signature-256"))


def verify_signature(body: bytes, signature: str | None, secret: str) -> None:
    """Raise BadDelivery(401) unless `signature` is the HMAC-SHA256 of the raw body."""
    from githubkit.webhooks import verify

    if not signature or not signature.startswith("sha256=") or not verify(secret, body, signature):
        raise BadDelivery("bad or missing X-Hub-Signature-256", status=401)


def action_of(body: bytes) -> str | None:
    """The payload's `action` (for the delivery record); BadDelivery(400) when it is not JSON."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadDelivery("the body is not JSON", status=400) from None
    if not isinstance(payload, dict):
        raise BadDelivery("the body is not a JSON object", status=400)
    action = payload.get("action")
    return action if isinstance(action, str) else None


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


def delivery_key(event: str, body: bytes) -> str:
    """What the delivery is about: equal for the same event delivered under two GUIDs."""
    try:
        payload = json.loads(body)
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
