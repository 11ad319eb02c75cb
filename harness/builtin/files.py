"""Reading the files dataset providers are made of: plain or gzip text, JSONL, SGML blocks.

Every reader raises ``DatasetError`` naming the file and line of a problem. Only regular files are
read (a named pipe would block for ever); a carriage return that is not part of a CRLF line end is
refused (CR-only line ends would make one line of the file; an SGML corpus may hold one, as
whitespace); a lone surrogate (``"\\ud800"``) in a JSON string is refused (it cannot be written as
UTF-8, and would fail the run far from its file).
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from ..collection import Document
from ..datasets import DatasetError
from ..trecfiles import LONE_CR, regular_file_problem


def is_gzip(path: Path) -> bool:
    if regular_file_problem(path):
        return False  # not opened (a named pipe would block); the reader that opens it next says why
    try:
        with path.open("rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False  # the reader that opens it next says why


def lines(path: Path, *, lone_cr: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, line without its line end) of a UTF-8 text file, gzip-compressed or not. A
    carriage return but in a CRLF line end raises unless ``lone_cr`` (then it stays in the line)."""
    problem = regular_file_problem(path)
    if problem:
        raise DatasetError(f"{path}: {problem}")
    opener = gzip.open if is_gzip(path) else open
    number = 0
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                # Decoded line by line so an encoding error names its line.
                line = raw.decode("utf-8")
                line = line[:-2] if line.endswith("\r\n") else line.rstrip("\n")
                if "\r" in line and not lone_cr:
                    raise DatasetError(f"{path}:{number}: {LONE_CR}")
                yield number, line.lstrip("\ufeff") if number == 1 else line
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, expected a file") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}:{number}: not UTF-8 text ({exc.reason})") from None
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz file
        raise DatasetError(f"{path}: cannot read it ({exc})") from None


def first_line(path: Path, *, lone_cr: bool = False) -> str:
    """The first non-blank line, to tell a file's format (``lone_cr`` as ``lines``')."""
    for _, line in lines(path, lone_cr=lone_cr):
        if line.strip():
            return line.strip()
    raise DatasetError(f"{path}: empty file")


def plain_or_gz(path: Path) -> Path:
    """``path``, or ``path.gz`` when only the compressed file exists."""
    gz = path.with_name(path.name + ".gz")
    return gz if not path.exists() and gz.exists() else path


def jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            why = f"malformed JSON ({exc.msg}, column {exc.colno})"
            raise DatasetError(f"{path}:{number}: {why}") from None
        except (ValueError, RecursionError) as exc:  # a number of thousands of digits, nesting too deep
            raise DatasetError(f"{path}:{number}: unreadable JSON ({exc})") from None
        if not isinstance(record, dict):
            why = f"expected a JSON object, got {type(record).__name__}"
            raise DatasetError(f"{path}:{number}: {why}")
        # json.loads turns the escape "\\ud800" into a lone surrogate, which no UTF-8 text holds:
        # looked for only in lines with such an escape (a C-speed search), then in the values read.
        if "\\u" in line and _SURROGATE_ESCAPE.search(line):
            found = _SURROGATE.search(json.dumps(record, ensure_ascii=False))
            if found:
                why = (f"a lone surrogate U+{ord(found.group()):04X} (an escape such as '\\ud800' without "
                       "its pair) is not a character and cannot be written as UTF-8")
                raise DatasetError(f"{path}:{number}: {why}")
        yield number, record


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def field(record: dict, keys: tuple[str, ...], path: Path, number: int, what: str) -> str:
    """The first of ``keys`` that a JSONL record has: a string; for an id (``what`` ends in "id")
    an integer too, read as its digits (``"_id": 3`` is ``"3"``). Anything else (a list, a number
    as text, ``true``) raises rather than becoming its Python repr."""
    for key in keys:
        value = record.get(key)
        if value is None:
            continue
        if type(value) is str:
            return value
        if what.endswith("id") and type(value) is int:
            return str(value)
        wanted = "a string or an integer" if what.endswith("id") else "a string"
        raise DatasetError(f"{path}:{number}: {what} {key!r} must be {wanted}, got {_json_type(value)}")
    wanted = " or ".join(repr(k) for k in keys)
    has = ", ".join(record) or "no keys"
    raise DatasetError(f"{path}:{number}: no {what} ({wanted}); the record has {has}")


