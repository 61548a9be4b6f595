"""What the engine needs to know about a pipeline: the loaded pipeline and the project config."""

from __future__ import annotations

from dataclasses import dataclass

from app.spec.loader import Pipeline
from app.spec.models import Agent, ProjectConfig


@dataclass(frozen=True, slots=True)
class RunSpec:
    pipeline: Pipeline
    config: ProjectConfig

    def agent(self, agent_id: str) -> Agent:
        return self.pipeline.agent(agent_id)

    def timeout_for(self, runtime: str) -> float:
        return float(getattr(self.config.timeouts, runtime, 600))

    def gate_runtime(self, agent: Agent) -> str:
        """An llm gate's runtime: the gate's own, else config.yaml's, else the agent's."""
        if agent.gate is not None and agent.gate.runtime:
            return agent.gate.runtime
        return self.config.gate.runtime or agent.runtime or "claude"

    def gate_model(self, agent: Agent) -> str | None:
        if agent.gate is not None and agent.gate.model:
            return agent.gate.model
        return self.config.gate.model
