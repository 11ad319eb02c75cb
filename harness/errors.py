"""The one error hierarchy: everything a user can cause is a ``HarnessError``.

A suite that does not validate, a malformed run or qrels file, a damaged results folder, a plugin
that cannot be found or that breaks its contract: each raises a subclass of ``HarnessError``
whose message names what is wrong and where. ``harness`` (cli.py) catches ``HarnessError`` once,
prints its message (``HarnessError.format``) and exits with status 2; any other exception is a bug
in the harness or a plugin and is shown with its traceback (exit status 70).

Subclasses that predate this hierarchy also derive from the built-in exception they used to be
(``SuiteError`` is still a ``ValueError``), so code that caught those keeps working.
"""

from __future__ import annotations

from contextlib import contextmanager


class HarnessError(Exception):
    """A problem the user can fix: bad input, options, files, plugins or environment."""

    def format(self) -> str:
        """What ``harness`` prints on stderr for this error (no trailing newline): ``error: <message>``.
        Subclasses with more to say (``SuiteError``: every problem, one a line) override it."""
        return f"error: {str(self) or type(self).__name__}"


class ResultsError(HarnessError, ValueError):
    """A results folder or file that is damaged, foreign or of an unknown schema.

    The message reads ``<file>: <key>: expected …``.
    """


class ComponentError(HarnessError, RuntimeError):
    """A component (a plugin's retriever, ranker, metric, ...) broke its contract; the message
    names the component and what it did."""


class NotFoundError(HarnessError, FileNotFoundError):
    """A file or folder the user named that is not there, or a folder that holds no harness run;
    the message names it. Also a ``FileNotFoundError``, as these were before."""


class UsageError(HarnessError, ValueError):
    """Options or arguments that cannot be honoured (a ``--pipeline`` selection that selects no
    cell, overrides given with an already validated suite, ...); the message says which and why."""


@contextmanager
def reading(path):
    """Inside, what a damaged file makes the reading code raise (invalid JSON, a list where a
    table belongs, a missing key) becomes a ``ResultsError`` naming ``path``; a ``HarnessError``
    passes unchanged. For the boundaries where results are loaded (``harness.load_results``,
    ``harness leaderboard``, ``report``, ``compare``)."""
    try:
        yield
    except HarnessError:
        raise
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except ValueError as exc:  # json.JSONDecodeError among them
        if hasattr(exc, "lineno"):
            reason = exc.msg.removesuffix(" at")
            raise ResultsError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {reason}") from exc
        raise ResultsError(f"{path}: {exc}") from exc
    except KeyError as exc:
        raise ResultsError(f"{path}: {exc.args[0] if exc.args else '?'}: expected, but missing") from exc
    except (TypeError, AttributeError, IndexError) as exc:
        raise ResultsError(f"{path}: not laid out as a harness results file ({exc})") from exc
