"""The pipeline's MCP servers as one launch line each, for the adapters to put in their CLI's format.

A server without `command` is an official reference server, started as aqm does it:
`npx -y @modelcontextprotocol/server-<name> <args…>`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.spec.models import McpServer

FALLBACK_COMMAND = "npx"
FALLBACK_PACKAGE_PREFIX = "@modelcontextprotocol/server-"


@dataclass(frozen=True, slots=True)
class McpLaunch:
    name: str
    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The `{command, args, env}` shape claude's --mcp-config and gemini's settings.json share."""
        return {"command": self.command, "args": list(self.args), "env": dict(self.env)}


def launch(server: McpServer) -> McpLaunch:
    env = dict(server.env or {})
    if server.command is None:
        args = ("-y", f"{FALLBACK_PACKAGE_PREFIX}{server.server}", *server.args)
        return McpLaunch(server.server, FALLBACK_COMMAND, args, env)
    return McpLaunch(server.server, server.command, tuple(server.args), env)


def launches(servers: Iterable[McpServer]) -> list[McpLaunch]:
    return [launch(server) for server in servers]
