"""Load a pipeline: params, imports, extends/abstract, strict validation — one validator.

`load_pipeline` is what `aqm validate`, `aqm run` and the GitHub App all call. It reads
through a `Reader` (the filesystem for the CLI, a dict of the `.aqm/` tree fetched at one
SHA for the App) and never escapes the reader's root, so the spec stays free of I/O.
Every problem found is collected and raised at once as `SpecErrors`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from app.errors import SpecError, SpecErrors
from app.spec.models import Agent, Import, Param, ParamValue, PipelineFile, ProjectConfig
from app.spec.source import Document, InvalidYaml, Path, Positions, Reader, parse_yaml
from app.spec.suggest import suggest

PARAM_REF = re.compile(r"\$\{\{\s*params\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
TEMPLATE_FIELDS = {("system_prompt",), ("handoffs", "*", "payload"), ("gate", "prompt")}
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class Located:
    """Where a raw agent mapping was written: its file's positions and its path there."""

    positions: Positions
    prefix: Path

    def error(self, sub: Path, message: str, *, fix: str = "", key: bool = False) -> SpecError:
        return self.positions.error((*self.prefix, *sub), message, fix=fix, key=key)


@dataclass(slots=True)
class RawAgent:
    data: dict[str, Any]
    at: Located
    origins: dict[str, Located] = field(default_factory=dict)  # field -> where it was written
    dropped: set[str] = field(default_factory=set)  # fields left out because they are invalid

    def where(self, name: str) -> Located:
        return self.origins.get(name, self.at)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A loaded pipeline: concrete agents in file order, params resolved, positions kept."""

    name: str
    file: str
    entry_point: str
    agents: tuple[Agent, ...]
    params: Mapping[str, ParamValue]
    locations: Mapping[str, Located]  # agent id -> where its id was written
    param_fields: frozenset[tuple[str, str]] = frozenset()  # (agent id, field) filled from ${{ params }}
    warnings: tuple[SpecError, ...] = ()
    notes: tuple[SpecError, ...] = ()  # remarks that change nothing (`to` ignored under auto)
    by_id: Mapping[str, Agent] = field(init=False, repr=False, compare=False)  # looked up every stage

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {agent.id: agent for agent in self.agents})

    def agent(self, agent_id: str) -> Agent:
        return self.by_id[agent_id]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.agents)

    @property
    def first(self) -> Agent:
        return self.agents[0]


def read_document(reader: Reader, path: str, *, referrer: Located | None = None) -> Document:
    """Read and parse one YAML file; a missing file is a SpecError at the node that named it."""
    try:
        text = reader.read_text(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        if referrer is None:
            raise SpecErrors([SpecError("file not found", path, 1, 1)]) from None
        raise SpecErrors([referrer.error((), f"file not found: {path}", fix="fix the path")]) from None
    except UnicodeDecodeError as exc:
        raise SpecErrors([SpecError(f"not UTF-8 text: {exc.reason}", path, 1, 1)]) from None
    try:
        return parse_yaml(text, path)
    except InvalidYaml as exc:
        raise SpecErrors(exc.errors) from None


def load_config(reader: Reader, path: str = "config.yaml") -> ProjectConfig:
    """Load `.aqm/config.yaml`; a missing file means defaults, a broken one is an error."""
    try:
        reader.read_text(path)
    except FileNotFoundError:
        return ProjectConfig()
    doc = read_document(reader, path)
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise SpecErrors([doc.positions.error((), "config.yaml must be a mapping of settings")])
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise SpecErrors(spec_errors(exc, ProjectConfig, data, doc.positions, ())) from None
    errors = [
        doc.positions.error(
            ("github", "triggers", i, "label"), "'label' only applies to event issues.labeled"
        )
        for i, trigger in enumerate(config.github.triggers)
        if trigger.label is not None and trigger.event != "issues.labeled"
    ]
    if errors:
        raise SpecErrors(errors)
    return config


def load_pipeline(
    reader: Reader,
    path: str,
    *,
    name: str = "default",
    overrides: Mapping[str, str] | None = None,
    params_file: str | None = None,
    config: ProjectConfig | None = None,
) -> Pipeline:
    """Load, resolve and validate one pipeline file; raise SpecErrors with every problem."""
    loader = _Loader(reader, path, config or ProjectConfig())
    return loader.load(name, dict(overrides or {}), params_file)


class _Loader:
    def __init__(self, reader: Reader, path: str, config: ProjectConfig) -> None:
        self.reader = reader
        self.path = path
        self.config = config
        self.errors: list[SpecError] = []
        self.warnings: list[SpecError] = []
        self.notes: list[SpecError] = []
        self.params: dict[str, ParamValue] = {}
        self.param_fields: set[tuple[str, str]] = set()
        self.abstract: set[str] = set()
        self.known: set[str] = set()

    def load(self, name: str, overrides: dict[str, str], params_file: str | None) -> Pipeline:
        doc = read_document(self.reader, self.path)
        data = doc.data
        if not isinstance(data, dict):
            raise SpecErrors(
                [doc.positions.error((), "agents.yaml must be a mapping with an 'agents:' list")]
            )
        self._resolve_params(data, doc.positions, overrides, params_file)
        data = self._substitute(data, doc.positions, (), track=True)
        top = self._validate_top(data, doc.positions)
        raws = self._raw_agents(data, doc.positions, ("agents",))
        raws += self._imports(top.imports if top else [], data, doc.positions, [self.path])
        agents = self._resolve(raws)
        from app.spec.validate import CheckContext, check_pipeline

        locations = {agent.id: raw.at for agent, raw in agents}
        param_fields = _param_fields_by_id(self.param_fields, data)
        context = CheckContext(self.config, {a.id: raw for a, raw in agents}, self.abstract, self.known)
        self.errors += check_pipeline([a for a, _ in agents], context, self.warnings, self.notes)
        if not agents and not self.errors:
            self.errors.append(
                doc.positions.error(
                    ("agents",),
                    "the pipeline has no runnable agent",
                    fix=("add an agent that is not abstract"),
                )
            )
        if self.errors:
            raise SpecErrors(self.errors)
        return Pipeline(
            name=name,
            file=self.path,
            entry_point=top.entry_point if top else "first",
            agents=tuple(a for a, _ in agents),
            params=dict(self.params),
            locations=locations,
            param_fields=param_fields,
            warnings=tuple(self.warnings),
            notes=tuple(self.notes),
        )

    # ---- params -------------------------------------------------------------------------

    def _resolve_params(
        self, data: dict[str, Any], positions: Positions, overrides: dict[str, str], params_file: str | None
    ) -> None:
        raw = data.get("params") or {}
        if not isinstance(raw, dict):
            return  # reported by the top-level validation
        declared: dict[str, Param] = {}
        for key, value in raw.items():
            try:
                declared[str(key)] = (
                    Param.model_validate(value) if isinstance(value, dict) else Param(default=value)
                )
            except ValidationError as exc:
                self.errors += spec_errors(exc, Param, value, positions, ("params", key))
        from_file = self._params_file(params_file)
        for key in overrides:
            if key not in declared:
                self.errors.append(
                    SpecError(
                        f"unknown parameter '{key}' given with --param",
                        self.path,
                        1,
                        1,
                        suggest(key, list(declared)) or "the pipeline declares no params",
                    )
                )
        for key, param in declared.items():
            self._resolve_param(key, param, overrides, from_file, positions)

    def _resolve_param(
        self,
        key: str,
        param: Param,
        overrides: dict[str, str],
        from_file: dict[str, Any],
        positions: Positions,
    ) -> None:
        if key in overrides:
            try:
                self.params[key] = coerce_param(overrides[key], param.type)
            except ValueError as exc:
                self.errors.append(positions.error(("params", key), f"--param {key}: {exc}"))
        elif key in from_file:
            self.params[key] = from_file[key]
        elif param.default is not None:
            self.params[key] = param.default
        elif param.required:
            hint = f"give it with --param {key}=<value> or in params.yaml"
            detail = f" ({param.description})" if param.description else ""
            self.errors.append(
                positions.error(
                    ("params", key), f"required parameter '{key}' is not set{detail}", fix=hint, key=True
                )
            )
        else:
            self.params[key] = None

    def _params_file(self, params_file: str | None) -> dict[str, Any]:
        if params_file is None:
            return {}
        try:
            doc = read_document(self.reader, params_file)
        except SpecErrors as exc:
            if any(e.message == "file not found" for e in exc.errors):
                return {}
            self.errors += exc.errors
            return {}
        if doc.data is None:
            return {}
        if not isinstance(doc.data, dict):
            self.errors.append(doc.positions.error((), "params.yaml must be a mapping of name: value"))
            return {}
        return {str(k): v for k, v in doc.data.items()}

    def _substitute(self, node: Any, positions: Positions, path: Path, *, track: bool = False) -> Any:
        """Replace ${{ params.x }}: as data in templates, textually elsewhere (never in `params`)."""
        if path == ("params",):
            return node
        if isinstance(node, dict):
            return {k: self._substitute(v, positions, (*path, k), track=track) for k, v in node.items()}
        if isinstance(node, list):
            return [self._substitute(v, positions, (*path, i), track=track) for i, v in enumerate(node)]
        if not isinstance(node, str) or "${{" not in node:
            return node
        for ref in PARAM_REF.findall(node):
            if ref not in self.params:
                self.errors.append(
                    positions.error(
                        path,
                        f"unknown parameter reference ${{{{ params.{ref} }}}}",
                        fix=suggest(ref, list(self.params)) or "declare it under params:",
                    )
                )
        if _is_template(path):
            return PARAM_REF.sub(lambda m: "{{ params." + m.group(1) + " }}", node)
        if track:
            self._note_param_field(path, positions)
        whole = PARAM_REF.fullmatch(node.strip())
        if whole and whole.group(1) in self.params and not isinstance(self.params[whole.group(1)], str):
            return self.params[whole.group(1)]
        return PARAM_REF.sub(lambda m: _text(self.params.get(m.group(1))), node)

    def _note_param_field(self, path: Path, positions: Positions) -> None:
        """Remember (agent index, field) that a param filled outside prompt templates."""
        if len(path) >= 3 and path[0] == "agents" and isinstance(path[1], int):
            self.param_fields.add((str(path[1]), str(path[2])))

    # ---- structure ----------------------------------------------------------------------

    def _validate_top(self, data: dict[str, Any], positions: Positions) -> PipelineFile | None:
        top = {k: v for k, v in data.items() if k != "agents"}
        try:
            result = PipelineFile.model_validate(top)
        except ValidationError as exc:
            self.errors += spec_errors(exc, PipelineFile, top, positions, ())
            result = None
        if "agents" not in data:
            self.errors.append(
                positions.error((), "missing required key 'agents'", fix="add 'agents:' with a list")
            )
        return result

    def _raw_agents(self, data: Any, positions: Positions, prefix: Path) -> list[RawAgent]:
        items = data.get("agents") if isinstance(data, dict) else data
        if items is None:
            return []
        if not isinstance(items, list):
            self.errors.append(
                positions.error(prefix, "'agents' must be a list of agents ('- id: ...' items)")
            )
            return []
        raws = []
        for i, item in enumerate(items):
            at = Located(positions, (*prefix, i))
            if not isinstance(item, dict):
                self.errors.append(at.error((), "an agent must be a mapping with at least an 'id'"))
                continue
            raws.append(RawAgent(item, at))
        return raws

    def _imports(
        self, imports: list[Import], data: dict[str, Any], positions: Positions, stack: list[str]
    ) -> list[RawAgent]:
        raws: list[RawAgent] = []
        for i, spec in enumerate(imports):
            at = Located(positions, ("imports", i, "from"))
            target = _join(stack[-1], spec.from_)
            if target is None:
                self.errors.append(
                    at.error(
                        (),
                        f"import '{spec.from_}' leaves the pipeline directory",
                        fix="imports must stay inside .aqm/",
                    )
                )
                continue
            if target in stack:
                chain = " -> ".join([*stack[stack.index(target) :], target])
                self.errors.append(at.error((), f"import cycle: {chain}", fix="remove one of these imports"))
                continue
            raws += self._import_one(target, spec, at, stack, positions, i)
        return raws

    def _import_one(
        self, target: str, spec: Import, at: Located, stack: list[str], positions: Positions, index: int
    ) -> list[RawAgent]:
        try:
            doc = read_document(self.reader, target, referrer=at)
        except SpecErrors as exc:
            self.errors += exc.errors
            return []
        data = self._substitute(doc.data, doc.positions, ())
        if not isinstance(data, dict | list):
            self.errors.append(
                doc.positions.error((), "an imported file must hold agents.yaml or a list of agents")
            )
            return []
        nested: list[RawAgent] = []
        if isinstance(data, dict):
            nested_imports = self._validate_import_top(data, doc.positions)
            nested = self._imports(nested_imports, data, doc.positions, [*stack, target])
        raws = self._raw_agents(data, doc.positions, ("agents",) if isinstance(data, dict) else ()) + nested
        if not spec.agents:
            return raws
        by_id = {str(r.data.get("id")): r for r in raws}
        for j, wanted in enumerate(spec.agents):
            if wanted not in by_id:
                self.errors.append(
                    positions.error(
                        ("imports", index, "agents", j),
                        f"'{wanted}' is not an agent of {target}",
                        fix=suggest(wanted, list(by_id)),
                    )
                )
        return [by_id[w] for w in spec.agents if w in by_id]

    def _validate_import_top(self, data: dict[str, Any], positions: Positions) -> list[Import]:
        top = {k: v for k, v in data.items() if k != "agents"}
        try:
            return PipelineFile.model_validate(top).imports
        except ValidationError as exc:
            self.errors += spec_errors(exc, PipelineFile, top, positions, ())
            return []

    # ---- extends, abstract, models ------------------------------------------------------

    def _resolve(self, raws: list[RawAgent]) -> list[tuple[Agent, RawAgent]]:
        by_id: dict[str, RawAgent] = {}
        for raw in raws:
            self._check_raw(raw)
            agent_id = raw.data.get("id")
            if not isinstance(agent_id, str):
                continue
            if agent_id in by_id:
                self.errors.append(
                    raw.at.error(
                        ("id",), f"duplicate agent id '{agent_id}'", fix="give every agent its own id"
                    )
                )
                continue
            by_id[agent_id] = raw
        merged = {agent_id: self._merge(agent_id, by_id, []) for agent_id in by_id}
        self.abstract = {
            i for i, raw in merged.items() if raw is not None and raw.data.get("abstract") is True
        }
        self.known = set(by_id)
        result: list[tuple[Agent, RawAgent]] = []
        for agent_id, resolved in merged.items():
            if resolved is None or agent_id in self.abstract:
                continue
            agent = self._model(resolved)
            if agent is not None:
                result.append((agent, resolved))
        return result

    def _check_raw(self, raw: RawAgent) -> None:
        try:
            Agent.model_validate(raw.data)
        except ValidationError as exc:
            self.errors += spec_errors(exc, Agent, raw.data, raw.at.positions, raw.at.prefix)

    def _merge(self, agent_id: str, by_id: dict[str, RawAgent], chain: list[str]) -> RawAgent | None:
        raw = by_id[agent_id]
        parent_id = raw.data.get("extends")
        if parent_id is None:
            return RawAgent(dict(raw.data), raw.at, {k: raw.at for k in raw.data})
        if not isinstance(parent_id, str):
            return None
        if parent_id == agent_id or parent_id in chain:
            cycle = (
                [*chain[chain.index(parent_id) :], agent_id, parent_id]
                if parent_id in chain
                else [agent_id] * 2
            )
            self.errors.append(
                raw.at.error(
                    ("extends",), f"extends cycle: {' -> '.join(cycle)}", fix="remove one of these extends"
                )
            )
            return None
        if parent_id not in by_id:
            self.errors.append(
                raw.at.error(
                    ("extends",),
                    f"agent '{agent_id}' extends '{parent_id}', but no agent has that id",
                    fix=suggest(parent_id, list(by_id)),
                )
            )
            return None
        parent = self._merge(parent_id, by_id, [*chain, agent_id])
        if parent is None:
            return None
        data = {k: v for k, v in parent.data.items() if k not in ("abstract", "id", "name")}
        origins = {k: parent.where(k) for k in data}
        data.update({k: v for k, v in raw.data.items() if k != "extends"})
        origins.update({k: raw.at for k in raw.data})
        return RawAgent(data, raw.at, origins)

    def _model(self, raw: RawAgent) -> Agent | None:
        """The merged agent; invalid fields (already reported) are left out so that the
        semantic checks can still look at the rest of the agent."""
        try:
            return Agent.model_validate(raw.data)
        except ValidationError as exc:
            raw.dropped = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        try:
            return Agent.model_validate({k: v for k, v in raw.data.items() if k not in raw.dropped})
        except ValidationError:
            return None  # no usable id: the errors above say why


def _param_fields_by_id(fields: set[tuple[str, str]], data: dict[str, Any]) -> frozenset[tuple[str, str]]:
    agents = data.get("agents")
    if not isinstance(agents, list):
        return frozenset()
    result = set()
    for index, name in fields:
        item = agents[int(index)]
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            result.add((item["id"], name))
    return frozenset(result)


def spec_errors(
    exc: ValidationError, model: type[BaseModel], data: Any, positions: Positions, prefix: Path
) -> list[SpecError]:
    """pydantic's errors at their YAML nodes (imported on demand: valid files never need it)."""
    from app.spec.errors_map import spec_errors as convert

    return convert(exc, model, data, positions, prefix)


