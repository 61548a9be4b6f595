"""A task's pipeline on GitHub: the `.aqm/` tree read from the default branch, loaded and validated.

Every path that cannot use it ends in a `ConfigProblem` carrying the reply to post (the validation
errors with `.aqm/` paths, a file over GitHub's contents limit, an unknown pipeline, params from a
comment in fields that take no comment's params).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app import followups
from app.errors import SpecError, SpecErrors
from app.github import render
from app.github.gateway import CONTENTS_MAX_BYTES, FileTooLarge, GitHubGateway, Repository
from app.github.threads import Thread
from app.spec.loader import Pipeline, load_config, load_pipeline
from app.spec.models import ProjectConfig
from app.spec.source import MappingReader
from app.store.records import TaskRecord

PARAM_FIELDS_REFUSED = {"cli_flags", "claude_code_flags", "mcp", "model", "runtime", "command"}


@dataclass
class Loaded:
    pipeline: Pipeline
    config: ProjectConfig
    files: dict[str, str]
    default_branch: str  # the branch the files were read from
    comment_params: tuple[str, ...] = ()  # params given in a comment, now or to the task it continues


class ConfigProblem(Exception):  # carries the reply to post
    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


async def load_from_default_branch(
    gateway: GitHubGateway,
    thread: Thread,
    repository: Repository,
    pipeline: str | None,
    params: dict[str, str],
    *,
    files: dict[str, str] | None = None,
    task: TaskRecord | None = None,
    max_cost_usd: float | None = None,
) -> Loaded:
    """The `.aqm/` tree at the default branch's head (`files`, when already read), loaded and validated.

    `params` are a comment's `--param` values. With `task` (a task continued, resumed, restarted or
    fixed), the params it ran with come first, so it goes on with the values it started with.
    Params from a comment — this one's or the task's — fill prompt text only: a pipeline that puts
    params into `command`, `model`, … is refused for them. `max_cost_usd`: the shell's own cap on a
    task's cost (the Action's `max-cost-usd`), on top of config.yaml's budget.
    """
    if files is None:
        files = await read_config_files(gateway, thread, repository.default_branch)
    inherited = {} if task is None else followups.parent_params(task)
    given = tuple(sorted({*params, *(() if task is None else task.state.get("comment_params", ()))}))
    try:
        config, loaded = await asyncio.to_thread(_load_files, files, pipeline, {**inherited, **params})
    except SpecErrors as exc:
        raise ConfigProblem(render.validation_errors(_shown(exc.errors))) from None
    risky = sorted({f for _, f in loaded.param_fields if f in PARAM_FIELDS_REFUSED} if given else set())
    if risky:
        fields = "`, `".join(risky)
        raise ConfigProblem(
            f"This pipeline puts params into `{fields}`. Params given in a comment "
            "fill prompt text only, so this run is refused. Run it without `--param`."
            if params
            else f"This pipeline now puts params into `{fields}`, and task {task.id if task else ''} "
            "was started with params from a comment (`--param`), which fill prompt text only: it "
            "cannot go on. Start a new run without `--param`."
        )
    return Loaded(loaded, capped(config, max_cost_usd), files, repository.default_branch, given)


def capped(config: ProjectConfig, max_cost_usd: float | None) -> ProjectConfig:
    """`config` with a task's cost capped at `max_cost_usd` too: of two caps, the lower one holds."""
    budget = config.github.budget
    if max_cost_usd is None or (budget.max_cost_usd is not None and budget.max_cost_usd <= max_cost_usd):
        return config
    budget = budget.model_copy(update={"max_cost_usd": max_cost_usd})
    return config.model_copy(update={"github": config.github.model_copy(update={"budget": budget})})


async def read_config_files(gateway: GitHubGateway, thread: Thread, branch: str) -> dict[str, str]:
    """The `.aqm/` tree at `branch`; ConfigProblem naming a file over GitHub's contents API limit
    (which GitHub itself would not serve), before anything is parsed."""
    try:
        return await gateway.read_tree(thread.owner, thread.repo, branch, ".aqm")
    except FileTooLarge as exc:
        size = f" ({exc.size:,} bytes)" if exc.size is not None else ""
        raise ConfigProblem(
            render.escape_text(
                f"`{exc.path}` is too large{size}: GitHub serves files of up to 1 MB "
                f"({CONTENTS_MAX_BYTES:,} bytes) through its contents API, so aqm reads `.aqm/` "
                "files up to that size. Make it smaller, or split it into files it imports."
            )
        ) from None


async def load_config_files(files: dict[str, str]) -> ProjectConfig:
    """config.yaml of `.aqm/` files, parsed in a thread: YAML never stalls the event loop."""
    return await asyncio.to_thread(_load_config, files)


def _load_config(files: dict[str, str]) -> ProjectConfig:
    return load_config(MappingReader(files), "config.yaml")


def _load_files(
    files: dict[str, str], pipeline: str | None, overrides: dict[str, str]
) -> tuple[ProjectConfig, Pipeline]:
    """config.yaml and the pipeline named (else the default one), parsed and validated. Sync and pure:
    run in a thread, since a large file takes the parser seconds (a 10 MB one stalled /healthz ~6 s)."""
    reader = MappingReader(files)
    config = load_config(reader, "config.yaml")
    name = pipeline or config.default_pipeline or "default"
    path = _pipeline_path(files, name)
    loaded = load_pipeline(
        reader, path, name=name, overrides=overrides, params_file="params.yaml", config=config
    )
    return config, loaded


def _pipeline_path(files: dict[str, str], name: str) -> str:
    if f"pipelines/{name}.yaml" in files:
        return f"pipelines/{name}.yaml"
    if name == "default" and "agents.yaml" in files:
        return "agents.yaml"
    names = sorted(
        {p[len("pipelines/") : -5] for p in files if p.startswith("pipelines/") and p.endswith(".yaml")}
    )
    message = f"No pipeline named `{name}` in `.aqm/` on the default branch" + (
        f" (pipelines: {', '.join(names)})." if names else "; add `.aqm/agents.yaml`."
    )
    raise ConfigProblem(render.escape_text(message))  # the name comes from the comment: escape it


def _shown(errors: list[SpecError]) -> list[SpecError]:
    return [SpecError(e.message, f".aqm/{e.path}", e.line, e.column, e.fix) for e in errors]
