"""Reading a configuration: YAML text in, a validated `Config` or every problem out.

This module owns the YAML dialect (PyYAML's safe loader, with duplicate keys
refused and complex keys kept for the schema to name) and the one entry point,
`parse`, which raises ConfigError listing every problem at once. Only `load`
touches a file: it reads the text and hands it to `parse`; nothing else here
does I/O.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from speaker.core.config import schema
from speaker.core.config.model import Config
from speaker.core.config.types import At, ComplexKey, Problems
from speaker.core.errors import ConfigError

# What PyYAML's constructors raise for a scalar their tag cannot make (`2020-13-01`,
# `!!int x`, an integer of 5000 digits) or a node of the wrong kind (`!!set [a]`).
_BAD_NODE = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def _bad(node: yaml.Node, exc: Exception) -> yaml.constructor.ConstructorError:
    tag = node.tag.rsplit(":", 1)[-1]
    return yaml.constructor.ConstructorError(
        None, None, f"not a valid {tag} ({type(exc).__name__}: {exc})", node.start_mark)


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping.

    A key that is a list or a mapping (``? [a, b]``) cannot be a dict key in
    Python; it is kept as a ComplexKey so the schema reports it at its path.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except _BAD_NODE as exc:
            raise _bad(node, exc) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if not isinstance(node, yaml.MappingNode):  # a tag such as !!set on a list
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, but found {node.id}", node.start_mark)
        mapping: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key in mapping:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {line})", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def _key(self, node: yaml.Node) -> Hashable:
        if isinstance(node, yaml.ScalarNode):  # str, int, float, bool, null, bytes, dates
            key: Hashable = self.construct_object(node)
            return key
        mark = node.start_mark
        what = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        return ComplexKey(what, f"line {mark.line + 1}, column {mark.column + 1}")


def parse(text: str, source: str = "<config>") -> Config:
    """Parse and validate a YAML document; raise ConfigError listing every problem."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{source}: {where}invalid YAML: {reason}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: invalid YAML: nested too deeply"]) from None
    problems = Problems(source)
    config = At(problems).read(schema.config, data, None)
    if config is None or problems.items:
        raise ConfigError(problems.items)
    return config


def load(path: Path) -> Config:
    """Read and parse the file at `path` (the only function of the package that does I/O)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except PermissionError:
        raise ConfigError(
            [f"{path}: permission denied (run as the service user or root)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse(text, source=str(path))
