"""Synonym tables as the smoothing of ``smoothed`` reads them: perturbation sets and their overlaps.

A table maps a word to its replacements (``synonyms.tsv``: a word, a tab, replacements separated
by commas; ``#`` comments and blank lines skipped; lower case; single words). From it:

* the **perturbation set** S(w) a word is resampled from: with ``sets = "listed"``, the word and
  its listed replacements, {w} ∪ table[w]; with ``sets = "component"``, the word's connected
  component in the undirected graph whose edges join each word to its replacements (SAFER's
  construction, which CertDR follows for small components);
* the **overlap** β(w) = min over w' ∈ table[w] of |S(w) ∩ S(w')| / max(|S(w)|, |S(w')|): one minus
  the largest total-variation distance between the uniform distributions on S(w) and S(w') that
  an attacker can cause by replacing w with one of its listed replacements w'. A word that is no
  key of the table has S(w) = {w}.

Errors in a user's file are ``ComponentError``s naming the file and the line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

from harness.sdk import ComponentError

WORD = re.compile(r"[^\W\d_]+")  # runs of letters, Unicode-aware: the same words perturb.py substitutes
PACKAGED = "synonyms.tsv"
SET_MODES = ("listed", "component")


@dataclass(frozen=True)
class SynonymTable:
    """A validated table: ``{word: replacements}`` (lower case), where it came from, and a hash of
    its content (for cache keys: a user's file may change under the same path)."""

    entries: dict[str, tuple[str, ...]]
    source: str
    fingerprint: str
    _sets: dict = field(default_factory=dict, compare=False, repr=False)

    def sets(self, mode: str) -> dict[str, tuple[str, ...]]:
        """Each key's perturbation set (sorted, the word itself included) under ``mode``."""
        if mode not in SET_MODES:
            raise ComponentError(f"smoothing sets must be one of {SET_MODES}, got {mode!r}")
        if mode not in self._sets:
            self._sets[mode] = self._listed() if mode == "listed" else self._components()
        return self._sets[mode]

    def overlaps(self, mode: str) -> dict[str, float]:
        """β(w) of each key under ``mode`` (module docstring); words absent have nothing to attack."""
        # kept, like the sets: smoothing.slots asks for them once per document, and a large user
        # table would otherwise be re-intersected word by word for every document of the corpus
        if ("overlaps", mode) in self._sets:
            return self._sets[("overlaps", mode)]
        sets = self.sets(mode)
        out = self._sets[("overlaps", mode)] = {}
        for word, replacements in self.entries.items():
            own = set(sets[word])
            out[word] = min(len(own & set(sets.get(r, (r,)))) / max(len(own), len(sets.get(r, (r,))))
                            for r in replacements)
        return out

    def _listed(self) -> dict[str, tuple[str, ...]]:
        return {word: tuple(sorted({word, *replacements})) for word, replacements in self.entries.items()}

    def _components(self) -> dict[str, tuple[str, ...]]:
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for word, replacements in self.entries.items():
            for r in replacements:
                parent[find(word)] = find(r)
        groups: dict[str, set[str]] = {}
        for word in parent:
            groups.setdefault(find(word), set()).add(word)
        # every word of a component is resampled, keys and replacements alike: the attacked text
        # may hold a replacement that is no key
        return {word: tuple(sorted(groups[find(word)])) for word in parent}

    @cached_property
    def size(self) -> int:
        return len(self.entries)


def parse_table(text: str, source: str) -> SynonymTable:
    """The table in ``text`` (the ``synonyms.tsv`` format), or a ``ComponentError`` naming
    ``source`` and the line of the first problem."""
    entries: dict[str, tuple[str, ...]] = {}
    # a byte-order mark (Windows editors write one) would glue itself to the first word and make
    # a correct file fail with an invisible character: it is no part of the table
    text = text.removeprefix("\ufeff")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{source}, line {number}"
        parts = line.split("\t")
        if len(parts) != 2:
            raise ComponentError(f"{where}: expected a word, a tab and its replacements separated by commas, "
                                 f"got {line.strip()[:80]!r}")
        word = parts[0].strip().lower()
        if not WORD.fullmatch(word):
            raise ComponentError(f"{where}: {parts[0].strip()!r} is not a single word (letters only)")
        if word in entries:
            raise ComponentError(f"{where}: {word!r} is listed twice")
        replacements = []
        for item in parts[1].split(","):
            item = item.strip().lower()
            if not item:
                continue
            if not WORD.fullmatch(item):
                raise ComponentError(f"{where}: replacement {item!r} of {word!r} is not a single word (letters "
                                     "only): a substitution replaces one word by one word")
            if item != word and item not in replacements:
                replacements.append(item)
        if not replacements:
            raise ComponentError(f"{where}: {word!r} has no replacement other than itself")
        entries[word] = tuple(replacements)
    if not entries:
        raise ComponentError(f"{source}: no synonyms (every line is blank or a comment)")
    return SynonymTable(entries, source, hashlib.sha256(text.encode()).hexdigest())


@lru_cache(maxsize=1)
def packaged_table() -> SynonymTable:
    """The plugin's own ``synonyms.tsv`` (package data)."""
    text = resources.files(__package__).joinpath(PACKAGED).read_text(encoding="utf-8")
    return parse_table(text, f"harness_robustness/{PACKAGED}")


def load_table(path: str | Path | None) -> SynonymTable:
    """A user's table from ``path`` (already resolved), or the packaged one for None."""
    if path is None:
        return packaged_table()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComponentError(f"synonym table {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComponentError(f"synonym table {str(path)!r} cannot be read: {exc}") from None
    return parse_table(text, str(path))
