"""The HTML report: one self-contained page that parses, embeds every image and renders
in a real browser (headless Chromium) with every image loaded and a silent console."""

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from vaelab.config import compose
from vaelab.models import config_class
from vaelab.report import write_report
from vaelab.runs import train

CHROMIUM = Path("/usr/bin/chromium")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
TINY = ["data.name=shapes", "data.image_size=16", "data.num_samples=300", "data.val=60",
        "model.hidden=[32]", "train.epochs=2", "train.batch_size=50", "train.progress=false"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny shapes runs: a VAE with a 2-D latent space (manifold grid) and an AE with
    a 3-D one, in a folder whose name needs escaping, with one extra picture."""
    folder = tmp_path_factory.mktemp("runs")
    vae = train(compose({}, [*TINY, "model.name=vae", "model.latent_dim=2"], config_class), folder / "vae2d").run_dir
    ae = train(compose({}, [*TINY, "model.name=ae", "model.latent_dim=3"], config_class), folder / "ae <b>&'x'").run_dir
    shutil.copy(ae / "reconstructions.png", ae / "extra_picture.png")
    return [vae, ae]


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    return write_report(runs, tmp_path_factory.mktemp("report") / "report.html")


class Page(HTMLParser):
    """Tags checked for nesting, plus every URL-bearing attribute and the comparison table's rows."""

    def __init__(self, text):
        super().__init__()
        self.open, self.urls, self.img_src, self.comparison_rows, self.in_comparison = [], [], [], 0, False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href", "action", "data", "poster") and v is not None]
        if tag == "img":
            self.img_src.append(attrs.get("src", ""))
        if tag == "table" and attrs.get("class") == "comparison":
            self.in_comparison = True
        if tag == "tr" and self.in_comparison:
            self.comparison_rows += 1
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()
        if tag == "table":
            self.in_comparison = False


def test_the_page_parses_and_embeds_everything(report, runs):
    text = report.read_text(encoding="utf-8")
    page = Page(text)
    assert page.open == []  # every element closed, in order
    # VAE: curves, latent, manifold, reconstructions, samples; AE: curves, latent, reconstructions, extra
    assert len(page.img_src) == 5 + 4
    for src in page.img_src:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert im.format == "PNG" and im.size[0] > 16
    assert all(url.startswith(("data:", "#")) for url in page.urls), page.urls
    assert not re.search(r"(https?|file)://", text, re.IGNORECASE)
    assert page.comparison_rows == 1 + len(runs)  # the header, then one row per run


def test_the_page_shows_each_run_and_escapes_what_it_shows(report):
    text = report.read_text(encoding="utf-8")
    assert "ae &lt;b&gt;&amp;&#x27;x&#x27;" in text and "<b>&'x'" not in text
    for what in ("learned manifold", "latent space", "training curves", "reconstructions.png",
                 "samples.png", "extra_picture.png", "nats per example", "latent_dim: 2", "backbone: mlp"):
        assert what in text, what
    assert "no manifold grid" in text  # the AE's 3-D latent space has none, and the page says so


def test_one_run_has_no_comparison_and_an_unreadable_run_is_a_note(runs, tmp_path):
    one = write_report(runs[:1], tmp_path / "one.html").read_text()
    assert 'class="comparison"' not in one and "learned manifold" in one
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.png").write_bytes(b"\x89PNG cut short")
    both = write_report([runs[0], tmp_path / "empty"], tmp_path / "both.html").read_text()
    assert Page(both).comparison_rows == 3 and "is not a run folder" in both
    assert "broken.png not shown" in both


def render(page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """Load `page` in headless Chromium inside a probe page; returns ({images, broken},
    console lines). The probe reads the report's images through an iframe, so the
    report is tested as written, script-free, under its own Content-Security-Policy."""
    probe = tmp_path / f"probe_{page.stem}.html"
    probe.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>'
        f'<pre id="check">not run</pre><iframe id="page" src="{page.name}" width="1200" height="900"></iframe>'
        "<script>document.getElementById('page').addEventListener('load', () => {"
        "  const images = [...document.getElementById('page').contentDocument.images];"
        "  document.getElementById('check').textContent = JSON.stringify({images: images.length,"
        "    broken: images.filter(i => !i.complete || i.naturalWidth === 0).length});"
        "});</script></body></html>"
    )
    assert probe.parent == page.parent  # the iframe's src is relative
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
        "--allow-file-access-from-files",  # lets the probe read the iframe's document (both file://)
        "--virtual-time-budget=10000",  # run the page's load events before dumping the DOM
        "--dump-dom", probe.as_uri(),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="check">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert found, proc.stdout[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return json.loads(found.group(1)), console


@pytest.fixture
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"no browser test: {CHROMIUM} is missing (scripts/ensure_chromium.sh installs it, as root with apt-get)")


def test_the_page_renders_in_chromium_with_every_image_and_no_console_message(chromium, report, tmp_path):
    copy = tmp_path / "report.html"
    shutil.copy(report, copy)
    images, console = render(copy, tmp_path)
    assert images == {"images": len(Page(copy.read_text()).img_src), "broken": 0}
    assert console == []


def test_the_browser_check_sees_broken_images_and_blocked_urls(chromium, report, tmp_path):
    """The same check on a spoiled copy must fail: otherwise the test above proves nothing."""
    spoiled = tmp_path / "spoiled.html"
    extra = '<img src="data:image/png;base64,AAAA"><img src="http://example.invalid/x.png">'
    spoiled.write_text(report.read_text().replace("<h1>", extra + "<h1>", 1))
    images, console = render(spoiled, tmp_path)
    assert images["broken"] == 2
    assert any("Content Security Policy" in line and "example.invalid" in line for line in console), console
