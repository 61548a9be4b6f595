"""The project on disk: finding `.aqm/`, choosing a pipeline, `aqm init`, reading files.

aqm 1.3 layout: `.aqm/pipelines/<name>.yaml` (one pipeline each), the legacy
`.aqm/agents.yaml` read as the `default` pipeline when `pipelines/default.yaml` is absent,
`.aqm/config.yaml` and `.aqm/params.yaml` (param values for every pipeline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from app.errors import ProjectError, SpecErrors
from app.spec.loader import Pipeline, load_config, load_pipeline
from app.spec.models import ProjectConfig

AQM_DIR = ".aqm"
LEGACY_FILE = "agents.yaml"
PIPELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RUNTIME_CHOICES = ("claude", "gemini", "codex")


class FsReader:
    """Reads files under one root directory; refuses paths that leave it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def read_text(self, path: str) -> str:
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root):
            raise FileNotFoundError(path)
        return target.read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Project:
    root: Path  # the directory that contains .aqm/

    @property
    def aqm_dir(self) -> Path:
        return self.root / AQM_DIR

    @property
    def reader(self) -> FsReader:
        return FsReader(self.aqm_dir)

    def config(self) -> ProjectConfig:
        return load_config(self.reader, "config.yaml")

    def pipeline_names(self) -> list[str]:
        folder = self.aqm_dir / "pipelines"
        names = (
            {p.stem for p in folder.glob("*.yaml") if not p.name.startswith(".")}
            if folder.is_dir()
            else set()
        )
        names.discard("params")
        if (self.aqm_dir / LEGACY_FILE).is_file():
            names.add("default")
        return sorted(names)

    def default_pipeline(self, config: ProjectConfig | None = None) -> str:
        return (config or self.config()).default_pipeline or "default"

    def pipeline_file(self, name: str) -> str:
        """The pipeline's path relative to .aqm/; ProjectError naming the choices when unknown."""
        if not PIPELINE_NAME.match(name):
            raise ProjectError(f"'{name}' is not a valid pipeline name (letters, digits, '_', '-', '.')")
        if (self.aqm_dir / "pipelines" / f"{name}.yaml").is_file():
            return f"pipelines/{name}.yaml"
        if name == "default" and (self.aqm_dir / LEGACY_FILE).is_file():
            return LEGACY_FILE
        names = ", ".join(self.pipeline_names()) or "none"
        raise ProjectError(f"no pipeline named '{name}' in {self.aqm_dir} (pipelines: {names})")

    def load(self, name: str | None = None, *, overrides: dict[str, str] | None = None) -> Pipeline:
        config = self.config()
        chosen = name or self.default_pipeline(config)
        return load_pipeline(
            self.reader,
            self.pipeline_file(chosen),
            name=chosen,
            overrides=overrides,
            params_file="params.yaml",
            config=config,
        )

    def params_file_values(self) -> dict[str, object]:
        """Values from .aqm/params.yaml ({} when absent or not a mapping)."""
        from app.spec.loader import read_document

        if not (self.aqm_dir / "params.yaml").is_file():
            return {}
        try:
            data = read_document(self.reader, "params.yaml").data
        except SpecErrors:
            return {}
        return {str(k): v for k, v in data.items()} if isinstance(data, dict) else {}

    def set_default(self, name: str) -> None:
        self.pipeline_file(name)  # must exist
        path = self.aqm_dir / "config.yaml"
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        line = f"default_pipeline: {name}"
        if re.search(r"(?m)^default_pipeline:.*$", text):
            text = re.sub(r"(?m)^default_pipeline:.*$", line, text)
        else:
            text = f"{line}\n{text}"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(self.reader, "config.yaml")
        except SpecErrors as exc:
            raise ProjectError(f"config.yaml is not valid after the change:\n{exc}") from None


def find_project(start: Path | None = None) -> Project:
    """The nearest directory, from `start` up, that contains `.aqm/`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / AQM_DIR).is_dir():
            return Project(folder)
    raise ProjectError("Cannot find .aqm/ directory. Please run 'aqm init' first.")


def init_project(root: Path, *, runtime: str = "claude", overwrite: bool = False) -> list[Path]:
    """Write aqm 1.3's layout; existing files are kept unless `overwrite`. Returns files written."""
    if runtime not in RUNTIME_CHOICES:
        raise ProjectError(f"runtime must be one of {', '.join(RUNTIME_CHOICES)}")
    aqm = root / AQM_DIR
    (aqm / "pipelines").mkdir(parents=True, exist_ok=True)
    (aqm / "tasks").mkdir(exist_ok=True)
    from importlib import resources

    templates = resources.files("app") / "templates"
    files = {
        aqm / "pipelines" / "default.yaml": (templates / "default.yaml")
        .read_text()
        .replace("__RUNTIME__", runtime),
        aqm / "config.yaml": (templates / "config.yaml").read_text(),
    }
    written = []
    for path, text in files.items():
        if path.exists() and not overwrite:
            continue
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def reader_for_file(path: Path) -> tuple[FsReader, str]:
    """A reader rooted at the `.aqm/` that holds `path` (else its folder) and its relative path."""
    resolved = path.resolve()
    for folder in resolved.parents:
        if folder.name == AQM_DIR:
            return FsReader(folder), resolved.relative_to(folder).as_posix()
    return FsReader(resolved.parent), resolved.name
