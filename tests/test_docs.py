"""The guide is checked, not just written: it builds with --strict, every code block in it
runs, every tutorial runs, every picture it shows is one `make figures` makes, and every
test a page cites exists."""

import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.MULTILINE | re.DOTALL)
TINY = ["train.epochs=1", "data.limit=300", "data.val=50", "train.progress=false"]  # appended to each `vaelab train` in a block

sys.path.insert(0, str(ROOT / "scripts"))
from make_figures import FIGURES  # noqa: E402


def test_the_guide_builds_with_strict_checks(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site/reference/config/index.html").exists()
    assert "train.epochs" in (tmp_path / "site/reference/config/index.html").read_text()


def test_a_broken_link_fails_the_build(tmp_path):
    # --strict is what makes a broken link an error: the same build with one bad link must fail.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("See [nowhere](missing.md).\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: t\nstrict: true\n")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode != 0 and "missing.md" in done.stderr


def code_blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(page.read_text())]


def commands(script: str) -> list[list[str]]:
    """The commands of a bash block: one per line, `\\` continues a line, `#` starts a comment."""
    joined = script.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


def run_command(argv: list[str]) -> None:
    from vaelab.cli import main

    if argv[0] == "vaelab":
        argv = argv[1:] + (TINY if argv[1] == "train" else [])
        assert main(argv) in (0, None), argv
    elif argv[:1] == ["python"]:
        done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    else:
        raise AssertionError(f"a docs block may run vaelab or python, not {argv[0]!r}")


@pytest.mark.parametrize("page", [p for p in PAGES if code_blocks(p)], ids=lambda p: str(p.relative_to(DOCS)))
def test_every_code_block_of_a_page_runs(page, tmp_path, monkeypatch):
    # Blocks run in order, in one folder and one Python namespace per page, like a reader would.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    namespace: dict = {"__name__": "__docs__"}
    for language, text in code_blocks(page):
        if language == "python":
            exec(compile(text, f"{page.name} block", "exec"), namespace)
        else:
            for argv in commands(text):
                run_command(argv)


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.name)
def test_every_tutorial_runs_on_tiny_settings(script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VAELAB_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("VAELAB_MNIST", str(ROOT.parent / "shared/data/mnist"))  # MNIST when here, else shapes
    runpy.run_path(str(script), run_name="__main__")


def test_every_picture_the_guide_shows_is_made_by_make_figures():
    made = {name for _, names in FIGURES.values() for name in names}
    shown = set()
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            assert "figures/" in target, f"{page.name} shows {target}, which make figures does not make"
            shown.add(Path(target).name)
    assert shown and shown <= made, shown - made
    on_disk = {p.name for p in (DOCS / "figures").glob("*")}
    assert on_disk == made, on_disk ^ made  # nothing stale in docs/figures, nothing missing
    assert sum(p.stat().st_size for p in (DOCS / "figures").glob("*")) < 1_000_000  # the pictures stay small


def test_every_test_a_page_cites_exists():
    cited = set()
    for page in PAGES:
        cited |= set(re.findall(r"(tests/test_\w+\.py)::(\w+)", page.read_text()))
    assert len(cited) >= 5
    for path, name in cited:
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE), f"{path}::{name} is gone"


@pytest.mark.skipif(not (ROOT.parent / "shared/data/mnist").exists() or not Path("/usr/bin/chromium").exists(),
                    reason="needs the shared MNIST files, and Chromium for the explorer's screenshots")
def test_make_figures_runs_on_tiny_settings(tmp_path):
    from make_figures import main

    main(["--quick", "--out", str(tmp_path / "figures"), "--runs", str(tmp_path / "runs")])
    made = {name for _, names in FIGURES.values() for name in names}
    assert {p.name for p in (tmp_path / "figures").iterdir()} == made
