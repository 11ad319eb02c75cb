"""Templates of ``harness new-plugin`` (see ``harness/scaffold.py``), as Python strings.

Strings in modules rather than template files: they ship inside the ``harness`` package with no
package-data configuration. ``string.Template`` placeholders (``$name``) leave the braces of
Python and TOML alone; a literal dollar is written ``$$``. One module per kind holds that kind's
component and what differs around it; this one holds the files every plugin has.
"""

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "$summary"
readme = "README.md"
requires-python = ">=3.10"
dependencies = [$dependencies]

[project.optional-dependencies]
test = ["pytest>=8"]

# How the harness finds the plugin: `harness plugins` lists what this module's hooks return.
[project.entry-points.harness]
$entry = "$module"

[tool.setuptools.packages.find]
include = ["$module*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

INIT = '''\
"""The ``$name`` $what for the ir-harness.

Distribution: $distribution.

The harness imports this module (the ``harness`` entry point in pyproject.toml) every time it
starts, for ``harness plugins`` too: keep it light, and import heavy libraries inside the
component's methods.
"""

from harness.sdk import hookimpl

from .$kind import $cls

__all__ = ["$cls", "$hook"]


@hookimpl
def $hook():
    return [$cls]
'''

TEST = '''\
"""Tests of the ``$name`` $what.

The harness's conformance kit on it, and a check that the plugin is installed. Run with
``pytest`` after ``pip install -e .``. Each rule of the contract is one test; a rule that does
not apply to your component is switched off by overriding its method (the harness's
docs/plugins.md, "Conformance kit").
"""

from harness.testing import $contract, installed_registry

from $module import $cls


class Test$cls($contract):
    component = $cls
$config

def test_the_plugin_is_installed_and_loads():
    """The harness finds plugins through installed metadata: this fails until `pip install -e .`."""
    registry = installed_registry("$distribution")
    installed = "$name" in registry.names("$kind")
    assert installed, "not installed: run `pip install -e .` in the plugin's folder"
    assert registry.broken() == [] and registry.conflicts() == []
    info = registry.find("$kind", "$name")
    assert info.distribution == "$distribution"
'''

README = '''\
# $distribution

$summary: the `$name` $what, a plugin for the
[ir-harness](https://pypi.org/project/ir-harness/) evaluation harness.

## Install

```console
pip install -e .
harness plugins
```

installs it from this folder, editable (edits take effect without reinstalling), and lists the
`$name` $what among the harness's components, from distribution `$distribution`. Once the
plugin is published: `pip install $distribution`.

## Use it in a suite

```toml
$suite
```

$parameters

## Develop

`$module/$kind.py` holds the component; `$module/__init__.py` the hook that hands it to the
harness. The tests run the harness's conformance kit on it (every rule of the $kind contract)
and check that the installed plugin loads:

```console
pip install -e ".[test]"
pytest
```

## Publish

Raise `version` in pyproject.toml, then build and upload:

```console
python -m pip install build twine
python -m build
python -m twine upload dist/*
```
'''

GITIGNORE = '''\
__pycache__/
*.egg-info/
build/
dist/
.pytest_cache/
'''
