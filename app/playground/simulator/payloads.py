"""Webhook payloads built from the simulator's current state on top of the fixed templates
(`templates.py`): the issue, comment, pull request, review or check run, the repository, the sender
and the installation all match what the REST API would answer at that moment.
"""

from __future__ import annotations

from typing import Any

from app.playground.simulator import render, render_threads
from app.playground.simulator.apps import SimApps
from app.playground.simulator.examples import overlay, rehome
from app.playground.simulator.state import Account, CheckRun, Comment, GitHubApp, Issue, Review, node_id
from app.playground.simulator.templates import Payload, template


class PayloadBuilder:
    """Builds the payload of each event an App subscribed to; `app` picks the installation."""

    def __init__(self, sim: SimApps, app: GitHubApp | None) -> None:
        self.sim = sim
        self.app = app

    def _common(self, base: Payload, repo_name: str, sender: Account) -> Payload:
        """`repository`, `sender`, `organization` and `installation` on top of a template."""
        ctx, repo = self.sim.ctx, self.sim.repo(repo_name)
        base = rehome(base, ctx.urls, repo_name)
        base["repository"] = render.repository(ctx, repo, base=base["repository"])
        base["sender"] = overlay(base["sender"], render.user(ctx, sender))
        base.pop("organization", None)
        if repo.owner.type == "Organization":
            base["organization"] = render.organization(ctx, repo.owner)
        base.pop("installation", None)
        installation = self._installation_id(repo_name)
        if installation is not None:
            base["installation"] = {"id": installation, "node_id": node_id("Installation", installation)}
        return base

    def _installation_id(self, repo_name: str) -> int | None:
        if self.app is None:
            return None
        repo = self.sim.repo(repo_name)
        found = [
            i for i in self.sim.world.installations.values() if i.app_id == self.app.id and i.covers(repo)
        ]
        return found[0].id if found else None

    def issue_comment(
        self, action: str, comment: Comment, sender: Account, *, before: str | None = None
    ) -> Payload:
        thread = self.sim.issue(comment.repo, comment.issue_number)
        name = (
            "issue_comment.created.pull_request" if thread.pull else "issue_comment.created.with-installation"
        )
        payload = self._common(template(name), comment.repo, sender)
        payload["action"] = action
        payload["issue"] = render_threads.issue(self.sim.ctx, thread, base=payload["issue"])
        payload["comment"] = render_threads.comment(self.sim.ctx, comment, base=payload["comment"])
        if action == "edited":
            payload["changes"] = {"body": {"from": before or ""}}
        return payload

    def issues(self, action: str, issue: Issue, sender: Account, *, label: str | None = None) -> Payload:
        payload = self._common(template("issues.labeled" if label else "issues.opened"), issue.repo, sender)
        payload["action"] = action
        payload["issue"] = render_threads.issue(self.sim.ctx, issue, base=payload["issue"])
        if label is not None:
            payload["label"] = render.label(self.sim.ctx, issue.repo, self.sim.repo(issue.repo).labels[label])
        return payload

    def pull_request(
        self, action: str, issue: Issue, sender: Account, *, before: str | None = None
    ) -> Payload:
        name = {"synchronize": "pull_request.synchronize", "closed": "pull_request.closed"}
        payload = self._common(template(name.get(action, "pull_request.opened")), issue.repo, sender)
        snap = self.sim.pull_snapshot(issue, stats=True)
        payload |= {"action": action, "number": issue.number}
        payload["pull_request"] = self._webhook_pull(issue, snap, payload["pull_request"])
        if action == "synchronize":
            payload |= {"before": before or snap.head_sha, "after": snap.head_sha}
        return payload

    def _webhook_pull(
        self, issue: Issue, snap: render_threads.PullSnapshot, base: Payload, *, simple: bool = False
    ) -> Payload:
        """The REST pull request laid over the template, with webhook-shaped head/base repositories."""
        pull = render_threads.pull(self.sim.ctx, issue, snap, base=base, simple=simple)
        for side in ("head", "base"):
            repo = self.sim.repo(pull[side]["repo"]["full_name"])
            pull[side]["repo"] = render.repository(
                self.sim.ctx, repo, base=rehome(base[side]["repo"], self.sim.urls)
            )
        return pull

    def pull_request_review(self, review: Review, sender: Account) -> Payload:
        name = {"APPROVED": "pull_request_review.submitted.approved"}
        name |= {"CHANGES_REQUESTED": "pull_request_review.submitted.changes_requested"}
        payload = self._common(
            template(name.get(review.state, "pull_request_review.submitted")), review.repo, sender
        )
        issue = self.sim.pull(review.repo, review.number)
        snap = self.sim.pull_snapshot(issue, stats=True)
        # a review's pull request has the `simple` shape (no merge state, no counts)
        payload["pull_request"] = self._webhook_pull(issue, snap, payload["pull_request"], simple=True)
        payload["review"] = render_threads.review(self.sim.ctx, review, base=payload["review"])
        payload["review"]["state"] = review.state.lower()  # webhooks use lower case
        return payload

    def check_run(
        self, action: str, run: CheckRun, sender: Account, *, identifier: str | None = None
    ) -> Payload:
        name = "check_run.requested_action" if action == "requested_action" else f"check_run.{action}"
        payload = self._common(template(name), run.repo, sender)
        pulls = self.sim.open_pulls_at(run.repo, run.head_sha)
        rendered = render_threads.check_run(self.sim.ctx, run, pulls, base=payload["check_run"])
        rendered["check_suite"] = self._check_suite(run, payload["check_run"]["check_suite"], rendered)
        payload |= {"action": action, "check_run": rendered}
        if identifier is not None:
            payload["requested_action"] = {"identifier": identifier}
        return payload

    def _check_suite(self, run: CheckRun, base: Payload, rendered: Payload) -> Payload:
        branch = next(
            (b for b, sha in self.sim.repo(run.repo).git.branches().items() if sha == run.head_sha), None
        )
        fields: dict[str, Any] = {
            "id": run.suite_id,
            "node_id": node_id("CheckSuite", run.suite_id),
            "head_branch": branch,
            "head_sha": run.head_sha,
            "status": run.status,
            "conclusion": run.conclusion,
            "url": f"{self.sim.ctx.repo_api(run.repo)}/check-suites/{run.suite_id}",
            "pull_requests": rendered["pull_requests"],
            "app": rendered["app"],
        }
        return overlay(rehome(base, self.sim.urls, run.repo), fields)
