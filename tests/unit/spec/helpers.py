"""Load pipelines from YAML text in memory, for the spec tests."""

from __future__ import annotations

import textwrap

import pytest

from app.errors import SpecError, SpecErrors
from app.spec.loader import Pipeline, load_pipeline
from app.spec.models import ProjectConfig
from app.spec.source import MappingReader


def load(
    text: str,
    *,
    extra: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    config: ProjectConfig | None = None,
) -> Pipeline:
    files = {
        "agents.yaml": textwrap.dedent(text),
        **{k: textwrap.dedent(v) for k, v in (extra or {}).items()},
    }
    return load_pipeline(
        MappingReader(files), "agents.yaml", overrides=params, params_file="params.yaml", config=config
    )


def errors_of(text: str, **kwargs: object) -> list[SpecError]:
    with pytest.raises(SpecErrors) as caught:
        load(text, **kwargs)  # type: ignore[arg-type]
    return caught.value.errors
