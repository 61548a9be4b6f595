"""Check runs and commit statuses, validated as GitHub validates them
(https://docs.github.com/rest/checks/runs, https://docs.github.com/rest/commits/statuses).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.playground.simulator.core import SimCore
from app.playground.simulator.errors import NotFound, Unprocessable, invalid
from app.playground.simulator.state import Account, CheckRun, Status

CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out")
STATUS_STATES = ("error", "failure", "pending", "success")
MAX_OUTPUT_CHARS = 65_535
MAX_ACTIONS = 3
MAX_STATUS_DESCRIPTION = 140
ACTION_LIMITS = {"label": 20, "description": 40, "identifier": 20}


class SimChecks(SimCore):
    """Check runs (written by Apps only) and commit statuses."""

    def create_check_run(
        self, full_name: str, *, app_id: int, name: str, head_sha: str, **fields: Any
    ) -> CheckRun:
        repo = self.repo(full_name)
        sha = repo.git.resolve(head_sha)
        if not name:
            raise invalid("CheckRun", "name", "missing_field")
        if sha is None or sha != head_sha:
            raise Unprocessable(
                {"resource": "CheckRun", "code": "custom", "message": f"No commit found for SHA: {head_sha}"}
            )
        suite = next(
            (r.suite_id for r in self.world.check_runs.values() if r.repo == full_name and r.head_sha == sha),
            None,
        )
        run = CheckRun(self.world.next_id(), full_name, name, sha, app_id, suite or self.world.next_id())
        run.started_at = self.world.clock.now()
        self._apply_check_fields(run, fields)
        self.world.check_runs[run.id] = run
        return run

    def check_run(self, full_name: str, run_id: int) -> CheckRun:
        run = self.world.check_runs.get(run_id)
        if run is None or run.repo != full_name:
            raise NotFound()
        return run

    def update_check_run(self, full_name: str, run_id: int, **fields: Any) -> CheckRun:
        run = self.check_run(full_name, run_id)
        self._apply_check_fields(run, fields)
        return run

    def _apply_check_fields(self, run: CheckRun, fields: dict[str, Any]) -> None:
        fields = {key: value for key, value in fields.items() if value is not None}
        _validate_check_fields(fields)
        for key in ("name", "details_url", "external_id"):
            if key in fields:
                setattr(run, key, fields[key])
        if "output" in fields:
            run.output = {k: v for k, v in fields["output"].items() if k in ("title", "summary", "text")}
        if "actions" in fields:
            run.actions = [dict(action) for action in fields["actions"]]
        self._apply_check_progress(run, fields)

    def _apply_check_progress(self, run: CheckRun, fields: dict[str, Any]) -> None:
        """`conclusion` (or `completed_at`) forces `completed`, as on GitHub."""
        if "started_at" in fields:
            run.started_at = _parse_time(fields["started_at"], "started_at")
        if "status" in fields:
            run.status = fields["status"]
        if "conclusion" in fields or "completed_at" in fields:
            run.status = "completed"
        if "conclusion" in fields:
            run.conclusion = fields["conclusion"]
        if run.status == "completed":
            if run.conclusion is None:
                raise invalid("CheckRun", "conclusion", "missing_field")
            completed = fields.get("completed_at")
            run.completed_at = _parse_time(completed, "completed_at") if completed else self.world.clock.now()
        else:
            run.conclusion, run.completed_at = None, None

    def check_runs_for(self, full_name: str, sha: str) -> list[CheckRun]:
        return [r for r in self.world.check_runs.values() if r.repo == full_name and r.head_sha == sha]

    def create_status(
        self,
        full_name: str,
        sha: str,
        *,
        creator: Account,
        state: str,
        context: str = "default",
        target_url: str | None = None,
        description: str | None = None,
    ) -> Status:
        repo = self.repo(full_name)
        if state not in STATUS_STATES:
            raise invalid("Status", "state", "invalid")
        if repo.git.resolve(sha) != sha:
            raise Unprocessable(
                {"resource": "Status", "code": "custom", "message": f"No commit found for SHA: {sha}"}
            )
        if description and len(description) > MAX_STATUS_DESCRIPTION:
            message = f"description is too long (maximum is {MAX_STATUS_DESCRIPTION} characters)"
            raise Unprocessable(
                {"resource": "Status", "code": "custom", "field": "description", "message": message}
            )
        item = Status(
            self.world.next_id(), full_name, sha, state, context or "default", creator, self.world.clock.now()
        )
        item.target_url, item.description = target_url, description
        self.world.statuses.append(item)
        return item


def _validate_check_fields(fields: dict[str, Any]) -> None:
    if fields.get("status") is not None and fields["status"] not in CHECK_STATUSES:
        raise invalid("CheckRun", "status", "invalid")
    if fields.get("conclusion") is not None and fields["conclusion"] not in CONCLUSIONS:
        raise invalid("CheckRun", "conclusion", "invalid")
    if fields.get("output") is not None:
        _validate_output(fields["output"])
    _validate_actions(fields.get("actions") or [])


def _validate_output(output: dict[str, Any]) -> None:
    for key in ("title", "summary"):
        if not output.get(key):
            raise invalid("CheckRun", f"output.{key}", "missing_field")
    for key in ("summary", "text"):
        if len(output.get(key) or "") > MAX_OUTPUT_CHARS:
            message = f"output.{key} is too long (maximum is {MAX_OUTPUT_CHARS} characters)"
            raise Unprocessable(
                {"resource": "CheckRun", "code": "custom", "field": f"output.{key}", "message": message}
            )


def _validate_actions(actions: list[dict[str, Any]]) -> None:
    """At most 3 buttons; label ≤ 20, description ≤ 40, identifier ≤ 20 characters
    (https://docs.github.com/rest/checks/runs#create-a-check-run)."""
    if len(actions) > MAX_ACTIONS:
        raise invalid("CheckRun", "actions", "invalid")
    for action in actions:
        for key, limit in ACTION_LIMITS.items():
            if not action.get(key) or len(str(action[key])) > limit:
                raise invalid("CheckRun", f"actions.{key}", "invalid")


def _parse_time(value: Any, field: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid("CheckRun", field, "invalid") from None
