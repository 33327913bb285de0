"""The tutorials' pages in the guide, written from the runnable scripts in tutorials/ at each
`make docs`: a script in percent format (the cell markers Jupyter and VS Code open as a
notebook) becomes one page, its `# %% [markdown]` cells as text and its code cells as
Python blocks, so the page shows exactly the code the test suite runs.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
CELL = re.compile(r"^# %%(.*)$", re.MULTILINE)


def cells(source: str) -> list[tuple[str, str]]:
    """("markdown" | "code", text) for each cell of a percent-format script."""
    parts = CELL.split(source)
    found = []
    if parts[0].strip():  # text before the first marker: a code cell
        found.append(("code", parts[0].strip("\n")))
    for marker, body in zip(parts[1::2], parts[2::2]):
        kind = "markdown" if "[markdown]" in marker else "code"
        body = body.strip("\n")
        if kind == "markdown":
            body = "\n".join(re.sub(r"^# ?", "", line) for line in body.splitlines())
        if body.strip():
            found.append((kind, body))
    return found


def to_markdown(source: str, name: str) -> str:
    """The page for one tutorial script."""
    blocks = []
    for kind, text in cells(source):
        blocks.append(text if kind == "markdown" else f"```python\n{text}\n```")
    footer = (f"*This page is the script `tutorials/{name}`, cell by cell. Run it with "
              f"`python tutorials/{name}`, or open it as a notebook in Jupyter (jupytext) or VS Code.*")
    return "\n\n".join(blocks + [footer]) + "\n"


def tutorial_pages() -> list[tuple[str, str]]:
    """(site path, Markdown) for every tutorial script, in name order."""
    return [(f"tutorials/{path.stem}.md", to_markdown(path.read_text(), path.name))
            for path in sorted(TUTORIALS.glob("*.py"))]
