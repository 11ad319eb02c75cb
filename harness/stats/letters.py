"""Compact letter display of all-pairwise comparisons: Piepho's insert-absorb algorithm.

Piepho, H.-P. (2004). An algorithm for a letter-based representation of all-pairwise
comparisons. Journal of Computational and Graphical Statistics 13(2), 456-466.

Given items in display order and the pairs that differ significantly, assign each item one or
more letters such that two items share a letter exactly when they do *not* differ significantly.

1. Start with one letter (column) holding every item.
2. Insert: for each significant pair (i, j), in display order, every column holding both is
   split in two: a copy without i and a copy without j.
3. Absorb: after each pair, drop every column whose items are a subset of another column's.
4. Sweep (Piepho's second step): remove a letter from an item where every item sharing that
   letter with it also shares another letter with it, then absorb again. Nothing is lost:
   the two properties above still hold with fewer letters.
5. Name the columns a, b, c, ... in order of their first (then second, ...) item in display
   order, so the first item gets ``a``. After ``z`` come ``A`` to ``Z``, then ``{53}``, ``{54}``...

Plain Python, deterministic: the same input always gives the same letters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from string import ascii_letters

from ._common import StatsError


def _letter(k: int) -> str:
    return ascii_letters[k] if k < len(ascii_letters) else f"{{{k + 1}}}"


def _absorb(columns: list[frozenset]) -> list[frozenset]:
    """Columns that are not a subset of another (of equal columns, the first is kept)."""
    kept: list[frozenset] = []
    for i, column in enumerate(columns):
        if not column:
            continue
        redundant = any(
            column < other or (column == other and j < i) for j, other in enumerate(columns) if j != i
        )
        if not redundant:
            kept.append(column)
    return kept


def _sweep(columns: list[frozenset]) -> list[frozenset]:
    columns = [set(c) for c in columns]
    for c, column in enumerate(columns):
        for item in sorted(column):
            others = [j for j in column if j != item]
            if sum(item in col for col in columns) < 2:
                continue  # its only letter
            elsewhere = [col for k, col in enumerate(columns) if k != c and item in col]
            if all(any(j in col for col in elsewhere) for j in others):
                column.discard(item)
    return _absorb([frozenset(c) for c in columns])


def compact_letter_display(items: Sequence[str], different: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Letters per item (in ``items`` order); items sharing a letter are not significantly different.

    ``items``: the display order (best first, usually). ``different``: the significantly
    different pairs, in either orientation.
    """
    items = list(items)
    if len(set(items)) != len(items):
        raise StatsError("compact letter display: item names must be unique")
    position = {name: k for k, name in enumerate(items)}
    pairs = set()
    for x, y in different:
        if x not in position or y not in position:
            unknown = x if x not in position else y
            raise StatsError(f"compact letter display: unknown item {unknown!r}")
        if x != y:
            pairs.add(tuple(sorted((position[x], position[y]))))
    columns = [frozenset(range(len(items)))] if items else []
    for i, j in sorted(pairs):
        split = []
        for column in columns:
            if i in column and j in column:
                split.extend([column - {i}, column - {j}])
            else:
                split.append(column)
        columns = _absorb(split)
    columns = _sweep(columns)
    columns.sort(key=lambda column: sorted(column))
    letters = {name: "" for name in items}
    for k, column in enumerate(columns):
        for index in sorted(column):
            letters[items[index]] += _letter(k)
    return letters
