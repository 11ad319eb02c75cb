"""docs/plugins.md documents every hook with its exact signature, and its example plugin works.

Every function in harness/hookspecs.py carrying the ``harness`` hookspec marker must have a
heading in docs/plugins.md that reads exactly as its signature in the code
(``### harness_retrievers() -> list[type]``); a heading for a hook that does not exist fails too.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pluggy
import pytest

from harness import hookspecs, plugins

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HEADING = re.compile(r"^#{1,6}[ \t]+`?(?P<text>(?P<name>harness_\w+)\(.*?)`?[ \t]*$", re.M)


# -- the checker ------------------------------------------------------------------------------


def hook_specs(module: ModuleType = hookspecs) -> dict[str, Callable]:
    """The functions of ``module`` marked with the harness ``@hookspec``, by name."""
    marker = f"{hookspecs.hookspec.project_name}_spec"
    return {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and getattr(obj, marker, None) is not None
    }


class _Source(str):
    """An annotation as written in the source (``from __future__ import annotations``)."""

    def __repr__(self) -> str:
        return str(self)


def signature_text(function: Callable) -> str:
    """``name(params) -> return`` from ``inspect.signature``, annotations as the code spells them."""
    signature = inspect.signature(function)

    def written(annotation):
        if annotation is inspect.Signature.empty:
            return annotation
        return _Source(annotation if isinstance(annotation, str) else inspect.formatannotation(annotation))

    parameters = [p.replace(annotation=written(p.annotation)) for p in signature.parameters.values()]
    signature = signature.replace(parameters=parameters, return_annotation=written(signature.return_annotation))
    return f"{function.__name__}{signature}"


def documented_hooks(text: str) -> dict[str, list[str]]:
    """Headings that document a hook (``### harness_x(...) -> ...``), by hook name."""
    found: dict[str, list[str]] = {}
    for match in HEADING.finditer(text):
        found.setdefault(match["name"], []).append(match["text"].strip())
    return found


def doc_problems(text: str, specs: dict[str, Callable]) -> list[str]:
    """What is wrong with ``text`` as the documentation of ``specs``; empty when nothing."""
    problems = []
    documented = documented_hooks(text)
    for name, function in specs.items():
        expected = signature_text(function)
        headings = documented.get(name, [])
        if not headings:
            problems.append(f"{name} is not documented: add a section headed '### {expected}'")
        elif len(headings) > 1:
            problems.append(f"{name} has {len(headings)} headings: {headings}")
        elif headings[0] != expected:
            problems.append(f"{name}: the heading reads '{headings[0]}', the code says '{expected}'")
    for name in sorted(set(documented) - set(specs)):
        problems.append(f"{name} is documented but is not a hook in harness/hookspecs.py")
    return problems


# -- the docs ---------------------------------------------------------------------------------


def test_every_hook_is_documented_with_its_signature():
    problems = doc_problems(DOC.read_text(encoding="utf-8"), hook_specs())
    assert not problems, "docs/plugins.md:\n" + "\n".join(problems)


def test_the_hook_specifications_are_found():
    """Guards against the check passing vacuously: the specs are found, and every one is a hook
    the registry collects."""
    specs = hook_specs()
    assert set(specs) == {hook for hook, _ in plugins.HOOKS.values()}
    assert signature_text(specs["harness_retrievers"]) == "harness_retrievers() -> list[type]"
    assert "hookimpl" not in specs and "hookspec" not in specs


# -- the checker can fail ---------------------------------------------------------------------

fake_spec = pluggy.HookspecMarker("harness")


def _fake_hookspecs() -> ModuleType:
    module = ModuleType("fake_hookspecs")
    source = textwrap.dedent('''
        from __future__ import annotations

        @hookspec
        def harness_things() -> list[type]:
            """Things."""

        @hookspec
        def harness_configure(config: dict, *, strict: bool = False) -> None:
            """Configuration."""

        def harness_helper() -> None:
            """Not a hook: no marker."""
        ''')
    exec(compile(source, "fake_hookspecs.py", "exec"), {**vars(module), "hookspec": fake_spec}, vars(module))
    return module


GOOD_DOC = """\
# Plugins

## Hooks

### harness_things() -> list[type]

Things.

### `harness_configure(config: dict, *, strict: bool = False) -> None`

Configuration.
"""


def test_checker_finds_marked_functions_only():
    specs = hook_specs(_fake_hookspecs())
    assert sorted(specs) == ["harness_configure", "harness_things"]
    assert signature_text(specs["harness_configure"]) == (
        "harness_configure(config: dict, *, strict: bool = False) -> None"
    )


def test_checker_accepts_complete_docs():
    assert doc_problems(GOOD_DOC, hook_specs(_fake_hookspecs())) == []


def test_checker_reports_a_missing_hook():
    text = GOOD_DOC.replace("### harness_things() -> list[type]", "### Things")
    assert doc_problems(text, hook_specs(_fake_hookspecs())) == [
        "harness_things is not documented: add a section headed '### harness_things() -> list[type]'"
    ]


def test_checker_reports_a_hook_mentioned_only_in_prose():
    text = GOOD_DOC.replace("### harness_things() -> list[type]", "harness_things() -> list[type]")
    assert doc_problems(text, hook_specs(_fake_hookspecs()))[0].startswith("harness_things is not documented")


@pytest.mark.parametrize("heading", [
    "### harness_things() -> list",
    "### harness_things(config) -> list[type]",
    "### harness_things()",
])
def test_checker_reports_a_signature_that_differs(heading):
    text = GOOD_DOC.replace("### harness_things() -> list[type]", heading)
    assert doc_problems(text, hook_specs(_fake_hookspecs())) == [
        f"harness_things: the heading reads '{heading[4:]}', the code says 'harness_things() -> list[type]'"
    ]


def test_checker_reports_a_stale_or_duplicated_heading():
    text = GOOD_DOC + "\n### harness_gone() -> list[type]\n\n### harness_things() -> list[type]\n"
    assert doc_problems(text, hook_specs(_fake_hookspecs())) == [
        "harness_things has 2 headings: ['harness_things() -> list[type]', 'harness_things() -> list[type]']",
        "harness_gone is documented but is not a hook in harness/hookspecs.py",
    ]


# -- the example plugin of "Writing a plugin from zero" ---------------------------------------


def _example() -> SimpleNamespace:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Writing a plugin from zero"): text.index("## Component contracts")]
    toml_blocks = re.findall(r"```toml\n(.*?)```", section, re.S)
    python_blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return SimpleNamespace(pyproject=toml_blocks[0], module=python_blocks[0], suite=toml_blocks[1],
                           test=python_blocks[1])


@dataclass
class _EntryPoint:
    """The example's entry point as if its distribution were installed."""

    path: Path
    name: str = "overlap"
    value: str = "harness_overlap"
    group: str = "harness"
    dist: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(name="harness-overlap", version="0.1.0"))

    def load(self):
        spec = importlib.util.spec_from_file_location("harness_overlap", self.path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def test_example_pyproject_declares_the_entry_point():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads(_example().pyproject)
    assert project["project"]["entry-points"]["harness"] == {"overlap": "harness_overlap"}
    assert project["tool"]["setuptools"]["py-modules"] == ["harness_overlap"]
    assert "ir-harness" in project["project"]["dependencies"]


def test_example_plugin_loads_validates_and_runs(tmp_path, tiny_beir, monkeypatch):
    from harness.runner import run_suite
    from harness.suite import load_suite

    example = _example()
    module = tmp_path / "harness_overlap.py"
    module.write_text(example.module)
    installed = plugins._entry_points()
    monkeypatch.setattr(plugins, "_entry_points", lambda: [*installed, _EntryPoint(module)])
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    monkeypatch.delenv(plugins.ALLOW_ENV, raising=False)

    namespace: dict = {}
    exec(compile(example.test, "docs/plugins.md", "exec"), namespace)
    namespace["test_plugin_loads"]()  # the page's own test of the plugin

    suite_file = tmp_path / "overlap.toml"
    suite_file.write_text(example.suite.replace('source = "irds:cranfield"', f'source = "beir:{tiny_beir}"'))
    registry = plugins.load_registry(env={})
    suite = load_suite(suite_file, registry=registry)
    outcome = run_suite(suite, results_dir=tmp_path / "results", registry=registry)
    assert [(r["cell"]["pipeline"], r["status"]) for r in outcome.results] == [("overlap", "ok"), ("bm25", "ok")]
    assert outcome.results[0]["stages"][0]["distribution"] == "harness-overlap"
    assert outcome.results[0]["metrics"]["RR@10"] == pytest.approx(4 / 5)  # see test_plugin_install


def test_every_first_party_component_is_documented():
    """Each component the core and the first-party plugins provide is named in docs/."""
    from harness.plugins import load_registry

    docs = "\n".join(p.read_text() for p in DOC.parent.rglob("*.md"))
    first_party = [
        c for p in load_registry().plugins for c in p.components if c.distribution.startswith("ir-harness")
    ]
    assert first_party
    missing = [f"{c.kind} {c.name}" for c in first_party if f"`{c.name}`" not in docs]
    assert not missing, f"undocumented components: {missing}"


# -- the SDK ----------------------------------------------------------------------------------

SDK_ROW = re.compile(r"^\|\s*`(?P<name>[A-Za-z_]\w*)`\s*\|", re.M)


def sdk_section(text: str) -> str:
    """docs/plugins.md from '## The SDK' to the next '## ' heading."""
    start = text.index("\n## The SDK\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def sdk_doc_problems(section: str, names: list[str]) -> list[str]:
    """Names of ``__all__`` without a reference row (``| `Name` | ...``), and rows naming
    something the SDK does not export."""
    rows = set(SDK_ROW.findall(section))
    problems = [f"{name} is in harness.sdk.__all__ but has no row in docs/plugins.md 'The SDK'"
                for name in names if name not in rows]
    problems += [f"{name} is documented under 'The SDK' but harness.sdk does not export it"
                 for name in sorted(rows - set(names))]
    return problems


def test_every_sdk_name_is_documented():
    import harness.sdk

    problems = sdk_doc_problems(sdk_section(DOC.read_text(encoding="utf-8")), harness.sdk.__all__)
    assert not problems, "\n".join(problems)


def test_the_sdk_check_can_fail():
    section = "## The SDK\n\n| name | what |\n|---|---|\n| `Run` | runs |\n| `Gone` | removed |\n"
    assert sdk_doc_problems(section, ["Run", "Param"]) == [
        "Param is in harness.sdk.__all__ but has no row in docs/plugins.md 'The SDK'",
        "Gone is documented under 'The SDK' but harness.sdk does not export it",
    ]
