"""The suite file as text: TOML parsing, line numbers for key paths, ``--set`` overrides.

tomllib gives values but no positions, so ``locate`` finds the line of a key path
(``pipelines[2].ranker.depth``) by reading the table headers and keys the way TOML lays them
out. It is best effort: when a path cannot be placed exactly it returns the line of the nearest
enclosing key it could find, or None.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HarnessError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

@dataclass
class Problem:
    """One thing wrong with a suite, at a key path (and line, where it could be found)."""

    path: str
    message: str
    line: int | None = None

    def format(self, filename: str = "") -> str:
        if filename:
            where = filename + (f":{self.line}" if self.line else "")
        else:  # no file name to hang ":3" on
            where = f"line {self.line}" if self.line else ""
        return f"{where + ': ' if where else ''}{self.path + ': ' if self.path else ''}{self.message}"


class SuiteError(HarnessError, ValueError):
    """A suite that cannot run; ``problems`` lists everything wrong with it at once."""

    def __init__(self, problems: list[Problem], filename: str = ""):
        self.problems = problems
        self.filename = filename
        super().__init__("\n".join(p.format(filename) for p in problems))

    def format(self) -> str:
        """``<file>: N problem(s)`` and every problem on its own line (what ``harness`` prints)."""
        head = f"{self.filename or 'suite'}: {len(self.problems)} problem(s)"
        return "\n".join([head, *(f"  {p.format(self.filename)}" for p in self.problems)])


def format_path(path: tuple) -> str:
    """("pipelines", 2, "ranker", "depth") → ``pipelines[2].ranker.depth``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


MAX_DEPTH = 100
"""How deeply arrays and tables may nest in a suite (the deepest real suite needs about ten):
deeper, and the parser and the checker, which walk values recursively, would run out of stack."""

_TOO_DEEP = f"nested too deeply: arrays and tables may nest at most {MAX_DEPTH} levels"


def parse_toml(text: str, filename: str = "") -> dict:
    """The TOML document, or SuiteError with the parser's line and column (or, for values nested
    more than ``MAX_DEPTH`` levels, "nested too deeply")."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise SuiteError([Problem("", f"invalid TOML: {exc}", line)], filename) from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise SuiteError([Problem("", _TOO_DEEP)], filename) from None
    path = too_deep(raw)
    if path is not None:
        raise SuiteError([Problem(format_path(path), _TOO_DEEP, locate(text, path))], filename)
    return raw


def too_deep(value: Any, limit: int = MAX_DEPTH) -> tuple | None:
    """The key path of the first value nested more than ``limit`` levels deep, or None; walked
    without recursion, so that any depth is measured."""
    stack: list[tuple[Any, tuple]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > limit:
            return path[:limit]
        if isinstance(item, dict):
            stack.extend((v, path + (k,)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, path + (i,)) for i, v in enumerate(item))
    return None


def read_suite_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError([Problem("", "no such suite file")], str(path)) from None
    except UnicodeDecodeError as exc:
        raise SuiteError([Problem("", f"not UTF-8 text ({exc.reason} at byte {exc.start})")], str(path)) from None
    except OSError as exc:
        raise SuiteError([Problem("", f"cannot read: {exc.strerror}")], str(path)) from None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*=""")


def _split_key(key: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"""[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'""", key)]


