"""YAML loading that keeps where every value came from.

PyYAML turns a document into plain dicts and lists and forgets positions.  We compose the
node tree once, build the Python values from it ourselves, and record each value's line
and column under its field path, so a validation error far from the parser can still say
``alertmanager.yml:42:9``.  Duplicate keys are refused, as Prometheus's strict YAML does.
Non-string scalars inside mappings and lists keep their source spelling (``scalars``), for
the fields Go would decode as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from guardia.config.errors import ConfigError, ConfigIssue, Path, format_path
from guardia.config.scalars import TextList, TextMap


@dataclass(slots=True)
class YamlSource:
    """A parsed YAML document and the positions of its values (1-based line and column)."""

    file: str
    data: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def mark(self, path: Path) -> tuple[int | None, int | None]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if p in self.marks:
                return self.marks[p]
            if not p:
                return (None, None)
            p = p[:-1]

    def issue(
        self, path: Path, message: str, *, severity: str = "error", at_key: bool = False
    ) -> ConfigIssue:
        line, col = (self.key_marks.get(tuple(path)) if at_key else None) or self.mark(path)
        return ConfigIssue(self.file, line, col, format_path(path), message, severity)  # type: ignore[arg-type]


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.marks: dict[Path, tuple[int, int]] = {}
        self.key_marks: dict[Path, tuple[int, int]] = {}
        self.issues: list[ConfigIssue] = []
        self._scalar = yaml.constructor.SafeConstructor()
        self._open: set[int] = set()  # collections being built: an alias back to one is a cycle

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self._open:
                # The alias itself has no position in PyYAML's tree; its key does.
                line, col = self.key_marks.get(path) or self.marks[path]
                self.issues.append(ConfigIssue(
                    self.file, line, col, format_path(path),
                    "a YAML alias (*name) refers to a mapping or list that contains it; configuration "
                    "cannot be recursive, so copy the values instead"))
                return None
            self._open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self._open.discard(id(node))
        return self._scalar.construct_object(node, deep=True)

    def _collection(self, node: yaml.CollectionNode, path: Path) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            texts: dict[Any, str] = {}
            for k_node, v_node in node.value:
                if k_node.tag == "tag:yaml.org,2002:merge":
                    merged = self.build(v_node, path)
                    for item in merged if isinstance(merged, list) else [merged]:
                        if isinstance(item, dict):
                            item_texts = item.texts if isinstance(item, TextMap) else {}
                            for k, v in item.items():
                                if k not in out:
                                    out[k] = v
                                    if k in item_texts:
                                        texts[k] = item_texts[k]
                    continue
                if not isinstance(k_node, yaml.ScalarNode):
                    kind = "mapping" if isinstance(k_node, yaml.MappingNode) else "list"
                    self.issues.append(
                        ConfigIssue(
                            self.file, k_node.start_mark.line + 1, k_node.start_mark.column + 1,
                            format_path(path),
                            f"a {kind} is used as a field name; field names are plain words "
                            "(doubled braces like {{...}} or a stray '?' cause this)",
                        )
                    )
                    continue
                key = self._scalar.construct_object(k_node, deep=True)
                if key is not None and not isinstance(key, str):
                    # Every mapping in these files is keyed by text (field, label, header
                    # names), and Go keeps a key as written: `true:`, `on:` and `1:` are the
                    # names "true", "on" and "1", not a boolean twice and a number.
                    key = k_node.value
                sub: Path = (*path, key if isinstance(key, str | int) else str(key))
                if key in out:
                    self.issues.append(
                        ConfigIssue(
                            self.file, k_node.start_mark.line + 1, k_node.start_mark.column + 1,
                            format_path(sub), f"field {key!r} is given twice in the same mapping; keep one",
                        )
                    )
                self.key_marks[sub] = (k_node.start_mark.line + 1, k_node.start_mark.column + 1)
                value = out[key] = self.build(v_node, sub)
                if value is not None and type(value) is not str and isinstance(v_node, yaml.ScalarNode):
                    texts[key] = v_node.value
                else:
                    texts.pop(key, None)
            return TextMap(out, texts) if texts else out
        items: list[Any] = []
        spelled: dict[int, str] = {}
        for i, item_node in enumerate(node.value):
            value = self.build(item_node, (*path, i))
            items.append(value)
            if value is not None and type(value) is not str and isinstance(item_node, yaml.ScalarNode):
                spelled[i] = item_node.value
        return TextList(items, spelled) if spelled else items


# libyaml's C parser when PyYAML was built with it: composing is most of a config check's time.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Errors the parser notices only where an unclosed bracket or quote runs into something else:
# the place to fix is where it was opened (as promtool reports it), not where the parser gave up.
_OPENED_AT = {
    "while parsing a flow sequence": "the '[' opened here is never closed",
    "while parsing a flow mapping": "the '{' opened here is never closed",
    "while scanning a quoted scalar": "the quote opened here is never closed",
}


def yaml_error_position(e: yaml.MarkedYAMLError) -> tuple[int | None, int | None, str]:
    """(line, column, message) for a YAML syntax error, 1-based, at the place to fix."""
    problem, context = e.problem or str(e), e.context or ""
    opened = _OPENED_AT.get(context)
    pm, cm = e.problem_mark, e.context_mark
    if opened and cm is not None and pm is not None and cm.line < pm.line:
        return (cm.line + 1, cm.column + 1,
                f"invalid YAML: {opened}: {problem} by line {pm.line + 1} column {pm.column + 1}")
    mark = pm or cm
    msg = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    return (mark.line + 1 if mark else None, mark.column + 1 if mark else None, msg)


def parse_yaml(text: str, file: str) -> YamlSource:
    """Parse one YAML document; raise ``ConfigError`` with the parser's position on bad syntax."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        line, col, msg = yaml_error_position(e)
        raise ConfigError([ConfigIssue(file, line, col, "", msg)]) from None
    except yaml.YAMLError as e:
        raise ConfigError.single(file, f"invalid YAML: {e}") from None
    if node is None:
        return YamlSource(file, None)
    b = _Builder(file)
    try:
        data = b.build(node, ())
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise ConfigError(
            [ConfigIssue(file, mark.line + 1 if mark else None, None, "", f"invalid YAML value: {e.problem}")]
        ) from None
    if b.issues:
        raise ConfigError(b.issues)
    return YamlSource(file, data, b.marks, b.key_marks)


def load_yaml(path: str | FsPath) -> YamlSource:
    p = FsPath(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(str(p), "file not found; check the path") from None
    except IsADirectoryError:
        raise ConfigError.single(str(p), "is a directory, expected a YAML file") from None
    except UnicodeDecodeError as e:
        raise ConfigError.single(str(p), f"not valid UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError.single(str(p), f"cannot read file: {e.strerror}") from None
    return parse_yaml(text, str(p))

