"""The `aqm` command: aqm 1.3's commands and flags, with lazy imports so `--help` stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]
COMMANDS = frozenset(
    {
        "init",
        "validate",
        "agents",
        "schema",
        "run",
        "status",
        "list",
        "cancel",
        "priority",
        "context",
        "fix",
        "restart",
        "chunks",
        "approve",
        "reject",
        "human-input",
        "pipeline",
        "search",
        "pull",
        "publish",
        "serve",
        "worker",
        "install-local",
    }
)
SETTLE_CANCELLED_S = 10.0  # Ctrl-C: how long the cancelled stages get to kill their CLIs
STALLED_LOOKUP = 500  # stalled tasks compared before and after a Ctrl-C, to name the ones it stalled
# Commands that only read files and print: they end with os._exit once their output is flushed.
READ_ONLY = frozenset({"validate", "agents", "schema"})
ENGINE_ISSUE = "the pipeline engine (issue: 'Pipeline engine, runtimes and durable task store')"
LATER = {
    "run": ENGINE_ISSUE,
    "status": ENGINE_ISSUE,
    "list": ENGINE_ISSUE,
    "approve": ENGINE_ISSUE,
    "reject": ENGINE_ISSUE,
    "human-input": ENGINE_ISSUE,
    "cancel": ENGINE_ISSUE,
    "priority": ENGINE_ISSUE,
    "context": ENGINE_ISSUE,
    "fix": ENGINE_ISSUE,
    "restart": ENGINE_ISSUE,
    "chunks": ENGINE_ISSUE,
    "pull": "the pipeline registry",
    "publish": "the pipeline registry",
    "search": "the pipeline registry",
    "pipeline create": "AI pipeline generation",
    "pipeline edit": "AI pipeline editing",
    "pipeline delete": "pipeline management",
    "pipeline versions": "the pipeline registry",
}


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=words[0] if words and words[0] in COMMANDS else None)
    args = parser.parse_args(words)
    handler: Handler | None = getattr(args, "handler", None)
    _without_pydantic_plugins()
    if handler is None:
        parser.print_help()
        return 0
    import gc

    # Start-up makes objects that live until the command ends (modules, pydantic's models and
    # schemas): a collection every 700 allocations would walk them again and again, about 5% of
    # `aqm validate`. The task commands collect again once started (_with_local).
    gc.disable()
    from app.errors import AqmError

    try:
        code = handler(args)
        # Exit fast: the interpreter would otherwise walk every object the imports made (up to
        # half a second for the task commands) before it ends.
        gc.freeze()
        if argv is None and words[0] in READ_ONLY:
            _exit_now(code)
        return code
    except AqmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `aqm context T-… | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _exit_now(code: int) -> None:
    """End the `aqm` process of a read-only command as soon as its output is out.

    It wrote nothing but stdout and stderr (flushed here; a closed pipe raises BrokenPipeError
    as before) and holds no file, connection or child: the interpreter's shutdown, which tears
    down every module and object the imports made (pydantic's above all), is about 6% of
    `aqm validate`. Only when main() runs as the program (argv None): a caller in process
    (tests, `python -c`) gets the code back."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _without_pydantic_plugins() -> None:
    """The CLI loads no third-party pydantic plugins. pydantic discovers them through
    importlib.metadata when it builds its first model, and importing that module alone costs
    about as much as the rest of `aqm validate`'s work: give pydantic a loader that finds none
    (what PYDANTIC_DISABLE_PLUGINS=__all__ would return). Harmless if pydantic moves the module."""
    name = "pydantic.plugin._loader"
    if name in sys.modules or os.environ.get("PYDANTIC_DISABLE_PLUGINS") == "":
        return
    import types

    loader = types.ModuleType(name)
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    sys.modules[name] = loader


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (`only`) just one command's: building all ~25 costs ~10 ms of startup."""
    parser = argparse.ArgumentParser(
        prog="aqm", description="aqm for GitHub: YAML multi-agent LLM pipelines (aqm 1.3 compatible)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = _Only(parser.add_subparsers(title="commands", metavar="COMMAND"), only)
    _setup_commands(sub)
    _task_commands(sub)
    _gate_commands(sub)
    _pipeline_commands(sub)
    _service_commands(sub)
    return parser


class _Skipped:
    """Stands in for the parser of a command this invocation does not use."""

    def __getattr__(self, _: str) -> Any:
        return lambda *args, **kwargs: self


class _Only:
    """A subparsers action that builds only the chosen command's parser."""

    def __init__(self, action: Any, only: str | None) -> None:
        self.action = action
        self.only = only

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if self.only is not None and name != self.only:
            return _Skipped()
        return self.action.add_parser(name, **kwargs)


def _version() -> str:
    from app import __version__

    return __version__


def _add(sub: Any, name: str, help_text: str, handler: Handler | None = None) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    owner = LATER.get(name)
    if handler is None and owner is not None:
        command.description = f"{help_text} (arrives with {owner}; not available in this version)"
        command.set_defaults(handler=_later(name, owner))
    elif handler is not None:
        command.set_defaults(handler=handler)
    return command


def _later(name: str, owner: str) -> Handler:
    def run(_: argparse.Namespace) -> int:
        print(f"aqm {name}: arrives with {owner}; not available in this version.", file=sys.stderr)
        return 2

    return run


def _help_of(parser: argparse.ArgumentParser) -> Handler:
    def run(_: argparse.Namespace) -> int:
        parser.print_help()
        return 0

    return run


def _pipeline_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--pipeline", "-P", metavar="NAME", help="named pipeline (default: config's default)"
    )


def _param_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a pipeline param (repeatable)",
    )


def _setup_commands(sub: Any) -> None:
    init = _add(sub, "init", "Create .aqm/ with a default pipeline and config.yaml", _cmd_init)
    init.add_argument("--path", type=Path, default=Path(), help="project directory (default: .)")
    init.add_argument("-y", "--yes", action="store_true", help="non-interactive: accept the defaults")
    init.add_argument(
        "--runtime", choices=["claude", "gemini", "codex"], help="runtime of the template's agents"
    )
    init.add_argument("--force", action="store_true", help="overwrite existing pipeline and config files")
    validate = _add(sub, "validate", "Validate pipelines and config.yaml; exit 1 on errors", _cmd_validate)
    validate.add_argument("file", nargs="?", type=Path, help="a pipeline file (default: the whole project)")
    _pipeline_option(validate)
    _param_option(validate)
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    agents = _add(sub, "agents", "Show the agent graph", _cmd_agents)
    agents.add_argument("file", nargs="?", type=Path, help="a pipeline file (default: the selected pipeline)")
    _pipeline_option(agents)
    _param_option(agents)
    agents.add_argument("--format", choices=["text", "mermaid"], default="text")
    schema = _add(
        sub, "schema", "Print the JSON Schema of agents.yaml (or config.yaml) for editors", _cmd_schema
    )
    schema.add_argument("--config", action="store_true", help="the schema of .aqm/config.yaml instead")


def _task_commands(sub: Any) -> None:
    run = _add(sub, "run", "Run a pipeline on a task", _cmd_run)
    run.add_argument("input", help="the task description")
    run.add_argument("--agent", metavar="ID", help="start from this agent")
    _pipeline_option(run)
    _param_option(run)
    run.add_argument("--priority", choices=["critical", "high", "normal", "low"], default="normal")
    run.add_argument("--parallel", action="store_true", help="accepted for aqm compatibility")
    run.add_argument(
        "--sandbox",
        action="store_true",
        help="run every stage in bubblewrap: it sees the project (not .aqm/), the system and PATH",
    )
    status = _add(sub, "status", "Task details (or the newest tasks)", _cmd_status)
    status.add_argument("task", nargs="?", metavar="T-ID")
    listing = _add(sub, "list", "List tasks", _cmd_list)
    listing.add_argument("--filter", metavar="STATUS")
    listing.add_argument("--limit", type=int, default=50)
    cancel = _add(sub, "cancel", "Cancel a task, stopping its running CLI", _cmd_cancel)
    cancel.add_argument("task", metavar="T-ID")
    cancel.add_argument("-r", "--reason", default="")
    priority = _add(sub, "priority", "Set a task's priority")
    priority.add_argument("task", metavar="T-ID")
    priority.add_argument("level", choices=["critical", "high", "normal", "low"])
    context = _add(
        sub, "context", "Print a task's context.md (or agent_<id>.md / transcript.md views)", _cmd_context
    )
    context.add_argument("task", metavar="T-ID")
    context.add_argument("--agent", metavar="ID", help="agent_<id>.md: that agent's outputs")
    context.add_argument("--transcript", action="store_true", help="transcript.md: the session turns")
    fix = _add(sub, "fix", "Start a follow-up task with the previous task's context", _cmd_fix)
    fix.add_argument("task", metavar="T-ID")
    fix.add_argument("input")
    fix.add_argument("--agent", metavar="ID")
    _param_option(fix)
    restart = _add(sub, "restart", "Restart a task from a stage (default: the failed one)", _cmd_restart)
    restart.add_argument("task", metavar="T-ID")
    restart.add_argument("--from-stage", type=int, metavar="N")
    _pipeline_option(restart)
    _param_option(restart)
    chunks = _add(sub, "chunks", "List or edit a task's chunks", _cmd_chunks)
    chunks.add_argument("action", choices=["list", "add", "done", "remove"])
    chunks.add_argument("task", metavar="T-ID")
    chunks.add_argument("value", nargs="?", metavar="TEXT|C-ID")


def _gate_commands(sub: Any) -> None:
    approve = _add(sub, "approve", "Approve the human gate a task waits at, and continue it", _cmd_approve)
    approve.add_argument("task", metavar="T-ID")
    approve.add_argument("-r", "--reason", default="")
    reject = _add(sub, "reject", "Reject the human gate a task waits at, and continue it", _cmd_reject)
    reject.add_argument("task", metavar="T-ID")
    reject.add_argument("-r", "--reason", required=True)
    answer = _add(sub, "human-input", "Answer an agent's question, and continue the task", _cmd_answer)
    answer.add_argument("task", metavar="T-ID")
    answer.add_argument("response")


def _pipeline_commands(sub: Any) -> None:
    pipeline = _add(sub, "pipeline", "Manage the project's pipelines")
    inner = pipeline.add_subparsers(title="pipeline commands", metavar="ACTION")
    _add(inner, "list", "List pipelines (* marks the default)", _cmd_pipeline_list)
    default = _add(inner, "default", "Show or set the default pipeline", _cmd_pipeline_default)
    default.add_argument("name", nargs="?")
    for name, text in (
        ("create", "Create a pipeline"),
        ("edit", "Edit a pipeline with AI"),
        ("delete", "Delete a pipeline"),
        ("versions", "List a registry pipeline's versions"),
    ):
        command = inner.add_parser(
            name, help=text, description=f"{text} (arrives with {LATER['pipeline ' + name]})"
        )
        command.add_argument("name", nargs="?")
        command.set_defaults(handler=_later(f"pipeline {name}", LATER["pipeline " + name]))
    pipeline.set_defaults(handler=_help_of(pipeline))
    for name, text in (
        ("search", "Search the pipeline registry"),
        ("pull", "Install a registry pipeline"),
        ("publish", "Publish the default pipeline"),
    ):
        command = _add(sub, name, text)
        command.add_argument("name", nargs="?")


def _service_commands(sub: Any) -> None:
    serve = _add(sub, "serve", "Serve the API, and GitHub webhooks when configured", _cmd_serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    worker = _add(sub, "worker", "Run pipeline jobs from Redis (AQM_REDIS_URL)", _cmd_worker)
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    _add(
        sub,
        "install-local",
        "Install what `runtime: local` needs: llama-cpp-python and the model",
        _cmd_install_local,
    )


# ---- handlers ------------------------------------------------------------------------------


def _cmd_init(args: argparse.Namespace) -> int:
    from app.project import AQM_DIR, init_project

    runtime = args.runtime or ("claude" if args.yes else _ask_runtime())
    existing = (args.path / AQM_DIR / "pipelines" / "default.yaml").exists()
    overwrite = args.force or (
        existing and not args.yes and _confirm("Overwrite the existing default pipeline?")
    )
    written = init_project(args.path, runtime=runtime, overwrite=overwrite)
    for path in written:
        print(f"wrote {path}")
    if existing and not overwrite:
        print("kept the existing .aqm/pipelines/default.yaml (use --force to overwrite)")
    print("next: aqm validate && aqm agents")
    return 0


def _ask_runtime() -> str:
    if not sys.stdin.isatty():
        return "claude"
    answer = input("Runtime for the template's agents [claude/gemini/codex] (claude): ").strip().lower()
    return answer or "claude"


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _cmd_validate(args: argparse.Namespace) -> int:
    from app.validation import validate_command

    return validate_command(file=args.file, pipeline=args.pipeline, params=args.param, strict=args.strict)


def _cmd_agents(args: argparse.Namespace) -> int:
    from app.spec.graph import render_mermaid, render_text
    from app.validation import load_selected

    pipeline = load_selected(file=args.file, pipeline=args.pipeline, params=args.param)
    print(render_mermaid(pipeline) if args.format == "mermaid" else render_text(pipeline))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    import json

    from app.spec.schema import config_schema, pipeline_schema

    print(json.dumps(config_schema() if args.config else pipeline_schema(), indent=2))
    return 0


def _cmd_pipeline_list(_: argparse.Namespace) -> int:
    from app.project import find_project

    project = find_project()
    default = project.default_pipeline()
    for name in project.pipeline_names():
        print(f"{'*' if name == default else ' '} {name}  ({project.pipeline_file(name)})")
    return 0


def _cmd_pipeline_default(args: argparse.Namespace) -> int:
    from app.project import find_project

    project = find_project()
    if args.name is None:
        print(project.default_pipeline())
        return 0
    project.set_default(args.name)
    print(f"default pipeline: {args.name}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.server.app import create_app
    from app.settings import build_settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = build_settings(**overrides)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from app.settings import build_settings
    from app.worker import run

    run(build_settings(), burst=args.burst)
    return 0


def _cmd_install_local(_: argparse.Namespace) -> int:
    from app.runtimes.local_install import install

    return install()


# ---- task commands (the engine) ------------------------------------------------------------


def _with_local(work: Callable[[Any], Any], *, runs_stages: bool = False) -> int:
    """Open the project's store, run one task command, close the store.

    Ctrl-C while stages run (`runs_stages`): the driver leaves the task `stalled`; this says so in
    one line per task, exit code 130, and waits for the cancelled stages to kill their CLIs and
    close their pipes before the loop closes (else asyncio cancels them again mid-cleanup and
    prints "Event loop is closed" tracebacks as their pipes are collected)."""
    import asyncio

    from app.local import Local, database_url_from_env
    from app.project import find_project

    stalled: list[str] = []

    async def main() -> int:
        local = await Local.open(find_project(), database_url_from_env())
        before = await _stalled_ids(local) if runs_stages else set()
        _collect_from_now_on()
        try:
            result: int = await work(local)
            return result
        finally:
            if await _settle_cancelled_tasks() and runs_stages:
                stalled.extend(sorted(await _stalled_ids(local) - before))
            await local.close()

    _wait_for_children_without_threads()
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        for task_id in stalled:
            print(
                f"Interrupted: task {task_id} is stalled; `aqm restart {task_id}` resumes it", file=sys.stderr
            )
        return 130


async def _stalled_ids(local: Any) -> set[str]:
    return {task.id for task in await local.store.list_tasks(status="stalled", limit=STALLED_LOOKUP)}


async def _settle_cancelled_tasks() -> bool:
    """Wait (a bounded time) for the tasks an interrupt cancelled to finish; True if there were any."""
    import asyncio

    current = asyncio.current_task()
    cancelled = [task for task in asyncio.all_tasks() if task is not current and task.cancelling()]
    if cancelled:
        await asyncio.wait(cancelled, timeout=SETTLE_CANCELLED_S)
    return bool(cancelled)


def _collect_from_now_on() -> None:
    """Garbage collection back on for a command that runs stages (main() turned it off for the
    start-up): what start-up made is set aside (frozen), so collections walk only the task's
    own objects, and a long task's cycles are freed as they come."""
    import gc

    gc.freeze()
    gc.enable()


def _wait_for_children_without_threads() -> None:
    """Python 3.11 waits for each child process (one per stage) in a thread of its own; a pidfd
    in the event loop (Linux 5.3+) needs none. 3.12 does this by itself."""
    import asyncio

    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))  # the kernel may lack it, or a sandbox forbid it
    except OSError:
        return
    asyncio.set_child_watcher(asyncio.PidfdChildWatcher())


def _cmd_run(args: argparse.Namespace) -> int:
    from app.validation import parse_params

    params = parse_params(args.param)
    _prompt_missing_params(args.pipeline, params)

    async def run(local: Any) -> int:
        if args.sandbox:
            local.sandbox_stages()
        code: int = await local.run(args.input, pipeline=args.pipeline, agent=args.agent, params=params)
        return code

    return _with_local(run, runs_stages=True)


def _prompt_missing_params(pipeline: str | None, params: dict[str, str]) -> None:
    """Ask for required params that nothing sets (at a terminal; else the loader names what is missing)."""
    if not sys.stdin.isatty():
        return
    from app.project import find_project
    from app.spec.loader import declared_params

    project = find_project()
    chosen = pipeline or project.default_pipeline()
    file_values = project.params_file_values()
    for name, param in declared_params(project.reader, project.pipeline_file(chosen)).items():
        if param.required and param.default is None and name not in params and name not in file_values:
            question = param.prompt or param.description or f"Value for param '{name}'"
            params[name] = input(f"{question}: ").strip()


def _cmd_approve(args: argparse.Namespace) -> int:
    return _with_local(lambda local: local.approve(args.task, args.reason), runs_stages=True)


def _cmd_reject(args: argparse.Namespace) -> int:
    return _with_local(
        lambda local: local.approve(args.task, args.reason, decision="rejected"), runs_stages=True
    )


def _cmd_answer(args: argparse.Namespace) -> int:
    return _with_local(lambda local: local.answer(args.task, args.response), runs_stages=True)


def _cmd_cancel(args: argparse.Namespace) -> int:
    return _with_local(lambda local: local.cancel(args.task, args.reason))


def _cmd_restart(args: argparse.Namespace) -> int:
    return _with_local(lambda local: local.restart(args.task, args.from_stage), runs_stages=True)


def _cmd_fix(args: argparse.Namespace) -> int:
    from app.validation import parse_params

    params = parse_params(args.param)
    return _with_local(
        lambda local: local.fix(args.task, args.input, agent=args.agent, params=params), runs_stages=True
    )


def _cmd_chunks(args: argparse.Namespace) -> int:
    return _with_local(lambda local: local.chunks(args.task, args.action, args.value))


def _cmd_list(args: argparse.Namespace) -> int:
    async def show(local: Any) -> int:
        from app.views import task_table

        print(task_table(await local.store.list_tasks(status=args.filter, limit=args.limit)))
        return 0

    return _with_local(show)


def _cmd_status(args: argparse.Namespace) -> int:
    async def show(local: Any) -> int:
        from app.driver import load_state
        from app.views import task_details, task_table

        if args.task is None:
            print(task_table(await local.store.list_tasks(limit=20)))
            return 0
        task = await local.store.get_task(args.task)
        stages = await local.store.list_stages(task.id, texts=False)
        print(task_details(task, await load_state(local.store, task), stages))
        return 0

    return _with_local(show)


def _cmd_context(args: argparse.Namespace) -> int:
    async def show(local: Any) -> int:
        from app.views import agent_md, context_md, transcript_md

        task = await local.store.get_task(args.task)
        stages = await local.store.list_stages(task.id)
        if args.transcript:
            print(transcript_md(stages))
        elif args.agent:
            print(agent_md(stages, args.agent))
        else:
            print(context_md(task, stages))
        return 0

    return _with_local(show)


if __name__ == "__main__":
    raise SystemExit(main())
