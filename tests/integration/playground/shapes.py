"""Shape checks for the simulator's answers: githubkit's own model (lax, then strict) and the
required keys of GitHub's OpenAPI description (the subset copied into app/playground/fixtures)."""

from __future__ import annotations

from typing import Any

from githubkit import Response
from pydantic import TypeAdapter

from app.playground.simulator.examples import openapi


def operation_id(githubkit_name: str) -> str:
    """`issues.create_comment` -> `issues/create-comment` (GitHub's operationId)."""
    return githubkit_name.replace(".", "/").replace("_", "-")


def response_schema(githubkit_name: str, status: int) -> dict[str, Any] | None:
    for methods in openapi()["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id(githubkit_name):
                answer = operation["responses"].get(str(status))
                if answer is None:
                    return None
                answer = _resolve(answer)
                schema: dict[str, Any] | None = (
                    answer.get("content", {}).get("application/json", {}).get("schema")
                )
                return schema
    return None


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = openapi()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def missing_required(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Paths of required keys absent from `value` (through $ref, allOf, anyOf/oneOf, items)."""
    schema = _resolve(schema)
    if value is None:
        return []
    if "allOf" in schema:
        return [m for part in schema["allOf"] for m in missing_required(value, part, path)]
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        branches = [missing_required(value, option, path) for option in options]
        return min(branches, key=len)
    if isinstance(value, list) and "items" in schema:
        return [
            m for i, item in enumerate(value) for m in missing_required(item, schema["items"], f"{path}[{i}]")
        ]
    if not isinstance(value, dict):
        return []
    missing = [f"{path}.{key}" for key in schema.get("required", []) if key not in value]
    for key, sub in schema.get("properties", {}).items():
        if key in value:
            missing += missing_required(value[key], sub, f"{path}.{key}")
    return missing


def check_shape(response: Response[Any, Any], operation: str, status: int) -> Any:
    """The status is `status`, githubkit parses the body (also strictly) and no required key is missing."""
    assert response.status_code == status, response.raw_response.text
    parsed = response.parsed_data
    TypeAdapter(response._data_model).validate_json(response.content, strict=True)
    schema = response_schema(operation, status)
    if schema is not None:
        assert missing_required(response.json(), schema) == []
    for header in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset"):
        assert header in response.headers
    return parsed
