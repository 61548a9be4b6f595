"""Pydantic models of `agents.yaml` and `.aqm/config.yaml` (aqm 1.3.x, plus our keys).

Every model forbids unknown keys. Shorthands aqm accepts (a bare scalar param, an MCP server
given as a string, `human_input: true`) keep their union types here, so the generated JSON
Schema accepts them too; the `*_config` / `servers` properties give the normalised form.
"""

# No `from __future__ import annotations` here: pydantic would have to eval every annotation
# string when the classes are created, which `aqm validate` pays for on every run.
import shlex
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

Runtime = Literal["claude", "gemini", "codex", "command", "local"]
LlmRuntime = Literal["claude", "gemini", "codex", "local"]
ContextStrategy = Literal["none", "last_only", "own", "shared", "both"]
HumanInputMode = Literal["before", "on_demand", "both"]
AGENT_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
API_VERSION = "aqm/v0.1"
DEFAULT_GATE_SYSTEM_PROMPT = (
    "You are a quality gate evaluator. Judge whether the agent output below meets the criteria. "
    'Respond with only a JSON object: {"decision": "approved" or "rejected", "reason": "<one sentence>"}.'
)

AgentId = Annotated[str, Field(pattern=AGENT_ID_PATTERN)]
NonEmpty = Annotated[str, Field(min_length=1)]


def _kind(value: Any) -> str:
    """Pick one branch of a shorthand union by the input's shape, so errors name one branch."""
    if isinstance(value, dict | BaseModel):
        return "object"
    return "bool" if isinstance(value, bool) else "scalar"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class Handoff(Strict):
    """A routing rule: where the agent's output goes next, and when."""

    to: NonEmpty = Field(description="Target agent id, 'a, b' for fan-out, or '*' with condition auto")
    task: str = Field("", description="A label only")
    condition: str = Field(
        "always", description="always, on_approve, on_reject, on_pass, auto or an expression"
    )
    payload: str = Field(
        "{{ output }}", description="Jinja2: output, input, reject_reason, gate_result, params"
    )

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.to.split(",") if part.strip())


class Gate(Strict):
    """A quality gate judging its own agent's output right after the agent's stage."""

    type: Literal["llm", "human"] = "llm"
    prompt: str = ""
    model: str | None = None
    max_retries: int = Field(3, ge=1, description="The task fails on rejection number max_retries + 1")
    runtime: LlmRuntime | None = Field(None, description="Runtime asked for an llm verdict")


class McpServer(Strict):
    server: NonEmpty
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None


class HumanInput(Strict):
    enabled: bool = True
    mode: HumanInputMode = "on_demand"
    prompt: str = ""


class Retry(Strict):
    max_retries: int = Field(0, ge=0)
    fallback_context_strategy: ContextStrategy | None = None
    backoff: float = Field(0, ge=0, description="Seconds between attempts")


class Consensus(Strict):
    method: Literal["vote", "moderator_decides"] = "vote"
    keyword: NonEmpty = "VOTE: AGREE"
    require: Literal["all", "majority"] = "all"
    require_chunks_done: bool = False


class Chunks(Strict):
    enabled: bool = True
    initial: list[str] = Field(default_factory=list)