def optional_text(record: dict, key: str, path: Path, number: int) -> str:
    """An optional text field (a title): a string, or missing or null (then empty)."""
    value = record.get(key)
    if value is None or type(value) is str:
        return value or ""
    raise DatasetError(f"{path}:{number}: {key} must be a string, got {_json_type(value)}")


def _json_type(value) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return f"{names.get(type(value), type(value).__name__)} ({json.dumps(value)[:40]})"


# What no id may hold: control characters (C0, DEL, C1) and a byte order mark; whitespace is
# refused beside it, since TREC run and qrels files separate their columns with it.
ID_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufeff]")


def id_problem(key: str, what: str) -> str | None:
    """Why ``key`` cannot be an id, or None: it must be a non-empty string a TREC run or qrels
    file can hold (no whitespace, no control character)."""
    bad = ID_CONTROL.search(key)
    if bad:
        return f"{what} {key!r} holds the control character U+{ord(bad.group()):04X}"
    if key.split() != [key]:
        return f"{what} {key!r} is empty or holds whitespace, which TREC run and qrels files cannot hold"
    return None


def unique(seen: dict[str, int], key: str, path: Path, number: int, what: str) -> None:
    """``key`` is a usable id seen for the first time: a TREC run or qrels file can hold it (no
    whitespace or control character, not empty), so a cell never fails at its end writing a run
    that would misread."""
    problem = id_problem(key, what)
    if problem:
        raise DatasetError(f"{path}:{number}: {problem}")
    if key in seen:
        raise DatasetError(f"{path}:{number}: duplicate {what} {key!r} (first at line {seen[key]})")
    seen[key] = number


def jsonl_docs(path: Path, id_keys: tuple[str, ...], text_keys: tuple[str, ...],
               gather: Callable[[Iterable[Document]], Sequence[Document]] = list) -> Sequence[Document]:
    """The documents of a JSONL file, read a line at a time and handed to ``gather`` as read
    (``Context.documents``: to disk for a large corpus, so the file is never held whole)."""
    seen: dict[str, int] = {}

    def read() -> Iterator[Document]:
        for number, record in jsonl(path):
            doc_id = field(record, id_keys, path, number, "document id")
            unique(seen, doc_id, path, number, "document id")
            text = field(record, text_keys, path, number, "text")
            yield Document(doc_id, text, optional_text(record, "title", path, number))

    docs = gather(read())
    if not docs:
        raise DatasetError(f"{path}: empty file, expected one JSON document a line")
    return docs


def jsonl_queries(
    path: Path, id_keys: tuple[str, ...], text_keys: tuple[str, ...]
) -> dict[str, str]:
    queries, seen = {}, {}
    for number, record in jsonl(path):
        qid = field(record, id_keys, path, number, "query id")
        unique(seen, qid, path, number, "query id")
        queries[qid] = field(record, text_keys, path, number, "text")
    if not queries:
        raise DatasetError(f"{path}: empty file, expected one JSON query a line")
    return queries


def sgml_blocks(path: Path, tag: str, *, lone_cr: bool = False) -> Iterator[tuple[int, str]]:
    """(line where it opens, inner text) of each ``<tag>…</tag>`` element, tag case ignored
    (``lone_cr`` as ``lines``')."""
    opening, closing = re.compile(f"<{tag}>", re.I), re.compile(f"</{tag}>", re.I)
    start, parts = 0, []
    for number, line in lines(path, lone_cr=lone_cr):
        while line:
            if not start:
                found = opening.search(line)
                if not found:
                    break
                start, line = number, line[found.end():]
                continue
            close, reopen = closing.search(line), opening.search(line)
            if reopen and (not close or reopen.start() < close.start()):
                raise DatasetError(f"{path}:{number}: <{tag}> opened at line {start} is not closed")
            if not close:
                parts.append(line)
                break
            parts.append(line[: close.start()])
            yield start, "\n".join(parts)
            start, parts, line = 0, [], line[close.end():]
    if start:
        raise DatasetError(f"{path}:{start}: <{tag}> is never closed")


def clean(text: str) -> str:
    """Whitespace collapsed: line breaks in SGML files are layout, not content."""
    return " ".join(text.split())


_MARKUP = re.compile(r"<[^>]*>")


def plain(sgml: str) -> str:
    """The text of an SGML fragment, markup (``<P>``) dropped."""
    return clean(_MARKUP.sub(" ", sgml))
