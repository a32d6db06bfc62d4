"""Reading an edition's YAML strictly: repeated keys and alias bombs refused; ``_Node`` locates every error."""

from __future__ import annotations

import difflib
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
        where = f"{self.file}: key '{self._join(key)}'" if (key or self.path) else str(self.file)
        return EditionError(what, where=where, fix=fix)

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


class _ExpansionError(yaml.composer.ComposerError):
    """Aliases that expand past MAX_YAML_VALUES, or an alias inside its own anchor."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping (safe_load keeps the last one silently)
    and aliases that expand to more than :data:`MAX_YAML_VALUES` values."""

    def compose_document(self) -> yaml.Node | None:
        self.expanded: dict[int, int] = {}  # id(node) -> values it holds once its aliases are expanded
        self.values = 0
        return super().compose_document()

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event = self.peek_event()
        node = super().compose_node(parent, index)
        if isinstance(event, yaml.AliasEvent):
            if id(node) not in self.expanded:
                raise _ExpansionError(None, None, f"alias *{event.anchor} inside its own anchor (a recursive structure)", event.start_mark)
            size = self.expanded[id(node)]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
            size = 1 + sum(self.expanded[id(c)] for c in children)
            self.expanded[id(node)] = size
        self.values += size if isinstance(event, yaml.AliasEvent) else 1
        if self.values > MAX_YAML_VALUES:
            raise _ExpansionError(None, None, f"the aliases expand to more than {MAX_YAML_VALUES:,} values (nested anchors and aliases)", event.start_mark)
        return node


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


def read_yaml(file: Path) -> Any:
    """Safe-load one YAML file; a syntax error or a repeated key names the file, line and column."""
    if not file.is_file():
        raise EditionError(f"file not found: {file}", fix="create it, or fix the name that points to it")
    try:
        return yaml.load(file.read_text(encoding="utf-8"), Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(file)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, _ExpansionError):
            fix = "write the values out instead of nesting aliases (an edition file needs no more than a few aliases of small blocks)"
        elif problem.startswith("duplicate key"):
            fix = "keep one entry per key: remove or rename the repeated one"
        else:
            fix = "correct the YAML syntax at that place"
        raise EditionError(f"invalid YAML: {problem}", where=where, fix=fix) from None
    except UnicodeDecodeError:
        raise EditionError("not UTF-8 text", where=str(file), fix="save the file as UTF-8") from None