class Agent(Strict):
    """An agent (one LLM CLI or command per stage) or a session (agents talking in rounds)."""

    id: AgentId
    name: str = ""
    type: Literal["agent", "session"] = "agent"
    runtime: Runtime | None = None
    model: str | None = None
    system_prompt: str = ""
    handoffs: list[Handoff] = Field(default_factory=list)
    gate: Gate | None = None
    mcp: list[
        Annotated[
            Annotated[McpServer, Tag("object")] | Annotated[NonEmpty, Tag("scalar")], Discriminator(_kind)
        ]
    ] = Field(default_factory=list, description="MCP servers: {server, command, args, env} or a server name")
    cli_flags: list[str] | None = None
    claude_code_flags: list[str] | None = Field(None, description="Deprecated alias of cli_flags")
    context_strategy: ContextStrategy = "both"
    context_window: int = Field(3, ge=0)
    human_input: (
        Annotated[
            Annotated[HumanInput, Tag("object")]
            | Annotated[bool, Tag("bool")]
            | Annotated[HumanInputMode, Tag("scalar")],
            Discriminator(_kind),
        ]
        | None
    ) = Field(None, description="true (= on_demand), a mode, or {enabled, mode, prompt}")
    retry: Retry | None = None
    abstract: bool = False
    extends: str | None = None
    participants: list[str] = Field(default_factory=list)
    turn_order: Literal["round_robin", "moderator"] = "round_robin"
    max_rounds: int = Field(10, ge=1)
    consensus: Consensus | None = None
    summary_agent: str | None = None
    chunks: Chunks | None = None
    command: list[str] | str | None = Field(
        None, description="runtime: command only. argv words, or one line split like a shell (no shell runs)"
    )

    @field_validator("command")
    @classmethod
    def _split_command(cls, value: list[str] | str | None) -> list[str] | str | None:
        if isinstance(value, str):
            words = shlex.split(value)  # raises ValueError on an unclosed quote
            if not words:
                raise ValueError("command is empty")
            return words
        if value is not None and not value:
            raise ValueError("command is empty")
        return value

    @property
    def display_name(self) -> str:
        return self.name or self.id.replace("_", " ").replace("-", " ").title()

    @property
    def flags(self) -> list[str]:
        """The runtime's extra flags: cli_flags, else the deprecated claude_code_flags."""
        return list(self.cli_flags if self.cli_flags is not None else self.claude_code_flags or [])

    @property
    def argv(self) -> list[str]:
        return list(self.command) if isinstance(self.command, list) else []

    @property
    def servers(self) -> list[McpServer]:
        return [McpServer(server=item) if isinstance(item, str) else item for item in self.mcp]

    @property
    def human_input_config(self) -> HumanInput | None:
        value = self.human_input
        if value is None or value is False:
            return None
        if value is True:
            return HumanInput()
        if isinstance(value, str):
            return HumanInput(mode=value)
        return value if value.enabled else None

    @property
    def consensus_config(self) -> Consensus:
        return self.consensus or Consensus()


class Param(Strict):
    type: Literal["string", "number", "boolean"] = "string"
    default: Any = None
    required: bool = False
    description: str = ""
    prompt: str | None = None
    auto_detect: str | None = None


ParamValue = str | int | float | bool | None


class Import(Strict):
    from_: NonEmpty = Field(alias="from", description="Path relative to the importing file, inside .aqm/")
    agents: list[str] = Field(default_factory=list, description="Agent ids to take; empty = all")


class PipelineFile(Strict):
    """The top level of agents.yaml."""

    apiVersion: Literal["aqm/v0.1"] | None = None
    entry_point: Literal["first", "auto"] = "first"
    params: dict[
        str,
        Annotated[
            Annotated[Param, Tag("object")]
            | Annotated[ParamValue, Tag("scalar")]
            | Annotated[bool, Tag("bool")],
            Discriminator(_kind),
        ],
    ] = Field(default_factory=dict, description="name: {type, default, required, ...} or name: default value")
    imports: list[Import] = Field(default_factory=list)
    agents: list[Agent] = Field(default_factory=list)


# ---- config.yaml -------------------------------------------------------------------------


class PipelineSettings(Strict):
    max_stages: int = Field(20, ge=1)
    max_parallel: int = Field(4, ge=1, description="Fan-out branches running at once")


class GateSettings(Strict):
    model: str | None = Field(None, description="Default: the gate runtime's own default model")
    timeout: float = Field(120, gt=0)
    system_prompt: str = DEFAULT_GATE_SYSTEM_PROMPT
    runtime: LlmRuntime | None = Field(None, description="Default: the gated agent's own runtime")


class Timeouts(Strict):
    claude: float = Field(600, gt=0)
    gemini: float = Field(600, gt=0)
    codex: float = Field(600, gt=0)
    command: float = Field(600, gt=0)
    local: float = Field(600, gt=0)


TriggerEvent = Literal["issues.opened", "issues.labeled", "pull_request.opened", "pull_request.synchronize"]


class Trigger(Strict):
    event: TriggerEvent
    label: str | None = Field(None, description="issues.labeled only: the label that starts the pipeline")
    pipeline: NonEmpty
    agent: str | None = None


class Budget(Strict):
    max_stages: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    max_cost_usd: float | None = Field(None, gt=0)


class GitHubSettings(Strict):
    triggers: list[Trigger] = Field(default_factory=list)
    changes: Literal["pull_request", "pr_branch", "none"] = "pull_request"
    on_push: Literal["cancel", "restart", "ignore"] = "cancel"
    budget: Budget = Field(default_factory=Budget)
    allow_bots: list[str] = Field(
        default_factory=list, description="Bot logins whose events may trigger runs"
    )


class ProjectConfig(Strict):
    """`.aqm/config.yaml`. Every key is optional."""

    default_pipeline: str | None = None
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    github: GitHubSettings = Field(default_factory=GitHubSettings)
