"""Tests of ir-harness-transformers (a package, so that its conftest is not imported as ``conftest``)."""
