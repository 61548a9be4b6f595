"""A minimal MCP server over stdio (newline-delimited JSON-RPC): one tool, `stub_secret`.

The tool answers the value of its STUB_SECRET environment variable: an answer quoting it proves
that the CLI started the server with the pipeline's env, offered its tool and called it.
Standard library only: the CLIs start it with our interpreter, inside the sandbox too.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

TOOL = {
    "name": "stub_secret",
    "description": "Returns the secret word of the stub server. Takes no arguments.",
    "inputSchema": {"type": "object", "properties": {}},
}


def result(request: dict[str, Any]) -> dict[str, Any] | None:
    method = request.get("method")
    if method == "initialize":
        version = request.get("params", {}).get("protocolVersion", "2025-06-18")
        info = {"name": "stub", "version": "1.0.0"}
        return {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": info}
    if method == "tools/list":
        return {"tools": [TOOL]}
    if method == "tools/call":
        text = os.environ.get("STUB_SECRET", "no secret")
        return {"content": [{"type": "text", "text": text}], "isError": False}
    if method in ("ping", "resources/list", "prompts/list"):
        return {} if method == "ping" else {method.split("/")[0]: []}
    return None


def main() -> None:
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if "id" not in request:
            continue  # a notification
        answer = result(request)
        if answer is None:
            reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "not found"}}
        else:
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": answer}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
