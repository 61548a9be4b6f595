"""What passes through the simulator's HTTP door: per-operation call counts, a request log, injected
faults (502s, 403/429 rate limits) and the `x-ratelimit-*` headers GitHub puts on every response.

Operations are named after githubkit's methods (`issues.create_comment`); a fault or a count can
name one of those or the route template (`POST /repos/{owner}/{repo}/issues/{issue_number}/comments`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from starlette.routing import Match

from app.playground.simulator.errors import SimError, error_response

if TYPE_CHECKING:
    from app.playground.simulator.state import World

API_VERSIONS = ("2022-11-28", "2026-03-10")
CORE_LIMIT = 5000
ANONYMOUS_LIMIT = 60
FREE_OPERATIONS = ("rate_limit.get",)  # GET /rate_limit does not count against the limit


@dataclass
class Fault:
    """Answer the next `remaining` matching calls with `status` instead of running them."""

    status: int
    remaining: int
    operation: str | None = None
    message: str = "Server Error"
    headers: dict[str, str] = field(default_factory=dict)
    remaining_header: int | None = None  # x-ratelimit-remaining to report (0 for a primary limit)
    skip: int = 0  # matching calls to let through first

    def matches(self, call: CallName) -> bool:
        return self.operation is None or self.operation in (call.operation, call.route)


@dataclass(frozen=True, slots=True)
class CallName:
    operation: str  # "issues.create_comment", or "unknown"
    route: str  # "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"


@dataclass(frozen=True, slots=True)
class LoggedCall:
    method: str
    path: str
    operation: str
    route: str
    status: int
    actor: str  # login, "app:<slug>" for a JWT, or "anonymous"
    api_version: str | None


@dataclass
class RateWindow:
    limit: int
    reset: int
    used: int = 0


class Traffic:
    """Counters, log, faults and rate-limit windows; one per simulator."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.log: list[LoggedCall] = []
        self.faults: list[Fault] = []
        self.windows: dict[str, RateWindow] = {}
        self.core_limit = CORE_LIMIT

    # ---- faults -----------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, *, status: int = 502, operation: str | None = None, skip: int = 0
    ) -> Fault:
        """The next `n` calls (of `operation`, or any) answer `status` (default 502 Bad Gateway),
        after letting `skip` of them through."""
        message = {502: "Server Error", 503: "Service Unavailable", 500: "Internal Server Error"}
        fault = Fault(status, n, operation, message.get(status, "Server Error"), skip=skip)
        self.faults.append(fault)
        return fault

    def rate_limit_next(
        self,
        n: int = 1,
        *,
        status: int = 403,
        retry_after_s: int | None = None,
        operation: str | None = None,
    ) -> Fault:
        """Rate-limit the next `n` calls: with `retry_after_s` a secondary limit (`retry-after`),
        otherwise a primary one (`x-ratelimit-remaining: 0`, reset one minute ahead)."""
        if retry_after_s is not None:
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            )
            fault = Fault(status, n, operation, message, {"retry-after": str(retry_after_s)})
        else:
            fault = Fault(
                status, n, operation, "API rate limit exceeded for installation.", remaining_header=0
            )
            fault.headers["x-ratelimit-reset"] = str(int(time.time()) + 60)
        self.faults.append(fault)
        return fault

    def take_fault(self, call: CallName) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.matches(call):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.remaining -= 1
                return fault
        return None

    def clear_faults(self) -> None:
        self.faults.clear()

    # ---- counting ---------------------------------------------------------------------------

    def count(self, operation: str | None = None) -> int:
        """Calls so far, of one operation (name or route template) or of all."""
        if operation is None:
            return len(self.log)
        return sum(1 for call in self.log if operation in (call.operation, call.route))

    def mark(self) -> int:
        """A position in the log, for `since()`."""
        return len(self.log)

    def since(self, mark: int) -> Counter[str]:
        """Calls per operation after `mark` (e.g. per pipeline stage in a benchmark)."""
        return Counter(call.operation for call in self.log[mark:])

    def reset(self) -> None:
        self.calls.clear()
        self.log.clear()
        self.faults.clear()

    # ---- rate limits ------------------------------------------------------------------------

    def window(self, key: str) -> RateWindow:
        now = int(time.time())
        current = self.windows.get(key)
        if current is None or current.reset <= now:
            limit = ANONYMOUS_LIMIT if key == "anonymous" else self.core_limit
            current = self.windows[key] = RateWindow(limit, now + 3600)
        return current


