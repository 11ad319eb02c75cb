"""A plugin whose dependency is not installed: importing it fails."""

import harness_test_dependency_that_is_not_installed  # noqa: F401  (raises ModuleNotFoundError)

import harness


@harness.hookimpl
def harness_retrievers():
    return []
