"""YAML text → plain data, keeping the line of every key and value.

We compose the YAML node tree ourselves (``yaml.compose_all``) instead of
``safe_load`` so that every error can name its line, and so that scalars get
the types an administrator expects rather than YAML 1.1's surprises:

* ``NO`` (Norway), ``ON``, ``yes``… stay strings; only ``true``/``false`` are booleans;
* ``06`` / ``0601`` (ICCS codes) stay strings, not octal numbers;
* dates stay text (``2024-02-30`` is reported, not a crash);
* duplicate keys are reported, not silently overwritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Document", "Issue", "Path_", "format_path", "parse_documents"]

Path_ = tuple[str | int, ...]

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


def format_path(path: Path_) -> str:
    """``('clauses', 0, 'grants', 'crime_areas', 1)`` → ``clauses[0].grants.crime_areas[1]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += part if not out else f".{part}"
    return out


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in an agreement file: where (file, line, field) and what."""

    file: str
    line: int
    field: str
    code: str
    message: str
    column: int = 0
    document: int = 0

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "document": self.document,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }


@dataclass(slots=True)
class Document:
    """One YAML document of a file as plain data, with the marks of its nodes."""

    file: str
    index: int
    data: Any
    line: int
    value_lines: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_lines: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def line_of(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the value at ``path`` (or of its key), else the nearest parent."""
        if key and path in self.key_lines:
            return self.key_lines[path]
        probe = path
        while probe:
            if probe in self.value_lines:
                return self.value_lines[probe]
            probe = probe[:-1]
        return self.value_lines.get((), (self.line, 1))

    def issue(self, path: Path_, code: str, message: str, *, key: bool = False) -> Issue:
        line, column = self.line_of(path, key=key)
        return Issue(self.file, line, format_path(path), code, message, column, self.index)


def _scalar(node: yaml.ScalarNode) -> Any:
    text = node.value
    if node.style is not None:  # quoted or block scalar: always a string
        return text
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _walk(node: yaml.Node, path: Path_, doc: Document, issues: list[Issue]) -> Any:
    doc.value_lines[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(
                    Issue(
                        doc.file, key_node.start_mark.line + 1, "", "bad-key", "keys must be plain names", 0, doc.index
                    )
                )
                continue
            key = key_node.value
            child: Path_ = (*path, key)
            key_mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                issues.append(
                    Issue(
                        doc.file,
                        key_mark[0],
                        format_path(child),
                        "duplicate-key",
                        f"key {key!r} appears twice in the same mapping",
                        key_mark[1],
                        doc.index,
                    )
                )
                continue
            doc.key_lines[child] = key_mark
            out[key] = _walk(value_node, child, doc, issues)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), doc, issues) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node)


def parse_documents(text: str, file: str | Path = "<string>") -> tuple[list[Document], list[Issue]]:
    """Every YAML document in ``text`` as data with marks, plus structural issues."""
    name = str(file)
    docs: list[Document] = []
    issues: list[Issue] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        column = mark.column + 1 if mark else 0
        problem = exc.problem or str(exc)
        issues.append(Issue(name, line, "", "yaml-syntax", f"YAML syntax: {problem}", column))
        return docs, issues
    except yaml.YAMLError as exc:
        issues.append(Issue(name, 1, "", "yaml-syntax", f"YAML syntax: {exc}"))
        return docs, issues
    for node in nodes:
        if node is None:
            continue
        doc = Document(name, len(docs), None, node.start_mark.line + 1)
        doc.data = _walk(node, (), doc, issues)
        docs.append(doc)
    if not docs and not issues:
        issues.append(Issue(name, 1, "", "empty", "no agreement in this file"))
    return docs, issues