def _line_paths(text: str) -> list[tuple[tuple, int]]:
    """(path, line) for every header and key line, paths with array indices resolved; and for an
    array of inline tables written over several lines (``stages = [`` then one table a line),
    each table and its keys on the line it is written on."""
    counts: dict[tuple, int] = {}
    table: tuple = ()
    out = []
    array: _Array | None = None  # a multi-line array being read
    for number, line in enumerate(text.splitlines(), 1):
        if array is not None:
            out += array.scan(line, number)
            if array.closed:
                array = None
            continue
        header = _HEADER.match(line)
        if header:
            parts = _split_key(header.group(2))
            resolved: tuple = ()
            for part in parts[:-1]:  # parents resolve to the latest element of an array
                resolved += (part,)
                if resolved in counts:
                    resolved += (counts[resolved] - 1,)
            resolved += (parts[-1],)
            if header.group(1) == "[[":
                counts[resolved] = counts.get(resolved, 0) + 1
                resolved += (counts[resolved] - 1,)
            table = resolved
            out.append((table, number))
            continue
        key = _KEY.match(line)
        if key:
            parts = tuple(_split_key(key.group(1)))
            for j in range(1, len(parts)):  # a.b = 1 also writes table a here
                out.append((table + parts[:j], number))
            path = table + parts
            out.append((path, number))
            rest = line[key.end():]  # keys of inline tables on the same line
            for inner in _INNER_KEY.finditer(rest):
                out.append((path + ("*", inner.group(1).strip('"')), number))
            if rest.lstrip().startswith("["):
                scanned = _Array(path)
                out += scanned.scan(rest, number)
                array = None if scanned.closed else scanned
    return out


# keys of inline tables: a match starts only where a bare key or a quoted one begins, and takes it
# whole (possessive), so a long value is scanned once instead of once per character
_INNER_KEY = re.compile(r"""(?<![A-Za-z0-9_\-])([A-Za-z0-9_\-]++|"[^"]*+")\s*=""")
_INLINE_KEY = re.compile(r"""\s*([A-Za-z0-9_\-]+|"[^"]*"|'[^']*')\s*=""")


class _Array:
    """Reads an array value line by line: each inline table at its top level is element ``j``,
    found with the keys written at its own top level."""

    def __init__(self, path: tuple):
        self.path = path
        self.stack: list[str] = []
        self.count = 0
        self.closed = False
        self.quote: str | None = None

    def scan(self, line: str, number: int) -> list[tuple[tuple, int]]:
        out = []
        i = 0
        while i < len(line) and not self.closed:
            c = line[i]
            if self.quote:
                if c == "\\" and self.quote == '"':
                    i += 1
                elif c == self.quote:
                    self.quote = None
            elif c in "\"'":
                self.quote = c
            elif c == "#":
                break
            elif c in "[{":
                if c == "{" and self.stack == ["["]:
                    out.append((self.path + (self.count,), number))
                    self.count += 1
                self.stack.append(c)
            elif c in "]}":
                if self.stack:
                    self.stack.pop()
                self.closed = not self.stack
            if self.stack == ["[", "{"] and c in "{," and not self.quote:
                key = _INLINE_KEY.match(line, i + 1)
                if key:
                    out.append((self.path + (self.count - 1, key.group(1).strip("\"'")), number))
            i += 1
        return out


def locate(text: str, path: tuple) -> int | None:
    """The line where ``path`` is written, or the closest enclosing key's line."""
    paths = _line_paths(text)
    best, best_len = None, 0
    for candidate, line in paths:
        matched = _match_len(candidate, path)
        if matched > best_len:
            best, best_len = line, matched
    return best


def _match_len(candidate: tuple, path: tuple) -> int:
    """How many leading parts of ``path`` ``candidate`` spells out; 0 unless all of it matches."""
    i = 0
    for part in candidate:
        if part == "*":  # the keys after it sit in an inline value, whose list indices aren't written
            while i < len(path) and isinstance(path[i], int):
                i += 1
            continue
        if i >= len(path) or path[i] != part:
            return 0
        i += 1
    return i


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (1.2, true, "x", [1, 2]), else the text itself."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ValueError(f"--set value {_TOO_DEEP}") from None
    if too_deep(value) is not None:
        raise ValueError(f"--set value {_TOO_DEEP}")
    return value


def split_assignment(assignment: str) -> tuple[list[str], Any]:
    """``pipelines.bm25.k1=1.2`` → (["pipelines", "bm25", "k1"], 1.2)."""
    if "=" not in assignment:
        raise ValueError(f"--set {assignment!r}: expected KEY.PATH=VALUE")
    key, value = assignment.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ValueError(f"--set {assignment!r}: empty key")
    return parts, parse_value(value.strip())
