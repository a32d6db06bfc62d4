"""Pydantic models of the edition's flat blocks (settings, a figure's problems), built from their frozen values, and their errors as EditionErrors.

A block's model takes the dataclass' fields, types and defaults (one source: ``models.py``), is
strict (a whole number is not text, ``true`` is not a number) and forbids unknown keys. Pydantic's
error (its ``loc`` and type) becomes today's ``<file>: key '<dotted.key>': <what>`` + ``fix:``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic_core import ErrorDetails

from ..errors import EditionError
from .reading import _Node

T = TypeVar("T")
STRICT = ConfigDict(strict=True, extra="forbid")
# Pydantic's error type -> the reader's word for what was expected (as reading._kind_name says it).
EXPECTED = {"int_type": "a whole number", "float_type": "a number", "string_type": "text", "bool_type": "true or false"}


@functools.cache
def block_model(cls: type) -> type[BaseModel]:
    """The strict pydantic model of a flat dataclass: its fields, types and defaults (none: a required key), no other key."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {f.name: (hints[f.name], ... if f.default is dataclasses.MISSING else f.default) for f in dataclasses.fields(cls)}
    return create_model(f"{cls.__name__}Block", __config__=STRICT, **fields)


def flat_block(node: _Node, cls: type[T], shared_with: tuple[str, ...] = ()) -> T:
    """The block at ``node`` as a ``cls`` (its defaults where the block or a key is absent or null);
    the keys ``shared_with`` belong to another reader of the same block."""
    data = {} if node.data is None else node.require_mapping()
    values = {str(k): v for k, v in data.items() if v is not None and str(k) not in shared_with}
    try:
        block = block_model(typing.cast(type, cls)).model_validate(values)
    except ValidationError as exc:
        allowed = tuple(f.name for f in dataclasses.fields(typing.cast(Any, cls))) + shared_with
        raise _edition_error(node, exc.errors(), allowed) from None
    return cls(**block.model_dump())


def _edition_error(node: _Node, errors: list[ErrorDetails], allowed: tuple[str, ...]) -> EditionError:
    """The first of pydantic's errors as an EditionError at its key; an unknown key first, then a
    missing one, as ``_Node.mapping`` does."""
    error = min(errors, key=lambda e: (e["type"] != "extra_forbidden", e["type"] != "missing"))
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return node.unknown_key(key, allowed)
    if error["type"] == "missing":
        return node.missing_key(key)
    if error["type"] in EXPECTED:
        return node.wrong_type(key, EXPECTED[error["type"]], error["input"])
    return node.error(error["msg"], "correct the value", key=key)
