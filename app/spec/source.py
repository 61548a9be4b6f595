"""YAML documents that remember where every node came from.

`parse_yaml` turns text into plain Python data plus a `Positions` map from each node's
path (a tuple of keys and indices) to its line and column, so that a problem found
anywhere later — by pydantic, by a semantic check, after imports and extends have been
merged — can be reported at `file:line:column` of the node its author wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from app.errors import SpecError

try:  # the C parser is several times faster and produces the same nodes and marks
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is bundled with PyYAML's wheels
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[str | int, ...]
MAX_NODES = 200_000  # guards against alias bombs ("billion laughs")
MAX_DEPTH = 200


class Reader(Protocol):
    """Reads files of one pipeline tree; paths are POSIX, relative to the tree's root."""

    def read_text(self, path: str) -> str:
        """Return the file's text; raise FileNotFoundError when it does not exist."""
        ...


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based
    style: str | None = None  # the scalar style ('|', '>', '"', "'") or None
    indent: int = 0  # column of the block scalar's content, 0-based


@dataclass(slots=True)
class Positions:
    """Where each node of one file starts: values by path, mapping keys by the key's path."""

    file: str
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def at(self, path: Path, *, key: bool = False) -> Mark:
        """The mark of `path`, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            mark = table.get(path[:end]) or (self.values.get(path[:end]) if key else None)
            if mark is not None:
                return mark
        return Mark(1, 1)

    def error(self, path: Path, message: str, *, fix: str = "", key: bool = False) -> SpecError:
        mark = self.at(path, key=key)
        return SpecError(message, self.file, mark.line, mark.column, fix)


@dataclass(frozen=True, slots=True)
class Document:
    data: Any
    positions: Positions


def parse_yaml(text: str, file: str) -> Document:
    """Parse one YAML document; raise a one-element list of SpecError when it is not YAML."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise _Invalid([SpecError(f"invalid YAML: {problem}", file, line, column)]) from None
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        raise _Invalid([SpecError(f"invalid YAML: {exc}", file, 1, 1)]) from None
    positions = Positions(file)
    builder = _Builder(positions, loader, text.splitlines())
    data = None if node is None else builder.build(node, ())
    if builder.errors:
        raise _Invalid(builder.errors)
    return Document(data, positions)


class _Invalid(Exception):
    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__(errors)
        self.errors = errors


InvalidYaml = _Invalid


def _mark(node: yaml.Node, lines: list[str]) -> Mark:
    style = getattr(node, "style", None)
    start = node.start_mark
    return Mark(start.line + 1, start.column + 1, style, _content_indent(node, lines))


def _content_indent(node: yaml.Node, lines: list[str]) -> int:
    """Column (0-based) where a block scalar's text starts, to place errors inside it."""
    if not isinstance(node, yaml.ScalarNode) or node.style not in ("|", ">"):
        return 0
    first = node.start_mark.line + 1
    if first < len(lines):
        text = lines[first]
        return len(text) - len(text.lstrip(" "))
    return 0


class _Builder:
    """Builds plain data from a node tree, recording marks and structural problems."""

    def __init__(self, positions: Positions, loader: Any, lines: list[str]) -> None:
        self.lines = lines
        self.positions = positions
        self.loader = loader
        self.errors: list[SpecError] = []
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES or len(path) > MAX_DEPTH:
            return self._fail(node, "document is too large or too deeply nested (aliases expanded)")
        if id(node) in self.active:
            return self._fail(node, "recursive alias: a node contains itself")
        self.positions.values.setdefault(path, _mark(node, self.lines))
        if isinstance(node, yaml.MappingNode):
            return self._guarded(node, path, self._mapping)
        if isinstance(node, yaml.SequenceNode):
            return self._guarded(node, path, self._sequence)
        return self._scalar(node)

    def _guarded(self, node: yaml.Node, path: Path, build: Any) -> Any:
        self.active.add(id(node))
        try:
            return build(node, path)
        finally:
            self.active.discard(id(node))

    def _fail(self, node: yaml.Node, message: str) -> None:
        mark = _mark(node, self.lines)
        self.errors.append(SpecError(message, self.positions.file, mark.line, mark.column))
        return None

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            return self._fail(node, f"cannot read this value: {exc.problem or exc.context}")
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            return self._fail(node, f"cannot read this value: {exc}")

    def _sequence(self, node: yaml.SequenceNode, path: Path) -> list[Any]:
        return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in self._pairs(node):
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail(key_node, "a mapping key must be a plain scalar, not a list or mapping")
                continue
            key = self._scalar(key_node)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            child: Path = (*path, key) if isinstance(key, str | int) else (*path, str(key))
            if key in result:
                self._fail(key_node, f"duplicate key '{key}': YAML would silently keep only the last one")
                continue
            self.positions.keys[child] = _mark(key_node, self.lines)
            result[key] = self.build(value_node, child)
        return result

    def _pairs(self, node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        """Key/value node pairs with YAML merge keys (`<<: *base`) expanded, own keys winning."""
        own = [
            (k, v) for k, v in node.value if not (isinstance(k, yaml.ScalarNode) and k.tag.endswith(":merge"))
        ]
        own_keys = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag.endswith(":merge"):
                sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        self._fail(source, "a merge key (<<) needs a mapping or a list of mappings")
                        continue
                    for mk, mv in source.value:
                        if isinstance(mk, yaml.ScalarNode) and mk.value not in own_keys:
                            own_keys.add(mk.value)
                            merged.append((mk, mv))
        yield from own
        yield from merged


class MappingReader:
    """A pipeline tree held in memory: {relative path: text}. The App fetches `.aqm/` at one
    SHA into one of these, so every import and extends comes from the same revision."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = dict(files)

    def read_text(self, path: str) -> str:
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(path) from None
