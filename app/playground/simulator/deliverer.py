"""Signed webhook deliveries to the app, built from the simulator's current state.

Each action (`comment_created`, `review_submitted`, ...) changes the state the way a person on
GitHub would, builds the payload from that state, signs it with the App's webhook secret
(`githubkit.webhooks.sign`) and POSTs it with GitHub's headers
(https://docs.github.com/webhooks/webhook-events-and-payloads#delivery-headers).
`redeliver()` re-sends a delivery with the same GUID, as GitHub's "Redeliver" button does.
With `api_events=True` the deliverer also sends the events the App's own REST calls cause
(its comments as `<slug>[bot]`), so loop filtering can be tested.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx
from githubkit.webhooks import sign

from app.playground.simulator.apps import SimApps
from app.playground.simulator.core import ApiEvent
from app.playground.simulator.git import FileContent
from app.playground.simulator.payloads import PayloadBuilder
from app.playground.simulator.state import GitHubApp

HOOKSHOT = "GitHub-Hookshot/5a1e9d1"
ReviewVerdict = Literal["approved", "changes_requested", "commented"]
VERDICT_EVENTS = {"approved": "APPROVE", "changes_requested": "REQUEST_CHANGES", "commented": "COMMENT"}


@dataclass(frozen=True)
class Delivery:
    """One delivery: what was sent and, once posted, what the app answered."""

    event: str
    guid: str
    body: bytes
    headers: Mapping[str, str]
    response_status: int | None = None  # what the app answered; None until posted
    response_body: bytes = b""
    subject_id: int | None = None  # the comment, review, check run or issue the delivery is about

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def action(self) -> str | None:
        return self.payload.get("action")


@dataclass
class Deliverer:
    """Sends deliveries for one App to `url` (None: build and record only)."""

    sim: SimApps
    app: GitHubApp | None = None
    url: str | None = None
    transport: httpx.AsyncBaseTransport | None = None  # e.g. httpx.ASGITransport(app=aqm_app)
    client: httpx.AsyncClient | None = None  # an open client of the caller's (else one per post)
    secret: str | None = None  # default: the App's webhook secret
    hook_id: int = 1
    sent: list[Delivery] = field(default_factory=list)
    _pending: set[asyncio.Task[Delivery]] = field(default_factory=set)
    _background: list[Delivery] = field(default_factory=list)  # posted since the last drain()
    _last: asyncio.Task[Delivery] | None = None

    def __post_init__(self) -> None:
        self.payloads = PayloadBuilder(self.sim, self.app)
        if self.secret is None and self.app is not None:
            self.secret = self.app.webhook_secret

    # ---- building and sending ---------------------------------------------------------------

    def build(self, event: str, payload: Mapping[str, Any], *, subject_id: int | None = None) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Accept": "*/*",
            "Content-Type": "application/json",
            "User-Agent": HOOKSHOT,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": str(self.hook_id),
        }
        if self.app is not None:
            headers["X-GitHub-Hook-Installation-Target-Type"] = "integration"
            headers["X-GitHub-Hook-Installation-Target-ID"] = str(self.app.id)
        if self.secret:
            headers["X-Hub-Signature"] = sign(self.secret, body, "sha1")
            headers["X-Hub-Signature-256"] = sign(self.secret, body, "sha256")
        return Delivery(event, headers["X-GitHub-Delivery"], body, headers, subject_id=subject_id)

    async def post(self, delivery: Delivery) -> Delivery:
        """POST to the target (if any) and record the answer."""
        if self.url is None:
            self.sent.append(delivery)
            return delivery
        if self.client is not None:
            response = await self.client.post(self.url, content=delivery.body, headers=dict(delivery.headers))
        else:  # a client per post: background posts may run on another thread's loop (`serve()`)
            async with httpx.AsyncClient(transport=self.transport, timeout=30) as client:
                response = await client.post(self.url, content=delivery.body, headers=dict(delivery.headers))
        done = replace(delivery, response_status=response.status_code, response_body=response.content)
        self.sent.append(done)
        return done

    async def send(
        self, event: str, payload: Mapping[str, Any], *, subject_id: int | None = None
    ) -> Delivery:
        return await self.post(self.build(event, payload, subject_id=subject_id))

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """The same delivery again, same GUID and body."""
        return await self.post(replace(delivery, response_status=None, response_body=b""))

    # ---- what people do on GitHub -----------------------------------------------------------

    async def comment_created(self, repo: str, number: int, user: str, body: str) -> Delivery:
        comment = self.sim.add_comment(repo, number, user=user, body=body)
        payload = self.payloads.issue_comment("created", comment, comment.user)
        return await self.send("issue_comment", payload, subject_id=comment.id)

    async def comment_edited(
        self, repo: str, comment_id: int, body: str, *, user: str | None = None
    ) -> Delivery:
        comment, before = self.sim.edit_comment(repo, comment_id, body)
        sender = self.sim.user(user) if user else comment.user
        payload = self.payloads.issue_comment("edited", comment, sender, before=before)
        return await self.send("issue_comment", payload, subject_id=comment.id)

    async def issue_opened(
        self, repo: str, title: str, body: str | None = None, *, user: str, labels: tuple[str, ...] = ()
    ) -> Delivery:
        issue = self.sim.open_issue(repo, title, body, user=user, labels=labels)
        return await self.send(
            "issues", self.payloads.issues("opened", issue, issue.user), subject_id=issue.number
        )

    async def issue_labeled(self, repo: str, number: int, label: str, *, user: str) -> Delivery:
        self.sim.label_issue(repo, number, [label])
        issue = self.sim.issue(repo, number)
        payload = self.payloads.issues("labeled", issue, self.sim.user(user), label=label)
        return await self.send("issues", payload, subject_id=number)

    async def pull_request_opened(
        self, repo: str, *, head: str, title: str, user: str, base: str | None = None, body: str | None = None
    ) -> Delivery:
        pull = self.sim.open_pull(repo, head=head, base=base, title=title, body=body, user=user)
        payload = self.payloads.pull_request("opened", pull, pull.user)
        return await self.send("pull_request", payload, subject_id=pull.number)

    async def pull_request_synchronize(
        self,
        repo: str,
        number: int,
        *,
        user: str,
        files: Mapping[str, FileContent] | None = None,
        message: str = "Update",
    ) -> Delivery:
        """A push to the PR's branch: commits `files` first if given (else announces what was pushed)."""
        pull = self.sim.pull(repo, number)
        assert pull.pull is not None
        if files is not None:
            self.sim.commit(pull.pull.head_repo, files, branch=pull.pull.head_ref, message=message)
        before = pull.pull.last_head_sha
        payload = self.payloads.pull_request("synchronize", pull, self.sim.user(user), before=before)
        pull.pull.last_head_sha = payload["after"]
        return await self.send("pull_request", payload, subject_id=number)

    async def review_submitted(
        self,
        repo: str,
        number: int,
        *,
        user: str,
        state: ReviewVerdict,
        body: str = "",
        commit_id: str | None = None,
    ) -> Delivery:
        """A review; `commit_id` defaults to the PR's head now (pass an older SHA for a stale review)."""
        review = self.sim.submit_review(
            repo, number, user=user, event=VERDICT_EVENTS[state], body=body, commit_id=commit_id
        )
        payload = self.payloads.pull_request_review(review, review.user)
        return await self.send("pull_request_review", payload, subject_id=review.id)

    async def check_run_requested_action(
        self, repo: str, check_run_id: int, identifier: str, *, user: str
    ) -> Delivery:
        """A click on one of a check run's buttons (`actions[].identifier`)."""
        run = self.sim.check_run(repo, check_run_id)
        payload = self.payloads.check_run("requested_action", run, self.sim.user(user), identifier=identifier)
        return await self.send("check_run", payload, subject_id=run.id)

    # ---- events caused by REST calls (the App's own, too) -----------------------------------

    def payload_for(self, event: ApiEvent) -> dict[str, Any] | None:
        build = self.payloads
        match event.event:
            case "issue_comment":
                before = event.extra.get("changes", {}).get("body", {}).get("from")
                return build.issue_comment(event.action, event.subject, event.sender, before=before)
            case "issues":
                return build.issues(event.action, event.subject, event.sender, label=event.extra.get("label"))
            case "pull_request":
                return build.pull_request(event.action, event.subject, event.sender)
            case "pull_request_review":
                return build.pull_request_review(event.subject, event.sender)
            case "check_run":
                return build.check_run(event.action, event.subject, event.sender)
        return None

    def on_api_event(self, event: ApiEvent) -> None:
        """Build now (the state as it is), post in the background; `drain()` waits for the posts."""
        payload = self.payload_for(event)
        if payload is None:
            return
        delivery = self.build(event.event, payload, subject_id=getattr(event.subject, "id", None))
        previous = self._last
        task = asyncio.get_running_loop().create_task(self._post_in_background(delivery, previous))
        self._pending.add(task)
        self._last = task
        task.add_done_callback(self._pending.discard)

    async def _post_in_background(
        self, delivery: Delivery, previous: asyncio.Task[Delivery] | None
    ) -> Delivery:
        """Posts in the order the events happened, as GitHub does (mostly)."""
        if previous is not None and not previous.done() and previous.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([previous])
        done = await self.post(delivery)
        self._background.append(done)
        return done

    async def drain(self) -> list[Delivery]:
        """Wait until every background delivery has been posted; returns those posted since the last drain."""
        loop = asyncio.get_running_loop()
        while self._pending:
            here = [task for task in self._pending if task.get_loop() is loop]
            if here:
                await asyncio.gather(*here)
            else:  # posted from the served simulator's own loop: wait for that thread
                await asyncio.sleep(0.01)
        done, self._background = self._background, []
        return done
