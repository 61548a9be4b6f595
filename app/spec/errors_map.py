"""Turn pydantic's validation errors into SpecErrors at the YAML node, with did-you-mean."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from app.errors import SpecError
from app.spec.source import Path, Positions
from app.spec.suggest import suggest


def spec_errors(
    exc: ValidationError, root: type[BaseModel], data: Any, positions: Positions, prefix: Path
) -> list[SpecError]:
    """Map each pydantic error onto the node its author wrote, dropping union-branch tags."""
    result: list[SpecError] = []
    for error in exc.errors(include_url=False):
        path, missing = _data_path(error["loc"], data, error["type"])
        where = (*prefix, *path)
        if error["type"] == "extra_forbidden":
            key = str(error["loc"][-1])
            allowed = _allowed_keys(root, path[:-1])
            result.append(positions.error(where, f"unknown key '{key}'", fix=suggest(key, allowed), key=True))
        elif missing is not None:
            result.append(
                positions.error(where, f"missing required key '{missing}'", fix=f"add '{missing}: ...'")
            )
        else:
            name = next((str(seg) for seg in reversed(path) if isinstance(seg, str)), "")
            message = _message(error)
            result.append(positions.error(where, f"{name}: {message}" if name else message, fix=_fix(error)))
    return result


def _data_path(loc: tuple[Any, ...], data: Any, kind: str) -> tuple[Path, str | None]:
    path: list[str | int] = []
    node = data
    for i, seg in enumerate(loc):
        if (isinstance(node, dict) and seg in node) or (
            isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node)
        ):
            path.append(seg)
            node = node[seg]
        elif i == len(loc) - 1 and kind == "missing":
            return tuple(path), str(seg)
        # anything else is a union tag (object/scalar/bool...) that the author never wrote
    return tuple(path), None


def _message(error: Any) -> str:
    text = str(error["msg"])
    if error["type"] == "string_pattern_mismatch":
        return f"'{error['input']}' is not a valid id"
    value = error.get("input")
    if isinstance(value, str | int | float | bool) and not isinstance(value, dict):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return f"{text[0].lower()}{text[1:]} (got {shown})"
    return f"{text[0].lower()}{text[1:]}"


def _fix(error: Any) -> str:
    if error["type"] in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"use {expected}" if expected else ""
    if error["type"] == "string_pattern_mismatch":
        return "use letters, digits, '_' and '-', starting with a letter or '_'"
    if error["type"] == "model_type" or error["type"] == "dict_type":
        return "write a mapping of key: value lines here"
    if error["type"] == "list_type":
        return "write a list here ('- item' lines or [a, b])"
    return ""


def _allowed_keys(root: type[BaseModel], path: Path) -> list[str]:
    current: Any = root
    for seg in path:
        current = _step(current, seg)
        if current is None:
            return []
    model = _model_in(current)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _step(tp: Any, seg: str | int) -> Any:
    for member in _members(tp):
        origin = get_origin(member)
        if isinstance(seg, int) and origin is list:
            return get_args(member)[0]
        if isinstance(seg, str) and origin is dict:
            return get_args(member)[1]
        if isinstance(seg, str) and isinstance(member, type) and issubclass(member, BaseModel):
            for name, field in member.model_fields.items():
                if seg in (name, field.alias):
                    return field.annotation
    return None


def _model_in(tp: Any) -> type[BaseModel] | None:
    for member in _members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _members(tp: Any) -> list[Any]:
    """The alternatives of a type, with Annotated and Optional unwrapped."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _members(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(tp) for m in _members(arg)]
    return [tp]
