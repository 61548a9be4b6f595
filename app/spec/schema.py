"""JSON Schemas of agents.yaml and config.yaml, generated from the models (for editors)."""

from __future__ import annotations

from typing import Any

from app.spec.models import PipelineFile, ProjectConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def pipeline_schema() -> dict[str, Any]:
    schema = PipelineFile.model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, "title": "aqm agents.yaml", **schema}


def config_schema() -> dict[str, Any]:
    schema = ProjectConfig.model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, "title": "aqm .aqm/config.yaml", **schema}
