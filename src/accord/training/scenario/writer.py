"""Deterministic output: sorted keys, UTF-8, ``\\n`` line ends, no time stamps."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import IO, Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))

dumps = _ENCODER.encode


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Pretty JSON with sorted keys (small documents: parties)."""
    text = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=2)
    path.write_text(text + "\n", encoding="utf-8", newline="\n")


def write_json_lines_doc(path: Path, doc: dict[str, Any]) -> None:
    """A JSON object whose top-level lists hold one element per line.

    Large documents (the ground truth) stay diff-able and are written with the
    C encoder (``indent`` would fall back to the slow pure-Python one).
    """
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("{\n")
        keys = sorted(doc)
        for n, key in enumerate(keys):
            value = doc[key]
            fh.write(f"{dumps(key)}: ")
            if isinstance(value, list):
                fh.write("[\n")
                for i, item in enumerate(value):
                    fh.write(dumps(item))
                    fh.write(",\n" if i < len(value) - 1 else "\n")
                fh.write("]")
            else:
                fh.write(dumps(value))
            fh.write(",\n" if n < len(keys) - 1 else "\n")
        fh.write("}\n")


class JsonlWriter:
    """One JSON object per line, buffered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: IO[str] = path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20)
        self._buffer: list[str] = []

    def write(self, obj: dict[str, Any]) -> None:
        self._buffer.append(dumps(obj))
        self.count += 1
        if len(self._buffer) >= 4096:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._fh.write("\n".join(self._buffer))
            self._fh.write("\n")
            self._buffer.clear()

    def close(self) -> None:
        self.flush()
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
