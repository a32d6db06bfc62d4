"""Reading an edition's YAML strictly: repeated keys and alias bombs refused; a :class:`Document` keeps
its nodes, so that an error at a key path gives the line where the key is written.

``_Node`` is the older walker that checks as it reads (``synth.yaml`` is still read with it); its
errors take their line from the file's :class:`Document` too.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import EditionError
from .models import _ID


class _Node:
    """A YAML mapping with its file and key path, so that every error can say where it is."""

    def __init__(self, data: Any, file: Path, path: str) -> None:
        self.data = data
        self.file = file
        self.path = path

    def error(self, what: str, fix: str, key: str | None = None) -> EditionError:
        path = self._join(key)
        where = f"{self.file}, line {_line_of(self.file, path)}"
        return EditionError(what, where=f"{where}: key '{path}'" if path else where, fix=fix)

    def _join(self, key: str | None) -> str:
        if key is None:
            return self.path
        return f"{self.path}.{key}" if self.path else key

    def require_mapping(self) -> dict:
        if not isinstance(self.data, dict):
            raise self.error(f"expected a mapping, found {type(self.data).__name__}", "write 'key: value' lines here")
        return self.data

    def mapping(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> _Node:
        self.require_mapping()
        for key in self.data:
            if key not in allowed:
                raise self.unknown_key(str(key), allowed)
        for key in required:
            if key not in self.data:
                raise self.missing_key(key)
        return self

    def unknown_key(self, key: str, allowed: tuple[str, ...]) -> EditionError:
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return self.error(f"unknown key '{key}'", hint, key=key)

    def missing_key(self, key: str) -> EditionError:
        return self.error(f"missing required key '{key}'", f"add '{key}:' here", key=key)

    def wrong_type(self, key: str, expected: str, value: Any) -> EditionError:
        """``expected`` is a reader's word for the type ("a whole number"), as in :func:`_kind_name`."""
        if isinstance(value, bool):
            return self.error(f"expected {expected}, found a boolean", "write the value itself", key=key)
        return self.error(f"expected {expected}, found {type(value).__name__} {value!r}", f"write {expected} here", key=key)

    def child(self, key: str) -> _Node:
        return _Node(self.data.get(key), self.file, self._join(key))

    def items(self, key: str) -> list[_Node]:
        value = self.data.get(key) or []
        if not isinstance(value, list):
            raise self.error("expected a list", "write one '- ' entry per item", key=key)
        return [_Node(v, self.file, f"{self._join(key)}{_entry_suffix(v, i)}") for i, v in enumerate(value)]

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.data.get(key, default)
        if value is None:
            return default
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise self.wrong_type(key, _kind_name(kind), value)
        return value

    def ident(self, key: str) -> str:
        value = self.get(key, (str, int))
        value = str(value)
        if not _ID.match(value):
            raise self.error(f"'{value}' is not a valid id", "use letters, digits and '_' (starting with a letter)", key=key)
        return value


def _line_of(file: Path, path: str) -> int:
    """The line of a dotted key path (``questions.Q5.codes.1``, ``problems[0]``) in the file, as an edition error gives it."""
    steps = [int(step[1:-1]) if step.startswith("[") else step for step in re.findall(r"\[\d+\]|[^.\[]+", path)]
    return read_document(file).line(tuple(steps))


def _entry_suffix(entry: Any, index: int) -> str:
    """``.Q5`` for an entry with a valid id (or target variable), else ``[3]``."""
    if isinstance(entry, dict):
        name = entry.get("id", entry.get("variable"))
        if isinstance(name, (str, int)) and not isinstance(name, bool) and _ID.match(str(name)):
            return f".{name}"
    return f"[{index}]"


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true or false", list: "a list", dict: "a mapping"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


# An edition file holds a few thousand values once its aliases are expanded; nested aliases that
# expand to more are an expansion bomb ("billion laughs"), refused before anything is built.
MAX_YAML_VALUES = 200_000
# libyaml composes the nodes in C (some ten times faster than PyYAML's composer); the guards then
# walk the composed nodes, where an alias is the very node of its anchor.
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ExpansionError(yaml.composer.ComposerError):
    """Aliases that expand past MAX_YAML_VALUES, or an alias inside its own anchor."""


class _StrictLoader(_BaseLoader):
    """A safe loader that refuses a key repeated in one mapping (safe_load keeps the last one silently)."""


def _refuse_expansion_bombs(root: yaml.Node, text: str) -> None:
    """Count the values of the document with its aliases expanded, in document order; refuse an alias
    inside its own anchor, or more than :data:`MAX_YAML_VALUES` values, at the line of the alias' parent."""
    expanded: dict[int, int] = {}  # id(node) -> values it holds once expanded; absent while being walked
    values = 0

    def walk(node: yaml.Node, parent: yaml.Node) -> int:
        nonlocal values
        if id(node) in expanded:  # met before: an alias of it
            size = expanded[id(node)]
            if size < 0:
                raise _ExpansionError(None, None, f"alias *{_anchor(node, text)} inside its own anchor (a recursive structure)", parent.start_mark)
            values += size
        else:
            expanded[id(node)] = -1
            values += 1
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
            size = 1 + sum(walk(child, node) for child in children)
            expanded[id(node)] = size
        if values > MAX_YAML_VALUES:
            raise _ExpansionError(None, None, f"the aliases expand to more than {MAX_YAML_VALUES:,} values (nested anchors and aliases)", parent.start_mark)
        return size

    walk(root, root)


