"""The tests a guide page cites, as pages of the site: every `tests/test_x.py::test_name` written
in a page becomes a link to the test's source, shown on a page generated from the test file at
each `make docs` (one section per test function, anchored by its name). So "Checked by" is one
click from the claim to the code that checks it, and a renamed test breaks the strict build
(tests/test_docs.py also checks that every cited test exists).
"""

from __future__ import annotations

import ast
import posixpath
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"`tests/(test_\w+)\.py::(\w+)`")


def cited_files(docs: Path) -> set[str]:
    """The stems of the test files the hand-written pages cite."""
    return {m.group(1) for page in docs.rglob("*.md") for m in CITED.finditer(page.read_text())}


def test_page(stem: str) -> str:
    """One test file as a page: its docstring, then each test function's source under its name."""
    source = (ROOT / f"tests/{stem}.py").read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    parts = [f"# `tests/{stem}.py`", "", ast.get_docstring(tree) or "", "",
             f"Run them with `python -m pytest tests/{stem}.py`.", ""]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            body = "\n".join(lines[first - 1:node.end_lineno])
            parts += [f"## `{node.name}` {{#{node.name}}}", "", "```python", body, "```", ""]
    return "\n".join(parts)


def test_pages(docs: Path) -> list[tuple[str, str]]:
    """(site path, Markdown) for every cited test file."""
    return [(f"reference/tests/{stem}.md", test_page(stem)) for stem in sorted(cited_files(docs))]


def link_citations(markdown: str, page_uri: str) -> str:
    """Each `tests/test_x.py::name` in a page made a link to its section of the test's page."""
    here = posixpath.dirname(page_uri)

    def link(m: re.Match) -> str:
        target = posixpath.relpath(f"reference/tests/{m.group(1)}.md", here or ".")
        return f"[{m.group(0)}]({target}#{m.group(2)})"

    return CITED.sub(link, markdown)
