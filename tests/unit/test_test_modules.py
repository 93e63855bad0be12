"""Tests share helpers through tests/support/ and fixtures through conftest.py: no test module
imports another test module or a conftest (issue 23), so a helper lives in one place and a
test file can be read, moved or deleted on its own."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TEST_PACKAGES = ("tests.unit", "tests.integration", "tests.browser", "tests.conftest")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another_or_a_conftest() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 100  # the walk saw the test tree
    offenders = {
        str(path.relative_to(TESTS)): sorted(
            name for name in imported_modules(path) if name.startswith(TEST_PACKAGES)
        )
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}
