"""Every bad value on the command line is one line on stderr and exit status 2, before any work.

The options are checked by argparse `type=` functions in cli.py (bounds, output paths);
the picture functions behind the verbs check the same things for callers from Python.
"""

import math
from pathlib import Path

import pytest
from PIL import Image

from vaelab import cli
from vaelab.cli import main
from vaelab.errors import CapabilityError, ConfigError, VaelabError

TINY = """
data: {name: shapes, image_size: 16, num_samples: 200, val: 40}
model: {name: vae, latent_dim: 3, hidden: [16]}
train: {epochs: 1, batch_size: 50, progress: false}
"""


def trained_run(folder: Path, model: str = "vae") -> Path:
    config = folder / f"{model}.yaml"
    config.write_text(TINY.replace("name: vae", f"name: {model}"))
    assert main(["train", str(config), "--out", str(folder / model)]) == 0
    return folder / model


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny VAE run, trained once; the tests here only read it (they write elsewhere)."""
    return trained_run(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("inputs_cvae"), "cvae")


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vaelab: error: ")
    return lines[0]


BAD = [
    (["sample", "{run}", "-n", "0"], "argument -n"),
    (["sample", "{run}", "-n", "-1"], "argument -n"),
    (["sample", "{run}", "-n", "1000000000"], "argument -n"),
    (["sample", "{run}", "-n", "4097"], "argument -n"),
    (["sample", "{run}", "-n", "2.5"], "argument -n"),
    (["sample", "{run}", "-n", "9" * 5000], "argument -n"),  # more digits than int() reads
    (["sample", "{run}", "-n"], "argument -n: expected one argument"),
    (["sample", "{run}", "--seed", "-1"], "argument --seed"),
    (["sample", "{run}", "--seed", str(2**64)], "argument --seed"),
    (["sample", "{run}", "--label", "-1"], "argument --label"),
    (["sample", "{run}", "--label", "cat"], "argument --label"),
    (["reconstruct", "{run}", "-n", "-3"], "argument -n"),
    (["reconstruct", "{run}", "-n", "0"], "argument -n"),
    (["reconstruct", "{run}", "-n", "2049"], "argument -n"),
    (["interpolate", "{run}", "--from", "0", "--to", "1", "--steps", "-4"], "argument --steps"),
    (["interpolate", "{run}", "--from", "0", "--to", "1", "--steps", "1"], "argument --steps"),
    (["interpolate", "{run}", "--from", "0", "--to", "1", "--steps", "101"], "argument --steps"),
    (["interpolate", "{run}", "--from", "-1", "--to", "1"], "argument --from"),
    (["interpolate", "{run}", "--from", "0", "--to", "x"], "argument --to"),
    (["interpolate", "{run}", "--from", "0"], "required: --to"),
    (["traverse", "{run}", "--steps", "0"], "argument --steps"),
    (["traverse", "{run}", "--span", "nan"], "argument --span"),
    (["traverse", "{run}", "--span", "inf"], "argument --span"),
    (["traverse", "{run}", "--span", "1e400"], "argument --span"),
    (["traverse", "{run}", "--span", "0"], "argument --span"),
    (["traverse", "{run}", "--span", "-1"], "argument --span"),
    (["traverse", "{run}", "--index", "-2"], "argument --index"),
    (["evaluate", "{run}", "-n", "-1"], "argument -n"),
    (["evaluate", "{run}", "-n", "0"], "argument -n"),
    (["evaluate", "{run}", "--k", "0"], "argument --k"),
    (["evaluate", "{run}", "--k", "1000000"], "argument --k"),
    (["evaluate", "{run}", "--samples", "0"], "argument --samples"),
    (["evaluate", "{run}", "--samples", "3"], "argument --samples"),
    (["evaluate", "{run}", "--samples", "1000000000"], "argument --samples"),
    (["evaluate", "{run}", "--seed", "-5"], "argument --seed"),
    (["classifier", "train", "--dataset", "shapes", "--epochs", "0"], "argument --epochs"),
    (["classifier", "train", "--dataset", "shapes", "--out", "{file}"], "argument --out"),
    (["sample", "{run}", "--out", "{run}"], "argument --out"),  # a folder without an extension
    (["sample", "{run}", "--out", "{tmp}/folder.png"], "is a folder"),
    (["sample", "{run}", "--out", "{tmp}/picture"], "argument --out"),
    (["sample", "{run}", "--out", "{tmp}/picture.gif"], "argument --out"),
    (["sample", "{run}", "--out", "{tmp}/picture.svg"], "argument --out"),
    (["sample", "{run}", "--out", "{file}/x.png"], "is a file, not a folder"),
    (["sample", "{run}", "--out", "{tmp}/" + "x" * 300 + ".png"], "longer than 255 bytes"),
    (["sample", "{run}", "--out", "a\x00.png"], "NUL"),
    (["reconstruct", "{run}", "--out", "{tmp}/folder.png"], "is a folder"),
    (["interpolate", "{run}", "--from", "0", "--to", "1", "--out", "{tmp}/x.txt"], "argument --out"),
    (["traverse", "{run}", "--out", "{tmp}"], "argument --out"),
    (["report", "{run}", "-o", "{tmp}/folder.html"], "is a folder"),
    (["report", "{run}", "-o", "{tmp}/report.txt"], "argument -o/--output"),
    (["report", "{run}", "-o", "{tmp}/report"], "argument -o/--output"),
    (["report", "{run}", "-o", "{file}/report.html"], "is a file, not a folder"),
    (["sample", "{run}", "--checkpoint", "first"], "argument --checkpoint"),
    (["sample", "{run}", "--bogus"], "unrecognized arguments: --bogus"),
    (["sample"], "required: RUN"),
    (["train", "--resume", "{tmp}/missing"], "argument --resume: run folder"),
    (["sample", "no/such\rrun"], "argument RUN: run folder 'no/such\\rrun' not found"),
    (["report", "{run}", "{tmp}/missing"], "argument RUN"),
    (["evaluate", "{file}"], "argument RUN: run folder '{file}' is a file, not a folder"),
    (["frobnicate"], "argument COMMAND"),
    ([], "required: COMMAND"),
    (["prior"], "required: COMMAND"),
]


@pytest.mark.parametrize("argv,names", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_a_bad_value_is_one_line_naming_the_argument_and_exit_2(run, tmp_path, argv, names, capsys):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "folder.html").mkdir()
    (tmp_path / "file").write_text("not a folder")
    before = sorted(p.name for p in run.iterdir())
    *argv, names = [a.format(run=run, tmp=tmp_path, file=tmp_path / "file") for a in (*argv, names)]
    assert main(argv) == 2
    assert names in one_error_line(capsys)
    assert sorted(p.name for p in run.iterdir()) == before  # refused before any work
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.html", "folder.png"]


def test_a_label_beyond_the_models_classes_is_one_line(cvae_run, tmp_path, capsys):
    assert main(["sample", str(cvae_run), "--label", "3", "--out", str(tmp_path / "s.png")]) == 2
    assert "label 3 out of range: the model has classes 0..2" in one_error_line(capsys)
    assert not (tmp_path / "s.png").exists()


def test_help_still_works(capsys):
    assert main(["--help"]) == 0
    assert main(["sample", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: vaelab sample" in out and "1 to 4096" in out


def test_the_bounds_accept_their_ends_and_every_picture_format(run, tmp_path, capsys):
    assert main(["sample", str(run), "-n", "1", "--seed", str(cli.MAX_SEED), "--out", str(tmp_path / "one.PNG")]) == 0
    assert main(["sample", str(run), "-n", "4096", "--out", str(tmp_path / "a" / "b" / "many.jpg")]) == 0
    assert main(["reconstruct", str(run), "-n", "2048", "--split", "train", "--out", str(tmp_path / "r.pdf")]) == 0
    assert main(["interpolate", str(run), "--from", "0", "--to", "1", "--steps", "2", "--out", str(tmp_path / "i.jpeg")]) == 0
    assert main(["traverse", str(run), "--steps", "100", "--span", "0.5", "--out", str(tmp_path / "t.png")]) == 0
    assert main(["report", str(run), "-o", str(tmp_path / "new" / "r.html")]) == 0
    capsys.readouterr()
    assert Image.open(tmp_path / "a" / "b" / "many.jpg").size == (2 * (8 * 18 + 2), 2 * (512 * 18 + 2))
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "new" / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_each_reconstruction_sits_under_its_input(run, tmp_path, capsys):
    assert main(["reconstruct", str(run), "-n", "10", "--out", str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "r.png").size == (2 * (8 * 18 + 2), 2 * (4 * 18 + 2))  # 2 pairs of rows of 8


def test_a_run_folder_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(VaelabError, match=r"argument --out: .*file.* is a file, not a folder"):
        cli.check_run_folder_path(tmp_path / "file")
    with pytest.raises(VaelabError, match="is a file, not a folder"):
        cli.check_run_folder_path(tmp_path / "file" / "run")
    cli.check_run_folder_path(tmp_path)  # an existing folder, or one to make, is fine
    cli.check_run_folder_path(tmp_path / "new" / "run")


def test_the_cli_bounds_fit_the_picture_limit():
    from vaelab.plots import grid

    assert cli.PICTURE_SUFFIXES == grid.PICTURE_SUFFIXES
    grid.check_grid_size(cli.MAX_PICTURE_IMAGES, (3, 64, 64), nrow=8, scale=2)  # samples at 64x64: fits
    grid.check_grid_size(2 * cli.MAX_RECONSTRUCT, (3, 64, 64), nrow=8, scale=2)  # reconstructions too
    with pytest.raises(ConfigError, match="draw fewer"):
        grid.check_grid_size(2 * cli.MAX_PICTURE_IMAGES, (3, 64, 64), nrow=8, scale=2)
    with pytest.raises(ConfigError, match="at most 65,500 a side: draw fewer, or write a PNG"):  # JPEG's limit
        grid.check_grid_size(cli.MAX_PICTURE_IMAGES, (3, 64, 64), nrow=8, scale=2, path="samples.jpg")


def test_the_picture_functions_refuse_what_they_cannot_draw(run, tmp_path):
    from vaelab.data import load_dataset
    from vaelab.plots import grid, run_pictures
    from vaelab.runs import load, run_config

    model = load(run)
    data = load_dataset(run_config(run).data).held_out_or_train()[0]
    out = tmp_path / "x.png"
    refusals = [
        (lambda: run_pictures.save_samples(model, out, n=0), "at least 1"),
        (lambda: run_pictures.save_samples(model, out, n=10**9), "draw fewer"),  # refused before sampling
        (lambda: run_pictures.save_samples(model, tmp_path / "x.gif"), "picture file ends in"),
        (lambda: run_pictures.save_reconstructions(model, data, out, n=-3), "at least 1"),
        (lambda: run_pictures.save_interpolation(model, data, 0, 1, out, steps=1), "at least 2"),
        (lambda: run_pictures.save_interpolation(model, data, 0, 10**6, out), "out of range"),
        (lambda: run_pictures.save_traversal(model, data, 0, out, span=math.nan), "finite number above 0"),
        (lambda: run_pictures.save_traversal(model, data, 0, out, steps=10**7), "draw fewer"),
        (lambda: run_pictures.save_traversal(model, data, -1, out), "out of range"),
        (lambda: grid.save_grid(data.images[:0].float(), out), "at least 1 image"),
        (lambda: grid.save_grid(data.images[:4].float() / 255, tmp_path), "picture file ends in"),
    ]
    for call, message in refusals:
        with pytest.raises(ConfigError, match=message):
            call()
    with pytest.raises(CapabilityError, match="not conditional"):
        run_pictures.save_samples(model, out, label=0)
    assert not out.exists()


def test_a_report_goes_to_an_html_file(run, tmp_path):
    from vaelab.report import write_report

    (tmp_path / "dir.html").mkdir()
    for out in (tmp_path / "report.txt", tmp_path / "dir.html"):
        with pytest.raises(ConfigError, match="report is written to an .html file"):
            write_report([run], out)
