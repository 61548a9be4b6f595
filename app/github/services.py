"""The GitHub core's composition root: what the server, the worker, the Action and the playground
each assemble once (`Services.start`), and the App's delivery lifecycle on top of it.

A recorded delivery is handled once (`handle`): app/github/router.py hands its event to the module
of its kind; a failure leaves it for a retry (app/github/retries.py) or, at the cap, marks it
failed with one reply saying so.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from app.github import retries
from app.github.gateway import GitHubClients, GitHubError, GitHubGateway
from app.github.job import Job
from app.github.router import handle_event
from app.github.runs import Deferred, ThreadTasks
from app.runtimes.process import Launcher
from app.runtimes.registry import RuntimeFactory, get_runtime, runtimes_for, stage_launcher
from app.settings import Settings
from app.store.github import DeliveryRecord, GitHubStore, TaskLink
from app.store.store import TaskStore

log = logging.getLogger("aqm.github")


def launcher_for(settings: Settings) -> Launcher:
    """How the App starts stages: sandboxed, unless AQM_UNSAFE_UNSANDBOXED_STAGES opts out."""
    return stage_launcher(sandbox=not settings.unsafe_unsandboxed_stages, data_dir=settings.data_dir)


@dataclass
class Services:
    """What handling a delivery needs; built once per server or worker process."""

    settings: Settings
    store: TaskStore
    github_store: GitHubStore
    clients: GitHubClients
    runtimes: RuntimeFactory = get_runtime
    workspaces: Path = field(default_factory=lambda: Path(".aqm-data") / "workspaces")
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    # what a shell sets on top of `.aqm/` (the Action's `pipeline` and `max-cost-usd` inputs)
    default_pipeline: str | None = None  # what `/aqm run` starts when the comment names none
    max_cost_usd: float | None = None  # a cap on each task's cost, the lower of it and config.yaml's
    # Approve / Reject buttons on check runs: their clicks come back to the App as check_run events,
    # never to a workflow run that has ended (the Action: /approve or a review instead)
    check_run_buttons: bool = True

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        github_transport: httpx.AsyncBaseTransport | None = None,
        launcher: Launcher | None = None,
    ) -> Services:
        """The services of one server or worker; stages start through `launcher` (default: the
        settings' sandbox, or a ConfigError when this machine has none)."""
        launcher = launcher or launcher_for(settings)
        store = await TaskStore.connect(settings.effective_database_url)
        clients = GitHubClients(
            base_url=settings.github_api_url,
            token=settings.github_token.get_secret_value() if settings.github_token else None,
            app_id=settings.github_app_id,
            private_key=settings.private_key() if settings.github_app_id else None,
            transport=github_transport,
        )
        return cls(
            settings,
            store,
            GitHubStore(store),
            clients,
            runtimes=runtimes_for(launcher),
            workspaces=settings.data_dir / "workspaces",
        )

    async def close(self) -> None:
        await self.clients.close()
        await self.store.close()

    async def database_ok(self) -> bool:
        try:
            await self.store.list_tasks(limit=1)
        except Exception:
            return False
        return True

    def tasks(self, gateway: GitHubGateway, deferred: Deferred | None = None) -> ThreadTasks:
        return ThreadTasks(
            self.store,
            self.github_store,
            gateway,
            runtimes=self.runtimes,
            workspaces=self.workspaces,
            public_url=self.settings.public_url,
            owner=self.worker_id,
            lease_s=self.settings.task_lease_s,
            deferred=deferred,
            unsandboxed=self.settings.unsafe_unsandboxed_stages,
            max_cost_usd=self.max_cost_usd,
            buttons=self.check_run_buttons,
        )

    async def resume(self, task_id: str) -> None:
        """Resume a task whose worker died (its lease expired), or start an idle thread's queue."""
        link = await self.github_store.get_link(task_id)
        await self.tasks(self.clients.gateway(link.installation_id)).resume(task_id)

    async def stuck(self) -> tuple[list[DeliveryRecord], list[TaskLink]]:
        """What the reconciler re-enqueues: deliveries never finished, tasks whose worker died."""
        deliveries = await self.github_store.unfinished_deliveries(
            older_than_s=self.settings.redeliver_after_s
        )
        idle = await self.github_store.idle_queues(older_than_s=self.settings.task_lease_s)
        tasks = await self.github_store.expired_leases() + idle
        return deliveries, tasks

    async def handle(self, delivery_id: str) -> None:
        """Handle one delivery once: a redelivered or finished one changes nothing. A failure
        leaves it for a retry (app/github/retries.py) or, at the cap, marks it failed."""
        delivery = await self.github_store.claim_delivery(delivery_id)
        if delivery is None:
            return
        job = Job(self, delivery)
        try:
            outcome = await handle_event(job)
        except Exception as exc:
            await self.after_failure(job, exc)
            await job.deferred.run()  # what the earlier commands recorded goes on meanwhile
            if not isinstance(exc, GitHubError):
                raise  # ours: the queue logs its traceback
            return
        # every command is recorded: from here queues and leases recover the work, not a replay
        await self.github_store.finish_delivery(delivery_id, outcome, job.note)
        await job.deferred.run()

    async def after_failure(self, job: Job, error: Exception) -> None:
        """Leave the delivery for a retry after its backoff, or give it up: failed, and its one reply
        (what it had to say so far, and why it stopped) posted when it can be."""
        delivery = job.delivery
        decision = retries.after_failure(
            error, attempts=delivery.attempts, base_s=self.settings.redeliver_after_s
        )
        if isinstance(decision, retries.Retry):
            log.warning(
                "delivery %s attempt %d: %s; retrying in %.0f s",
                delivery.id,
                delivery.attempts,
                decision.reason,
                decision.after_s,
            )
            at = datetime.now(UTC) + timedelta(seconds=decision.after_s)
            await self.github_store.retry_delivery(delivery.id, at=at, error=decision.reason)
            return
        attempts = delivery.attempts
        log.warning("delivery %s failed after %d attempts: %s", delivery.id, attempts, decision.reason)
        await job.give_up(decision.shown)
        await self.github_store.finish_delivery(delivery.id, "failed", decision.reason)
