"""The latent explorer in a real browser: headless Chromium (Debian's, at /usr/bin/chromium)
driven by Playwright loads the page from a live server on 127.0.0.1, drags on the plane,
moves a traversal slider, paints a VQ cell and draws a prior sample, and each time the decoded image must change,
with no error in the console."""

from pathlib import Path

import pytest

from test_explore import tiny_run, tiny_vq_with_prior
from vaelab.explore.serve import open_runs, serve_in_background

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright drives the browser (pip install playwright)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("explore_browser")
    runs = open_runs([tiny_run(base / "vae", "vae", ["model.latent_dim=3"]), tiny_vq_with_prior(base / "vq")])
    srv, url = serve_in_background(runs)
    yield url
    srv.should_exit = True


@pytest.fixture
def page(server):
    if not CHROMIUM.exists():
        pytest.skip(f"no browser test: {CHROMIUM} is missing (scripts/ensure_chromium.sh installs it)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"])
        tab = browser.new_page()
        errors = []
        tab.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(server)
        tab.wait_for_selector("body[data-ready=true]", timeout=20_000)
        yield tab
        assert errors == [], errors  # a silent console, whatever the test did
        browser.close()


def changed(tab, selector: str, before: str) -> str:
    """Wait until the image at `selector` shows something other than `before`; its new src."""
    tab.wait_for_function("([s, b]) => document.querySelector(s).src && document.querySelector(s).src !== b",
                          arg=[selector, before], timeout=10_000)
    return tab.get_attribute(selector, "src")


def test_dragging_on_the_plane_changes_the_decoded_image(page):
    first = changed(page, "#decoded", "")
    box = page.locator("#plane").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 30, box["y"] + box["height"] - 30, steps=8)
    page.mouse.up()
    assert changed(page, "#decoded", first) != first


def test_a_traversal_slider_changes_the_decoded_image(page):
    first = changed(page, "#decoded", "")
    page.locator("#sliders input").first.fill("3.5")
    assert changed(page, "#decoded", first) != first


def test_painting_a_code_cell_changes_the_decoded_grid(page):
    page.select_option("#run", "vq")
    first = changed(page, "#painted", "")
    cell = page.locator("#grid td").first
    page.fill("#paint", str((int(cell.inner_text()) + 1) % 16))
    cell.click()
    assert changed(page, "#painted", first) != first
    assert "of 16 codes used" in page.inner_text("#usageinfo")


def test_drawing_a_prior_sample_fills_the_grid_and_decodes_it(page):
    page.select_option("#run", "vq")
    first = changed(page, "#painted", "")
    page.click("#draw")
    page.wait_for_selector("body[data-sampled='0']", timeout=20_000)
    assert "?" not in page.inner_text("#grid")
    assert changed(page, "#painted", first) != first
