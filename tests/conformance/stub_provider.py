"""A stub of the three providers' APIs on 127.0.0.1, for the real CLIs (llm-clis.md section 8).

    Anthropic Messages   POST /v1/messages                                   (SSE when `stream`)
    Gemini               POST /v1beta/models/M:generateContent               (JSON; the router's call)
                         POST /v1beta/models/M:streamGenerateContent?alt=sse (SSE)
    OpenAI Responses     POST /v1/responses                                  (SSE)

What it answers is the test's choice (`StubProvider.mode`), the same for the three APIs:

- `ok`       a short answer (`ANSWER`), usage IN_TOKENS / OUT_TOKENS;
- `big`      an answer of BIG_ANSWER_BYTES (many deltas);
- `verdict`  a gate verdict through the CLI's structured-output path: claude's `StructuredOutput`
             tool, codex's `text.format` schema, gemini's plain JSON text;
- `mcp`      first a call of the MCP tool the CLI offers (the one whose name holds MCP_TOOL), then,
             once the tool's result comes back, an answer quoting that result;
- `401`, `429` the provider's own error body with that status (gemini's bad key is its 400);
- `hang`     the headers and one delta, then nothing until the client goes away (`disconnected`).

Every request is kept in `requests` (path, body): the tests count retries with it. The server runs
uvicorn in a thread of its own, so that the CLIs, started by the test's event loop, reach it freely.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

ANSWER = "Hello from the stub provider."
IN_TOKENS, OUT_TOKENS = 21, 7
BIG_ANSWER_BYTES = 200 * 1024
CHUNK_CHARS = 1024  # per delta
VERDICT = {"decision": "rejected", "reason": "the stub rejects it"}
MCP_TOOL = "stub_secret"  # the tool of tests/conformance/mcp_server.py
MCP_ANSWER_PREFIX = "The tool said: "
HANG_TICK_S = 0.2


class AnthropicBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = ""
    stream: bool = False
    messages: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []


class GeminiBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    contents: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []
    generationConfig: dict[str, Any] = {}


class ResponsesBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = ""
    input: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []
    text: dict[str, Any] | None = None


@dataclass
class StubProvider:
    mode: str = "ok"
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    streaming: threading.Event = field(default_factory=threading.Event)  # a `hang` answer began
    disconnected: threading.Event = field(default_factory=threading.Event)  # ...and its client left
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self, mode: str) -> None:
        self.mode = mode
        self.requests.clear()
        self.streaming.clear()
        self.disconnected.clear()

    def calls(self, fragment: str) -> int:
        """How many requests went to a path holding `fragment` (retries included)."""
        return sum(fragment in path for path, _ in self.requests)


# ---- the shared script: what to answer, whatever the API ------------------------------------------


def answer_text(stub: StubProvider, tool_result: str | None) -> str:
    if stub.mode == "big":
        return big_answer()
    if stub.mode == "mcp" and tool_result is not None:
        return MCP_ANSWER_PREFIX + tool_result
    return ANSWER


def big_answer() -> str:
    """BIG_ANSWER_BYTES of lines that never repeat (gemini stops a stream that repeats itself as a loop)."""
    lines = (f"{n:05d} {hashlib.sha256(str(n).encode()).hexdigest()}" for n in range(BIG_ANSWER_BYTES))
    text = ""
    while len(text) < BIG_ANSWER_BYTES:
        text += next(lines) + "\n"
    return text[:BIG_ANSWER_BYTES]


def chunks(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


async def hang(request: Request, stub: StubProvider, first: bytes) -> AsyncIterator[bytes]:
    yield first
    stub.streaming.set()
    try:
        while not await request.is_disconnected():
            await asyncio.sleep(HANG_TICK_S)
    finally:
        stub.disconnected.set()


def error_status(stub: StubProvider) -> int | None:
    return int(stub.mode) if stub.mode in ("401", "429") else None


# ---- Anthropic Messages ------------------------------------------------------------------------


def anthropic_error(status: int) -> JSONResponse:
    kind, message = {
        401: ("authentication_error", "invalid x-api-key"),
        429: ("rate_limit_error", "Number of requests has exceeded your rate limit"),
    }[status]
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_stub"}
    return JSONResponse(body, status_code=status, headers={"request-id": "req_stub"})


def last_tool_use(body: AnthropicBody) -> str | None:
    """The name of the tool the last assistant message called, if it called one."""
    for message in reversed(body.messages):
        if message.get("role") != "assistant":
            continue
        content = message.get("content")
        names = (
            [b.get("name") for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
            if isinstance(content, list)
            else []
        )
        return str(names[-1]) if names else None
    return None


def anthropic_tool_result(body: AnthropicBody) -> str:
    """The text of the tool results in the last message (claude sends several at once)."""
    last = body.messages[-1] if body.messages else {}
    content = last.get("content")
    texts: list[str] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            inner = block.get("content")
            parts = inner if isinstance(inner, list) else [{"text": str(inner)}]
            texts += [str(part.get("text", "")) for part in parts if isinstance(part, dict)]
    return "".join(texts)


def anthropic_tool_call(stub: StubProvider, body: AnthropicBody) -> tuple[str, dict[str, Any]] | None:
    """claude offers MCP tools deferred, behind its ToolSearch tool: as a model does, the stub
    searches for the tool first, then calls it, then answers with its result."""
    names = [str(tool.get("name", "")) for tool in body.tools]
    if stub.mode == "verdict" and "StructuredOutput" in names:
        return "StructuredOutput", VERDICT
    if stub.mode != "mcp" or MCP_TOOL in (last_tool_use(body) or ""):
        return None
    found = [name for name in names if MCP_TOOL in name]
    if found:
        return found[0], {}
    if last_tool_use(body) != "ToolSearch" and "ToolSearch" in names:
        return "ToolSearch", {"query": f"select:{MCP_TOOL}", "max_results": 5}
    return None


def anthropic_events(stub: StubProvider, body: AnthropicBody) -> Iterator[bytes]:
    usage = {"input_tokens": IN_TOKENS, "output_tokens": 1}
    message = {"id": "msg_stub", "type": "message", "role": "assistant", "model": body.model, "content": []}
    yield sse(
        {"type": "message_start", "message": {**message, "stop_reason": None, "usage": usage}},
        "message_start",
    )
    call = anthropic_tool_call(stub, body)
    if call is not None:
        block = {"type": "tool_use", "id": f"toolu_stub{len(stub.requests)}", "name": call[0], "input": {}}
        yield sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start")
        delta = {"type": "input_json_delta", "partial_json": json.dumps(call[1])}
        yield sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        yield sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start")
        for piece in chunks(anthropic_text(stub, body)):
            delta = {"type": "text_delta", "text": piece}
            yield sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
        stop = "end_turn"
    yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    end = {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": OUT_TOKENS}}
    yield sse(end, "message_delta")
    yield sse({"type": "message_stop"}, "message_stop")


def anthropic_text(stub: StubProvider, body: AnthropicBody) -> str:
    mcp_result = anthropic_tool_result(body) if MCP_TOOL in (last_tool_use(body) or "") else None
    return answer_text(stub, mcp_result)


def anthropic_message(stub: StubProvider, body: AnthropicBody) -> dict[str, Any]:
    """A non-streamed answer (claude's side calls: titles, quota checks)."""
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": body.model,
        "content": [{"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": IN_TOKENS, "output_tokens": OUT_TOKENS},
    }


# ---- Gemini ------------------------------------------------------------------------------------


def gemini_error(status: int) -> JSONResponse:
    if status == 401:  # an invalid key is a 400 for Gemini
        error = {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
        return JSONResponse({"error": error}, status_code=400)
    error = {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
    }
    return JSONResponse({"error": error}, status_code=429)


def gemini_tool_result(body: GeminiBody) -> str | None:
    last = body.contents[-1] if body.contents else {}
    for part in last.get("parts") or []:
        if isinstance(part, dict) and isinstance(response := part.get("functionResponse"), dict):
            return json.dumps(response.get("response"))
    return None


def gemini_tool_call(stub: StubProvider, body: GeminiBody) -> str | None:
    if stub.mode != "mcp" or gemini_tool_result(body) is not None:
        return None
    for tool in body.tools:
        for declaration in tool.get("functionDeclarations") or []:
            if MCP_TOOL in str(declaration.get("name", "")):
                return str(declaration["name"])
    return None


def gemini_candidate(parts: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    usage = {
        "promptTokenCount": IN_TOKENS,
        "candidatesTokenCount": OUT_TOKENS,
        "totalTokenCount": IN_TOKENS + OUT_TOKENS,
    }
    return (
        {"candidates": [{**candidate, "finishReason": "STOP"}], "usageMetadata": usage}
        if final
        else {"candidates": [candidate]}
    )


def gemini_json_answer(body: GeminiBody) -> str:
    """The side calls' JSON answers (the router's complexity, the next-speaker check)."""
    config = body.generationConfig
    schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
    required = schema.get("required") or []
    if "complexity_score" in required:
        return json.dumps({"complexity_reasoning": "A stub task.", "complexity_score": 10})
    if "next_speaker" in required:
        return json.dumps({"reasoning": "The model answered.", "next_speaker": "user"})
    return json.dumps({name: "stub" for name in required})


def gemini_text(stub: StubProvider, body: GeminiBody) -> str:
    if stub.mode == "verdict":
        return json.dumps(VERDICT)
    return answer_text(stub, gemini_tool_result(body))


def gemini_events(stub: StubProvider, body: GeminiBody) -> Iterator[bytes]:
    name = gemini_tool_call(stub, body)
    if name is not None:
        yield sse(gemini_candidate([{"functionCall": {"name": name, "args": {}}}], final=True))
        return
    pieces = chunks(gemini_text(stub, body))
    for index, piece in enumerate(pieces):
        yield sse(gemini_candidate([{"text": piece}], final=index == len(pieces) - 1))


# ---- OpenAI Responses --------------------------------------------------------------------------


def openai_error(status: int) -> JSONResponse:
    error = {
        401: {
            "message": "Incorrect API key provided: stub.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        },
        429: {
            "message": "Rate limit reached for requests",
            "type": "requests",
            "code": "rate_limit_exceeded",
        },
    }[status]
    return JSONResponse({"error": error}, status_code=status)


OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output", "mcp_tool_call_output")
CODE_MODE_CALL = f"const result = await tools.mcp__stub__{MCP_TOOL}({{}});\ntext(result.content[0].text);"


def openai_tool_result(body: ResponsesBody) -> str | None:
    for item in reversed(body.input):
        if item.get("type") in OUTPUT_ITEMS:
            output = item.get("output")
            return json.dumps(output) if not isinstance(output, str) else output
    return None


def offers_code_mode(body: ResponsesBody) -> bool:
    """codex 0.171 offers its tools, MCP ones included, through one `exec` tool running JavaScript
    (`await tools.mcp__NAME__TOOL(...)`), announced in an `additional_tools` input item."""
    for item in body.input:
        for namespace in item.get("tools") or [] if item.get("type") == "additional_tools" else []:
            if any(tool.get("name") == "exec" for tool in namespace.get("tools") or []):
                return True
    return False


def openai_tool_call(stub: StubProvider, body: ResponsesBody) -> dict[str, Any] | None:
    if stub.mode != "mcp" or openai_tool_result(body) is not None or not offers_code_mode(body):
        return None
    return {
        "type": "custom_tool_call",
        "id": "ctc_stub",
        "call_id": "call_stub",
        "namespace": "functions",
        "name": "exec",
        "input": CODE_MODE_CALL,
        "status": "completed",
    }


def openai_events(stub: StubProvider, body: ResponsesBody) -> Iterator[bytes]:
    response = {
        "id": "resp_stub",
        "object": "response",
        "model": body.model,
        "status": "in_progress",
        "output": [],
    }
    yield sse({"type": "response.created", "response": response}, "response.created")
    call = openai_tool_call(stub, body)
    if call is not None:
        item: dict[str, Any] = call
    else:
        text = json.dumps(VERDICT) if stub.mode == "verdict" else answer_text(stub, openai_tool_result(body))
        for piece in chunks(text):
            delta = {
                "type": "response.output_text.delta",
                "item_id": "msg_stub",
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
            }
            yield sse(delta, "response.output_text.delta")
        content = [{"type": "output_text", "text": text, "annotations": []}]
        item = {
            "type": "message",
            "id": "msg_stub",
            "role": "assistant",
            "status": "completed",
            "content": content,
        }
    yield sse(
        {"type": "response.output_item.done", "output_index": 0, "item": item}, "response.output_item.done"
    )
    usage = {
        "input_tokens": IN_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": OUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": IN_TOKENS + OUT_TOKENS,
    }
    done = {**response, "status": "completed", "output": [item], "usage": usage}
    yield sse({"type": "response.completed", "response": done}, "response.completed")


# ---- the app and its server ----------------------------------------------------------------------


def build_app(stub: StubProvider) -> FastAPI:
    app = FastAPI()

    async def streamed(request: Request, events: Iterator[bytes]) -> Response:
        if stub.mode == "hang":
            return StreamingResponse(hang(request, stub, next(events)), media_type="text/event-stream")
        return StreamingResponse(iter(list(events)), media_type="text/event-stream")

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        body = AnthropicBody.model_validate(await request.json())
        stub.requests.append((request.url.path, body.model_dump()))
        if (status := error_status(stub)) is not None:
            return anthropic_error(status)
        if not body.stream:
            return JSONResponse(anthropic_message(stub, body))
        return await streamed(request, anthropic_events(stub, body))

    @app.post("/v1beta/models/{call}")
    async def gemini(call: str, request: Request) -> Response:
        body = GeminiBody.model_validate(await request.json())
        stub.requests.append((request.url.path, body.model_dump()))
        if (status := error_status(stub)) is not None:
            return gemini_error(status)
        if call.endswith(":generateContent"):
            part = {"text": gemini_json_answer(body)}
            return JSONResponse(gemini_candidate([part], final=True))
        return await streamed(request, gemini_events(stub, body))

    @app.post("/v1/responses")
    async def responses(request: Request) -> Response:
        body = ResponsesBody.model_validate(await request.json())
        stub.requests.append((request.url.path, body.model_dump()))
        if (status := error_status(stub)) is not None:
            return openai_error(status)
        return await streamed(request, openai_events(stub, body))

    @app.api_route("/{path:path}", methods=["GET", "POST", "HEAD"])
    async def other(path: str, request: Request) -> Response:
        stub.requests.append((request.url.path, {}))
        return JSONResponse({"error": {"message": f"the stub has no /{path}"}}, status_code=404)

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningStub:
    stub: StubProvider
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start() -> RunningStub:
    """The stub on a free port of 127.0.0.1, serving from a thread until `stop`."""
    stub = StubProvider(port=free_port())
    config = uvicorn.Config(
        build_app(stub), host="127.0.0.1", port=stub.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="stub-provider", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the stub provider did not start")
        time.sleep(0.01)
    return RunningStub(stub, server, thread)
