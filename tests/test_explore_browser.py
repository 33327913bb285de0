"""The latent explorer in a real browser: headless Chromium (Debian's, at /usr/bin/chromium)
driven by Playwright loads the page from a live server on 127.0.0.1, drags on the plane (and on
a second run's beside it), switches to PCA axes, picks the ends of an interpolation by
clicking, moves a traversal slider, decodes a point as each class, paints a VQ cell and draws
a prior sample; each time the picture must change, with no error in the console."""

from pathlib import Path

import pytest

from test_explore import tiny_run, tiny_vq_with_prior
from vaelab.explore.serve import open_runs, serve_in_background

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright drives the browser (pip install playwright)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("explore_browser")
    runs = open_runs([tiny_run(base / "vae", "vae", ["model.latent_dim=3"]), tiny_run(base / "ae", "ae", ["model.latent_dim=2"]),
                      tiny_run(base / "cvae", "cvae", ["model.latent_dim=2"]), tiny_vq_with_prior(base / "vq"),
                      tiny_vq_with_prior(base / "vqc", conditional=True), tiny_vq_with_prior(base / "vq2", model="vqvae2")])
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
        tab.console_errors = errors  # a test that sends a bad value on purpose forgives its 400
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
    changed(page, "#decoded", first)


def canvas(tab, selector: str) -> str:
    return tab.evaluate("(s) => document.querySelector(s).toDataURL()", selector)


def test_pca_axes_redraw_the_plane_and_name_them(page):
    before = canvas(page, "#plane")
    page.select_option("#axes", "pca")
    page.wait_for_function("(b) => document.getElementById('plane').toDataURL() !== b", arg=before)
    assert page.locator("#dimpick").is_hidden()
    assert [name[:3] for name in page.evaluate("main.plane.names")] == ["PC1", "PC2"]


def test_clicking_two_points_picks_the_ends_of_the_interpolation(page):
    page.select_option("#clickmode", "pick")
    box = page.locator("#plane").bounding_box()
    strip = page.locator("#strip img").first.get_attribute("src")
    for fx, fy in [(0.1, 0.1), (0.9, 0.9)]:  # opposite corners: the nearest held-out points differ
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_timeout(300)
    start, end = int(page.input_value("#from")), int(page.input_value("#to"))
    assert start != end and (start, end) != (0, 1)
    changed(page, "#strip img", strip)
    page.locator("#t").fill("1")  # the end of the path: the end image's code, as the strip's last picture shows it
    page.wait_for_function("() => document.getElementById('decoded').src === [...document.querySelectorAll('#strip img')].pop().src",
                           timeout=10_000)


def test_a_second_run_beside_the_first_has_its_own_plane_and_point(page):
    page.select_option("#beside", "ae")
    first = changed(page, "#decoded2", "")
    box = page.locator("#plane2").bounding_box()
    page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + 0.2 * box["height"])
    changed(page, "#decoded2", first)
    assert page.inner_text("#name2").startswith("ae: ae")


def test_a_conditional_model_shows_the_point_as_each_class(page):
    page.select_option("#run", "cvae")
    page.wait_for_function("() => document.querySelectorAll('#classes img').length === 3")
    marked = page.locator("#classes figure.marked img")
    assert marked.count() == 1 and marked.get_attribute("src") == page.get_attribute("#decoded", "src")
    first = page.get_attribute("#decoded", "src")
    other = (int(page.input_value("#label")) + 1) % 3
    page.select_option("#label", str(other))
    assert changed(page, "#decoded", first) == page.locator("#classes img").nth(other).get_attribute("src")


def test_a_traversal_slider_changes_the_decoded_image(page):
    first = changed(page, "#decoded", "")
    page.locator("#sliders input").first.fill("3.5")
    changed(page, "#decoded", first)


def test_painting_a_code_cell_changes_the_decoded_grid(page):
    page.select_option("#run", "vq")
    first = changed(page, "#painted", "")
    cell = page.locator("#grids td").first
    page.fill("#paint", str((int(cell.inner_text()) + 1) % 16))
    cell.click()
    changed(page, "#painted", first)
    assert "of 16 codes used" in page.inner_text("#usageinfo")


def test_drawing_a_prior_sample_fills_the_grid_and_decodes_it(page):
    page.select_option("#run", "vq")
    first = changed(page, "#painted", "")
    page.click("#draw")
    page.wait_for_selector("body[data-sampled='0']", timeout=20_000)
    assert "?" not in page.inner_text("#grids")
    changed(page, "#painted", first)
    assert int(page.evaluate("document.body.dataset.framesShown")) > 2  # decoded as it filled, not only at the end


def test_a_refused_value_shows_one_line_and_the_page_keeps_working(page):
    page.fill("#to", "99999")
    page.dispatch_event("#to", "change")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('end')")
    assert "\n" not in page.inner_text("#status")
    first = changed(page, "#decoded", "")
    page.locator("#sliders input").first.fill("-3.5")
    changed(page, "#decoded", first)
    assert page.inner_text("#status") == ""  # the next answer clears it
    page.console_errors[:] = [e for e in page.console_errors if "status of 400" not in e]  # the browser logs the 400


def test_a_class_conditional_prior_is_sampled_for_the_class_chosen(page):
    page.select_option("#run", "vqc")
    first = changed(page, "#painted", "")
    page.select_option("#priorlabel", "2")
    page.fill("#pace", "0")
    page.click("#draw")
    page.wait_for_selector("body[data-sampled='0']", timeout=20_000)
    drawn = page.evaluate("fetch('/api/vqc/sample?seed=0&label=2').then((r) => r.json()).then((s) => s.frames.at(-1))")
    assert page.get_attribute("#painted", "src") == drawn  # the class chosen, not another


def test_vqvae2_codes_show_as_its_two_grids_and_a_sample_fills_both(page):
    page.select_option("#run", "vq2")
    page.wait_for_selector("#grids td")
    assert page.locator("#grids caption").all_inner_texts() == ["top", "bottom"]
    assert page.locator("#grids table").nth(1).locator("td").count() == 16
    assert page.locator("#usagecharts canvas").count() == 2 and "top: " in page.inner_text("#usageinfo")
    page.fill("#pace", "0")
    page.click("#draw")
    page.wait_for_selector("body[data-sampled='0']", timeout=20_000)
    assert "?" not in page.inner_text("#grids")


def test_switching_runs_quickly_shows_the_last_one_chosen(page):
    page.select_option("#run", "ae")
    page.select_option("#run", "vae")  # before the autoencoder's plane has arrived
    page.wait_for_timeout(1500)
    assert page.inner_text("#name1").startswith("vae:")
    assert page.evaluate("[main.run.name, main.plane.origin.length, main.z.length]") == ["vae", 3, 3]
