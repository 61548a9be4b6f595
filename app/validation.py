"""`aqm validate` and the pipeline selection shared by the CLI commands that load one."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from app.errors import ProjectError, SpecError, SpecErrors
from app.project import FsReader, Project, find_project, reader_for_file
from app.spec.loader import Pipeline, load_config, load_pipeline
from app.spec.models import ProjectConfig

VERSION = re.compile(r"^v?\d+(\.\d+)*$")


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ProjectError(f"--param expects KEY=VALUE, got '{pair}'")
        result[key.strip()] = value
    return result


def load_selected(*, file: Path | None, pipeline: str | None, params: Sequence[str]) -> Pipeline:
    """The pipeline a command works on: FILE, else --pipeline, else the project's default."""
    overrides = parse_params(params)
    if file is not None:
        reader, path = reader_for_file(file)
        try:
            return load_pipeline(
                reader, path, name=pipeline_name(file), overrides=overrides, config=_config_near(reader)
            )
        except SpecErrors as exc:
            raise SpecErrors(_shown(exc.errors, reader)) from None
    project = find_project()
    try:
        return project.load(pipeline, overrides=overrides)
    except SpecErrors as exc:
        raise SpecErrors(_shown(exc.errors, project.reader)) from None


def validate_command(*, file: Path | None, pipeline: str | None, params: Sequence[str], strict: bool) -> int:
    overrides = parse_params(params)
    if file is not None and file.name == "config.yaml":
        return _validate_config_file(file)
    if file is not None:
        reader, path = reader_for_file(file)
        results = [_validate_one(reader, path, pipeline_name(file), overrides, _config_near(reader))]
        config_errors: list[SpecError] = []
    else:
        project = find_project()
        config, config_errors = _project_config(project)
        names = [pipeline] if pipeline else project.pipeline_names()
        if not names:
            raise ProjectError(
                f"no pipelines in {project.aqm_dir} (add pipelines/<name>.yaml or agents.yaml)"
            )
        reader = project.reader
        results = [_validate_one(reader, project.pipeline_file(n), n, overrides, config) for n in names]
        config_errors += _default_exists(project, config)
    return _report(results, config_errors, reader, strict)


def pipeline_name(file: Path) -> str:
    """A file's pipeline name: its stem, or `name@version` for a registry `<name>/<version>/agents.yaml`."""
    if file.stem == "agents" and VERSION.match(file.parent.name):
        return f"{file.parent.parent.name}@{file.parent.name}"
    return file.stem


def _validate_config_file(file: Path) -> int:
    reader, path = reader_for_file(file)
    try:
        load_config(reader, path)
    except SpecErrors as exc:
        return _report([], exc.errors, reader, strict=False)
    print(f"Valid — {_display(reader, path)} (config)")
    return 0


def _validate_one(
    reader: FsReader, path: str, name: str, overrides: dict[str, str], config: ProjectConfig
) -> tuple[str, Pipeline | None, list[SpecError]]:
    try:
        return path, load_pipeline(reader, path, name=name, overrides=overrides, config=config), []
    except SpecErrors as exc:
        return path, None, exc.errors


def _project_config(project: Project) -> tuple[ProjectConfig, list[SpecError]]:
    try:
        return project.config(), []
    except SpecErrors as exc:
        return ProjectConfig(), exc.errors


def _default_exists(project: Project, config: ProjectConfig) -> list[SpecError]:
    name = config.default_pipeline
    if name is None or name in project.pipeline_names():
        return []
    choices = ", ".join(project.pipeline_names())
    return [
        SpecError(f"default_pipeline '{name}' does not exist", "config.yaml", 1, 1, f"use one of: {choices}")
    ]


def _config_near(reader: FsReader) -> ProjectConfig:
    if reader.root.name != ".aqm":
        return ProjectConfig()
    return load_config(reader, "config.yaml")


def _report(
    results: list[tuple[str, Pipeline | None, list[SpecError]]],
    config_errors: list[SpecError],
    reader: FsReader,
    strict: bool,
) -> int:
    failed = bool(config_errors)
    for error in _shown(config_errors, reader):
        print(error.render(), file=sys.stderr)
    for path, pipeline, errors in results:
        shown = _display(reader, path)
        if pipeline is None:
            failed = True
            print(f"Invalid — {shown}: {len(errors)} error{'s' if len(errors) != 1 else ''}", file=sys.stderr)
            for error in _shown(SpecErrors(errors).errors, reader):
                print(error.render(), file=sys.stderr)
            continue
        print(f"Valid — {shown} ({_summary(pipeline)})")
        for warning in _shown(list(pipeline.warnings), reader):
            print(f"warning: {warning.render()}", file=sys.stderr)
        for note in _shown(list(pipeline.notes), reader):
            print(f"note: {note.render()}", file=sys.stderr)
        failed = failed or (strict and bool(pipeline.warnings))
    return 1 if failed else 0


def _summary(pipeline: Pipeline) -> str:
    agents = [a for a in pipeline.agents if a.type == "agent"]
    parts = [f"{len(agents)} agent{'s' if len(agents) != 1 else ''}"]
    sessions = len(pipeline.agents) - len(agents)
    if sessions:
        parts.append(f"{sessions} session{'s' if sessions != 1 else ''}")
    gates = sum(1 for a in agents if a.gate is not None)
    if gates:
        parts.append(f"{gates} gate{'s' if gates != 1 else ''}")
    runtimes = sorted({a.runtime for a in agents if a.runtime})
    parts.append("runtimes: " + ", ".join(runtimes))
    return "; ".join(parts)


def _display(reader: FsReader, path: str) -> str:
    full = reader.root / path
    try:
        return os.path.relpath(full)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(full)


def _shown(errors: list[SpecError], reader: FsReader) -> list[SpecError]:
    """Errors with paths as the user would type them (relative to the working directory)."""
    return [
        SpecError(
            e.message, _display(reader, e.path) if e.path != "--param" else e.path, e.line, e.column, e.fix
        )
        for e in errors
    ]