def rate_headers(window: RateWindow, *, remaining: int | None = None) -> dict[str, str]:
    left = max(window.limit - window.used, 0) if remaining is None else remaining
    return {
        "x-ratelimit-limit": str(window.limit),
        "x-ratelimit-remaining": str(left),
        "x-ratelimit-used": str(window.used),
        "x-ratelimit-reset": str(window.reset),
        "x-ratelimit-resource": "core",
    }


def name_call(app: FastAPI, request: Request) -> CallName:
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            template = re.sub(r":\w+}", "}", getattr(route, "path", request.url.path))  # {n:int} -> {n}
            return CallName(getattr(route, "name", "unknown"), f"{request.method} {template}")
    return CallName("unknown", f"{request.method} {request.url.path}")


@dataclass(frozen=True, slots=True)
class Caller:
    actor: str  # for the log: a login, "app" for a JWT, "anonymous" or "invalid"
    window: str  # whose rate limit the call counts against


def caller_of(world: World, authorization: str | None) -> Caller:
    """Who is calling, cheaply (no signature check): installation limits survive token refreshes."""
    if not authorization:
        return Caller("anonymous", "anonymous")
    credential = authorization.partition(" ")[2].strip()
    if credential.count(".") == 2:
        return Caller("app", "app")
    token = world.tokens.get(credential)
    if token is None or (token.installation_id is None and token.login is None):
        return Caller("invalid", "anonymous")
    if token.installation_id is not None:
        app = world.apps[world.installations[token.installation_id].app_id]
        return Caller(app.bot.login, f"installation:{token.installation_id}")
    return Caller(str(token.login), f"user:{token.login}")


Handler = Callable[[Request], Awaitable[Response]]


def install_middleware(app: FastAPI, traffic: Traffic, world: World) -> None:
    """Count, log, inject faults, check the API version and add rate-limit headers to every answer."""

    @app.middleware("http")
    async def through_the_door(request: Request, call_next: Handler) -> Response:
        call = name_call(app, request)
        caller = caller_of(world, request.headers.get("authorization"))
        window = traffic.window(caller.window)
        if call.operation not in FREE_OPERATIONS:
            window.used += 1
        response, extra_headers = await _answer(request, call, window, traffic, call_next)
        version = request.headers.get("x-github-api-version")
        response.headers.update(rate_headers(window) | _github_headers(version) | extra_headers)
        traffic.calls[call.operation] += 1
        path, status = request.url.path, response.status_code
        traffic.log.append(
            LoggedCall(request.method, path, call.operation, call.route, status, caller.actor, version)
        )
        return response


def _github_headers(version: str | None) -> dict[str, str]:
    """GitHub's own response headers: a request id and the API version that answered."""
    request_id = uuid.uuid4().hex.upper()
    return {
        "x-github-request-id": f"{request_id[:4]}:{request_id[4:10]}:{request_id[10:18]}",
        "x-github-api-version-selected": version or API_VERSIONS[0],
        "x-github-media-type": "github.v3; format=json",
    }


async def _answer(
    request: Request, call: CallName, window: RateWindow, traffic: Traffic, call_next: Handler
) -> tuple[Response, dict[str, str]]:
    """The route's answer, or the error that stands in for it (bad version, injected fault, limit)."""
    version = request.headers.get("x-github-api-version")
    if version is not None and version not in API_VERSIONS:
        return error_response(SimError(400, f"API version '{version}' is not supported.")), {}
    fault = traffic.take_fault(call)
    if fault is not None:
        headers = dict(fault.headers)
        if fault.remaining_header is not None:
            headers["x-ratelimit-remaining"] = str(fault.remaining_header)
        return error_response(SimError(fault.status, fault.message)), headers
    if window.used > window.limit and call.operation not in FREE_OPERATIONS:
        return error_response(SimError(403, "API rate limit exceeded.")), {"x-ratelimit-remaining": "0"}
    return await call_next(request), {}