def _anchor(node: yaml.Node, text: str) -> str:
    """The name of a node's anchor: the composed node keeps only its position, where ``&name`` is written."""
    line = text.splitlines()[node.start_mark.line]
    found = re.match(r"&([^\s,\[\]{}]+)", line[node.start_mark.column :])
    return found.group(1) if found else "?"


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: let the base constructor report it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


@dataclass(frozen=True)
class Document:
    """One YAML file: its values, and its composed nodes to find the line of any key path."""

    file: Path
    data: Any
    root: yaml.Node | None

    def place(self, *loc: str | int) -> Place:
        return Place(self, tuple(loc))

    def line(self, loc: tuple[str | int, ...]) -> int:
        """The line of the deepest key of ``loc`` that is written (a missing key: the line of its mapping)."""
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for step in loc:
            found = _child_node(node, step)
            if found is None:
                break
            line, node = found
        return line

    def key_path(self, loc: tuple[str | int, ...]) -> str:
        """``questions.Q5.asked_if``: list entries by their id when they have one, else ``[3]``."""
        path, data = "", self.data
        for step in loc:
            if isinstance(data, list):
                index = step if isinstance(step, int) else next((i for i, e in enumerate(data) if _entry_id(e) == step), -1)
                entry = data[index] if 0 <= index < len(data) else None
                path += _entry_suffix(entry, index) if entry is not None else f".{step}"
                data = entry
            else:
                path = f"{path}.{step}" if path else str(step)
                data = data.get(step, data.get(str(step))) if isinstance(data, dict) else None
        return path

    def error(self, loc: tuple[str | int, ...], what: str, fix: str) -> EditionError:
        where = f"{self.file}, line {self.line(loc)}"
        return EditionError(what, where=f"{where}: key '{self.key_path(loc)}'" if loc else where, fix=fix)


@dataclass(frozen=True)
class Place:
    """A key path of a document, so that a check on its value can say where it is written."""

    document: Document
    loc: tuple[str | int, ...] = ()

    def at(self, *keys: str | int) -> Place:
        return Place(self.document, self.loc + keys)

    def error(self, what: str, fix: str, key: str | int | tuple[str | int, ...] = ()) -> EditionError:
        return self.document.error(self.loc + (key if isinstance(key, tuple) else (key,)), what, fix)


def _entry_id(entry: Any) -> Any:
    return entry.get("id", entry.get("variable")) if isinstance(entry, dict) else None


def _child_node(node: yaml.Node, step: str | int) -> tuple[int, yaml.Node] | None:
    """The line and node of ``step`` under ``node``: a key of a mapping (its merged mappings too), or
    an entry of a list by position or by id."""
    if isinstance(node, yaml.SequenceNode):
        if isinstance(step, int):
            entry = node.value[step] if 0 <= step < len(node.value) else None
        else:
            entry = next((e for e in node.value if isinstance(e, yaml.MappingNode) and _scalar_of(e, ("id", "variable")) == str(step)), None)
        return (entry.start_mark.line + 1, entry) if entry is not None else None
    if isinstance(node, yaml.MappingNode):
        merged: list[yaml.Node] = []
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                merged += value.value if isinstance(value, yaml.SequenceNode) else [value]
            elif isinstance(key, yaml.ScalarNode) and key.value == str(step):
                return key.start_mark.line + 1, value
        return next((found for m in merged if (found := _child_node(m, step)) is not None), None)
    return None


def _scalar_of(node: yaml.MappingNode, keys: tuple[str, ...]) -> str | None:
    return next((v.value for k, v in node.value if k.value in keys and isinstance(v, yaml.ScalarNode)), None)


def read_yaml(file: Path) -> Any:
    """Safe-load one YAML file (values of its own, for a caller that may change them); a syntax
    error or a repeated key names the file, line and column."""
    return Document(file, *_parsed(_text(file), file)).data


def read_document(file: Path) -> Document:
    """One YAML file read strictly, with its nodes for the lines of later errors. Parsed once per
    content: loaded again (a run, its trends, its report), an unchanged file is not parsed again;
    its values are shared, and read only."""
    return Document(file, *_parsed_once(_text(file), file))


def _text(file: Path) -> str:
    if not file.is_file():
        raise EditionError(f"file not found: {file}", fix="create it, or fix the name that points to it")
    try:
        return file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise EditionError("not UTF-8 text", where=str(file), fix="save the file as UTF-8") from None


def _parsed(text: str, file: Path) -> tuple[Any, yaml.Node | None]:
    loader = _StrictLoader(text)  # a safe loader: no arbitrary objects
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _refuse_expansion_bombs(root, text)
        return loader.construct_document(root), root
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError, file: Path) -> EditionError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{file}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(file)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, _ExpansionError):
        fix = "write the values out instead of nesting aliases (an edition file needs no more than a few aliases of small blocks)"
    elif problem.startswith("duplicate key"):
        fix = "keep one entry per key: remove or rename the repeated one"
    else:
        fix = "correct the YAML syntax at that place"
    return EditionError(f"invalid YAML: {problem}", where=where, fix=fix)


_parsed_once = functools.lru_cache(maxsize=64)(_parsed)  # an edition has a few files; a watch process a few editions