def coerce_param(text: str, kind: str) -> ParamValue:
    """A --param string as the declared type: number (int, else float) or boolean."""
    if kind == "number":
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"'{text}' is not a number") from None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in TRUE_WORDS | FALSE_WORDS:
            return lowered in TRUE_WORDS
        raise ValueError(f"'{text}' is not a boolean (true/false)")
    return text


def _is_template(path: Path) -> bool:
    if len(path) < 3 or path[0] != "agents":
        return False
    rest = tuple("*" if isinstance(p, int) else p for p in path[2:])
    return rest in TEMPLATE_FIELDS


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _join(importer: str, relative: str) -> str | None:
    """Resolve an import path against the importing file; None when it leaves the root."""
    if relative.startswith("/") or relative.startswith("~"):
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(importer), relative))
    if joined.startswith("../") or joined == "..":
        return None
    return joined


def model_fields(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def declared_params(reader: Reader, path: str) -> dict[str, Param]:
    """The params a pipeline file declares (for prompting before the full load); {} when unreadable."""
    try:
        data = read_document(reader, path).data
    except SpecErrors:
        return {}
    raw = data.get("params") if isinstance(data, dict) else None
    result: dict[str, Param] = {}
    for key, value in (raw or {}).items() if isinstance(raw, dict) else ():
        try:
            result[str(key)] = (
                Param.model_validate(value) if isinstance(value, dict) else Param(default=value)
            )
        except ValidationError:
            continue
    return result
