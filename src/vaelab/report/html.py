"""One self-contained HTML page about one or more runs.

Every image is embedded as a base64 data: URI and the style is inline, so the file opens
from disk in any browser, with no server, no script and no other file. The page's
Content-Security-Policy allows nothing else to load, so a stray external reference would
fail visibly rather than work only on the author's machine.
"""

from __future__ import annotations

import base64
import math
import tempfile
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from vaelab.errors import ConfigError
from vaelab.files import atomic_write
from vaelab.plots.curves import loss_terms, term_unit
from vaelab.report.pictures import Picture, Unshown, drawn_pictures, read_picture, saved_pictures
from vaelab.report.summary import RunSummary, summarize
from vaelab.version import __version__

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 75em; padding: 0 1em; color: #222; }
h1, h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
caption { caption-side: bottom; text-align: left; color: #555; font-size: 90%; padding-top: .3em; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: 85%; }
figure { display: inline-block; vertical-align: top; margin: 0 1.5em 1.5em 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
img.pixels { image-rendering: pixelated; }
figcaption { color: #555; font-size: 90%; max-width: 40em; }
.path, .notes { color: #666; }
"""
MIN_WIDTH = 300  # small pixel grids are shown enlarged by a whole factor, to this width at least


def fmt(value) -> str:
    """A metric as text: 3 decimals, '—' when missing."""
    return "—" if value is None else f"{value:.3f}"


def img_tag(picture: Picture) -> str:
    """<figure> with the PNG embedded as a data: URI; small images enlarged without blurring.
    Unshown for a picture the report skips (pictures.read_picture says which)."""
    data, width = read_picture(picture.path)
    zoom = math.ceil(MIN_WIDTH / width) if width < MIN_WIDTH else 1
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    klass = ' class="pixels"' if zoom > 1 else ""
    caption = f"<b>{escape(picture.title)}</b>" + (f": {escape(picture.caption)}" if picture.caption else "")
    return (f'<figure><img{klass} src="{uri}" width="{width * zoom}" alt="{escape(picture.title)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def metrics_table(s: RunSummary) -> str:
    """Terms of the last and the best epoch, train and val, with their units."""
    last, best = s.last or {}, s.best or {}
    rows = []
    for term in loss_terms([last, best]):
        cells = [best.get(f"{k}/{term}") for k in ("train", "val")] + [last.get(f"{k}/{term}") for k in ("train", "val")]
        rows.append(f"<tr><td>{escape(term)}</td><td>{escape(term_unit(term))}</td>"
                    + "".join(f'<td class="n">{escape(fmt(v))}</td>' for v in cells) + "</tr>")
    head = (f'<tr><th rowspan="2">term</th><th rowspan="2">unit</th>'
            f'<th colspan="2">best epoch ({escape(str(best.get("epoch", "—")))})</th>'
            f'<th colspan="2">last epoch ({escape(str(last.get("epoch", "—")))})</th></tr>'
            "<tr><th>train</th><th>val</th><th>train</th><th>val</th></tr>")
    note = f"Best: {s.best_source}. " if s.best_source else ""
    note += "Train: averaged over the epoch's batches while training; val: the held-out data after the epoch."
    return f"<table>{head}{''.join(rows)}<caption>{escape(note)}</caption></table>"


def describe(s: RunSummary) -> dict[str, str]:
    """The facts of the comparison table, as text."""
    cfg = s.cfg
    epochs = str(s.last["epoch"]) if s.last else "0"
    return {
        "model": cfg.model.name if cfg else "?",
        "dataset": (cfg.data.name + ("" if cfg.data.name == "shapes" else f" ({cfg.data.split})")) if cfg else "?",
        "epochs": f"{epochs} of {cfg.train.epochs}" if cfg else epochs,
        "parameters": "—" if s.params is None else f"{s.params:,}",
        "best epoch": str(s.best["epoch"]) if s.best else "—",
    }


def comparison_table(summaries: list[RunSummary]) -> str:
    """One row per run: what it is, and the held-out terms of its best epoch."""
    terms = [t for t in loss_terms([s.best or {} for s in summaries]) if any(f"val/{t}" in (s.best or {}) for s in summaries)]
    facts = [describe(s) for s in summaries]
    head = "<tr><th>run</th>" + "".join(f"<th>{escape(k)}</th>" for k in facts[0])
    head += "".join(f"<th>val {escape(t)}<br><small>{escape(term_unit(t))}</small></th>" for t in terms) + "</tr>"
    rows = []
    for i, (s, f) in enumerate(zip(summaries, facts), 1):
        cells = "".join(f"<td>{escape(v)}</td>" for v in f.values())
        cells += "".join(f'<td class="n">{escape(fmt((s.best or {}).get(f"val/{t}")))}</td>' for t in terms)
        rows.append(f'<tr><td><a href="#run-{i}">{escape(s.name)}</a></td>{cells}</tr>')
    note = "val terms of each run's best epoch, on its own held-out data: compare runs on the same dataset only."
    return f'<table class="comparison">{head}{"".join(rows)}<caption>{escape(note)}</caption></table>'


def run_section(i: int, s: RunSummary, folder: Path) -> str:
    """Everything about run `s`; drawn pictures go to `folder`."""
    f = describe(s)
    seconds = sum(r.get("train/seconds", 0.0) for r in s.records)
    facts = (f"{f['model']}, {f['parameters']} parameters; data: {f['dataset']}; "
             f"epochs: {f['epochs']}, {seconds:.1f} s of training")
    drawn, notes = drawn_pictures(s, folder)
    figures = []
    for picture in drawn + saved_pictures(s.path):
        try:
            figures.append(img_tag(picture))
        except Unshown as e:  # a PNG cut short, not a PNG, too large or not a file: say so, show the others
            notes.append(f"{picture.title} not shown: {e}")
    parts = [
        f'<section id="run-{i}"><h2>{escape(s.name)}</h2>',
        f'<p class="path">{escape(str(s.path.resolve()))}</p><p>{escape(facts)}</p>',
    ]
    if s.notes + notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in s.notes + notes) + "</ul>")
    if s.records:
        parts.append("<h3>Metrics</h3>" + metrics_table(s))
    if figures:
        parts.append("<h3>Pictures</h3>" + "".join(figures))
    if s.config_text:
        parts.append(f"<h3>Config</h3><pre>{escape(s.config_text)}</pre>")
    return "\n".join(parts) + "</section>"


def write_report(runs: list[Path], out: Path) -> Path:
    """Write one self-contained HTML page about `runs` (run folders) to `out`; returns `out`.

    With several runs a comparison table comes first. A run that cannot be read, or a
    picture a model cannot draw, becomes a note in the page, never an exception; an `out`
    that is not an .html file name, or is a folder, is a ConfigError (before any work).
    """
    out = Path(out)
    if out.suffix.lower() != ".html" or out.is_dir():
        raise ConfigError(f"a report is written to an .html file, not {str(out)!r}")
    summaries = [summarize(run) for run in runs]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>vaelab report</h1><p>{escape(f'{len(summaries)} run(s), written {when} by vaelab {__version__}.')}</p>"]
    if len(summaries) > 1:
        body.append("<h2>Comparison</h2>" + comparison_table(summaries))
    with tempfile.TemporaryDirectory(prefix="vaelab-report-") as tmp:
        for i, s in enumerate(summaries, 1):
            body.append(run_section(i, s, Path(tmp) / str(i)))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no favicon request
        f"<title>{escape('vaelab report: ' + ', '.join(s.name for s in summaries))}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    atomic_write(out, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return out
