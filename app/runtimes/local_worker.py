"""The child process of `runtime: local`: a small GGUF model in llama-cpp-python, one job at a time.

    python -P app/runtimes/local_worker.py      (started by app/runtimes/local.py, never by hand)

Native code runs here, not in the CLI or the worker that drives the task: a segfault in
llama.cpp kills this process only, and the parent turns its death into a failed stage. The
process stays warm between jobs (the model loaded once), reading one JSON job per line on
stdin and answering with JSON lines on stdout, in order:

    {"event": "delta", "text": "..."}                       a piece of the answer, as generated
    {"event": "done", "text": "...", "input_tokens": N, "output_tokens": N, "load_s": S}
    {"event": "error", "message": "..."}                    the job failed; the process lives on

A job is `{"model", "messages", "schema"?, "choices"?, "max_tokens", "temperature", "seed",
"n_ctx", "threads"}`: `schema` constrains the answer to that JSON Schema and `choices` to exactly
one of the given lines (llama.cpp grammars), so even a tiny model answers in the asked shape.
Only the standard library is imported at start; llama_cpp when the first job needs the model.
The process exits when stdin closes, and (Linux) when its parent dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

TEST_MODE_VAR = "FAKE_CLI_LOCAL_MODE"  # tests only: stub | segfault | abort | hang (see serve_test_mode)
MAX_STRING_CHARS = 240  # a constrained JSON string ends within this many characters: the answer always fits
PR_SET_PDEATHSIG = 1
Send = Callable[[dict[str, Any]], None]


# ---- grammars (pure) ------------------------------------------------------------------------------


def gbnf_literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def choice_grammar(lines: list[str]) -> str:
    """A GBNF grammar whose only sentences are the given lines."""
    if not lines:
        raise ValueError("a choice needs at least one line")
    return "root ::= " + " | ".join(gbnf_literal(line) for line in lines) + "\n"


def bounded_schema(schema: Any) -> Any:
    """The schema with a `maxLength` on every free string, so that a constrained answer always ends.

    A tiny model can fill a string until `max_tokens` runs out, leaving JSON that does not parse."""
    if isinstance(schema, list):
        return [bounded_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: bounded_schema(value) for key, value in schema.items()}
    free = not any(key in schema for key in ("enum", "const", "pattern", "format", "maxLength"))
    if schema.get("type") == "string" and free:
        bounded["maxLength"] = MAX_STRING_CHARS
    return bounded


def stub_value(schema: Mapping[str, Any]) -> Any:
    """The simplest value a schema accepts (the stub test mode's structured answer)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: stub_value(properties.get(key, {})) for key in schema.get("required", [])}
    return {"string": "stub", "integer": 0, "number": 0, "boolean": False, "array": []}.get(str(kind))


# ---- the model -------------------------------------------------------------------------------------


class TokenCounter:
    """A logits processor that only counts: the prompt's tokens, and each token sampled after it."""

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.sampled = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        self.sampled += 1
        return scores


class Models:
    """The one model this process holds; loaded on first use, replaced when a job names another."""

    def __init__(self) -> None:
        self.llm: Any = None
        self.key: tuple[str, int, int] | None = None

    def get(self, job: Mapping[str, Any]) -> tuple[Any, float]:
        """The model for a job, and the seconds it took to load (0 when it was loaded already)."""
        key = (str(job["model"]), int(job["n_ctx"]), int(job["threads"]))
        if self.key == key:
            return self.llm, 0.0
        from llama_cpp.llama import Llama  # here, in the child only: the parent never imports llama_cpp

        started = time.perf_counter()
        self.llm = None  # free the old model before loading the next
        self.llm = Llama(
            model_path=key[0], n_ctx=key[1], n_threads=key[2], n_threads_batch=key[2], verbose=False
        )
        self.key = key
        return self.llm, time.perf_counter() - started


def completion_options(llm: Any, job: Mapping[str, Any], counter: TokenCounter) -> dict[str, Any]:
    """create_chat_completion's keyword arguments for a job (sampling, limits, grammar)."""
    from llama_cpp.llama import LogitsProcessorList
    from llama_cpp.llama_grammar import LlamaGrammar

    options: dict[str, Any] = {
        "max_tokens": int(job["max_tokens"]),
        "temperature": float(job["temperature"]),
        "seed": int(job["seed"]),
        "repeat_penalty": 1.1,
        "stream": True,
        "logits_processor": LogitsProcessorList([counter]),
    }
    if job.get("choices"):
        options["grammar"] = LlamaGrammar.from_string(choice_grammar(list(job["choices"])), verbose=False)
    elif job.get("schema") is not None:
        options["response_format"] = {"type": "json_object", "schema": bounded_schema(job["schema"])}
    return options


def generate(models: Models, job: Mapping[str, Any], send: Send) -> None:
    """Run one job on the model, streaming its text; the last message says what it cost."""
    llm, load_s = models.get(job)
    counter = TokenCounter()
    chunks = llm.create_chat_completion(
        messages=list(job["messages"]), **completion_options(llm, job, counter)
    )
    parts: list[str] = []
    for chunk in chunks:
        text = chunk["choices"][0]["delta"].get("content") or ""
        if text:
            parts.append(text)
            send({"event": "delta", "text": text})
    send(
        {
            "event": "done",
            "text": "".join(parts),
            "input_tokens": counter.prompt_tokens or 0,
            "output_tokens": counter.sampled,
            "load_s": round(load_s, 4),
        }
    )


# ---- test modes (FAKE_CLI_LOCAL_MODE): no model, and the failures a native library can have -----


def serve_test_mode(mode: str, job: Mapping[str, Any], send: Send) -> None:
    """`stub` answers without a model; `segfault`, `abort` and `hang` fail as native code can."""
    text = stub_text(job)
    send({"event": "delta", "text": text[:5]})
    if mode == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "abort":
        os.abort()
    elif mode == "hang":
        time.sleep(3600)
    send({"event": "delta", "text": text[5:]})
    tokens = len(str(job["messages"][-1]["content"]).split())
    send({"event": "done", "text": text, "input_tokens": tokens, "output_tokens": 2, "load_s": 0})


def stub_text(job: Mapping[str, Any]) -> str:
    """The stub's answer: the last allowed line, the schema's simplest value, or an echo."""
    if job.get("choices"):
        return str(job["choices"][-1])
    if job.get("schema") is not None:
        return json.dumps(stub_value(job["schema"]))
    prompt = str(job["messages"][-1]["content"])
    return "stub answer to:\n" + (prompt.splitlines() or [""])[-1]  # the prompt's last line, echoed


# ---- the process -------------------------------------------------------------------------------------


def jobs(stream: IO[str]) -> Iterator[dict[str, Any]]:
    """One job per line until stdin closes."""
    for line in stream:
        if line.strip():
            yield json.loads(line)


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, even in the middle of a generation."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def protocol_channel() -> IO[str]:
    """The protocol's stdout: a copy of fd 1, whose fd then points at stderr (native logs land there)."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return channel


def main() -> int:
    die_with_parent()
    channel = protocol_channel()

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    models = Models()
    for job in jobs(sys.stdin):
        try:
            mode = os.environ.get(TEST_MODE_VAR, "")
            if mode:
                serve_test_mode(mode, job, send)
            else:
                generate(models, job, send)
        except Exception as exc:  # the job fails; the process and its model stay for the next one
            send({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
