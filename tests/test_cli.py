"""The `vaelab` command end to end on a tiny shapes config, and its errors."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from vaelab.cli import main

TINY = """
data: {name: shapes, image_size: 16, num_samples: 300, val: 60}
model: {name: vae, latent_dim: 3, hidden: [32]}
train: {epochs: 2, batch_size: 50, progress: false}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run, trained once for the module; tests get copies of it (`run`)."""
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "tiny.yaml"
    config.write_text(TINY)
    assert main(["train", str(config), "--out", str(folder / "run")]) == 0
    return folder / "run"


@pytest.fixture
def run(trained, tmp_path):
    """A fresh copy of the trained run: what one test writes or extends, no other test sees."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def test_train_writes_a_run_that_every_verb_reads(run, tmp_path, capsys):
    assert (run / "samples.png").is_file() and (run / "best.safetensors").is_file()
    assert main(["sample", str(run), "-n", "6", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size[0] > 16
    assert main(["reconstruct", str(run), "-n", "8", "--out", str(tmp_path / "r.png")]) == 0
    assert main(["interpolate", str(run), "--from", "0", "--to", "5", "--steps", "6", "--out", str(tmp_path / "i.png")]) == 0
    strip = Image.open(tmp_path / "i.png")
    assert strip.size[0] > 7 * strip.size[1]  # one row: input, 6 steps, input
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out
    assert "epochs: 2 of 2" in out and "val/loss" in out


def test_resume_extends_a_finished_run(run, capsys):
    assert main(["train", "--resume", str(run), "train.epochs=3"]) == 0
    assert main(["info", str(run)]) == 0
    assert "epochs: 3 of 3" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["sample", "no/such/run"], "not found"),
        (["train", "no_such.yaml"], "not found"),
        (["train", "no_such_config"], "nor a shipped config named no_such_config (list them: vaelab configs)"),
        (["interpolate", "{run}", "--from", "0", "--to", "9999"], "out of range"),
        (["train", "{config}", "model.latnt=3"], "latnt"),
        (["train", "{config}", "--out", "{run}"], "already holds a run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run, argv, message, capsys):
    argv = [a.format(run=run, config=run / "config.yaml") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vaelab: error:") and message in err and "\n" not in err


def test_the_console_command_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vaelab.cli", "info", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "is not a run folder" in proc.stderr


def test_conditional_run_samples_a_chosen_label_and_traverses(tmp_path, capsys):
    config = tmp_path / "cvae.yaml"
    config.write_text(TINY.replace("name: vae", "name: cvae"))
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == 0
    assert main(["sample", str(run), "-n", "6", "--label", "1"]) == 0
    assert Image.open(run / "samples_label_1.png").size[0] > 16
    assert main(["sample", str(run), "-n", "6", "--label", "all", "--out", str(tmp_path / "all.png")]) == 0
    rows = Image.open(tmp_path / "all.png").size
    assert rows[1] > rows[0]  # 3 shape classes x 2 samples: 3 rows of 2
    assert main(["sample", str(run), "--label", "7"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["traverse", str(run), "--index", "2", "--steps", "5"]) == 0
    grid = Image.open(run / "traverse_2.png").size
    assert grid[1] < grid[0]  # 3 latent dimensions x 5 steps


def test_unconditional_run_refuses_a_label(run, capsys):
    assert main(["sample", str(run), "--label", "1"]) == 2
    assert "not conditional" in capsys.readouterr().err


def test_plot_draws_every_picture_that_applies(run, capsys):
    assert main(["plot", str(run)]) == 0
    out = capsys.readouterr().out
    for name in ("latent_space.png", "curves.png", "traverse_0.png", "interpolate_0_1_slerp.png"):
        assert (run / name).is_file(), name
    assert "manifold: the manifold grid needs a 2-D latent space" in out
    assert main(["plot", str(run), "manifold"]) == 2  # asked for by name: an error
    assert main(["plot", str(run), "histogram"]) == 2


def test_configs_lists_each_shipped_config_on_one_line(capsys):
    from vaelab.runs.shipped import shipped_configs

    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(shipped_configs())
    quickstart = next(line for line in lines if line.startswith("quickstart "))
    assert "generated shapes" in quickstart


def test_train_finds_a_shipped_config_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no quickstart.yaml here
    tiny = ["data.num_samples=64", "data.val=16", "data.image_size=16", "train.epochs=1", "train.batch_size=16", "train.progress=false"]
    assert main(["train", "quickstart.yaml", *tiny]) == 0
    assert "run folder: runs/quickstart" in capsys.readouterr().out
    assert (tmp_path / "runs/quickstart/best.safetensors").is_file()


def test_a_new_picture_never_replaces_one_in_the_run_folder(run, capsys):
    drawn_by_training = (run / "samples.png").read_bytes()
    for expected in ("samples_2.png", "samples_3.png"):
        assert main(["sample", str(run), "-n", "4"]) == 0
        assert capsys.readouterr().out.strip() == str(run / expected)
    assert (run / "samples.png").read_bytes() == drawn_by_training
    assert main(["reconstruct", str(run), "-n", "4"]) == 0
    assert capsys.readouterr().out.strip() == str(run / "reconstructions_2.png")


def walk(parser, path=()):
    """(command path, action) for every option and argument of every command of `parser`."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))
        else:
            yield path, action


def test_every_option_and_argument_of_every_command_says_what_it_is():
    import argparse

    from vaelab.cli import build_parser

    actions = list(walk(build_parser()))
    silent = [f"{' '.join(path)} {action.dest}" for path, action in actions
              if not action.help and not isinstance(action, argparse._HelpAction)]
    assert len(actions) > 60 and not silent, silent


def test_version_and_the_config_keys_reference_are_one_command_away(capsys):
    from vaelab.version import __version__

    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"vaelab {__version__}"
    assert main(["train", "--help"]) == 0
    assert "docs/reference/config.md" in capsys.readouterr().out
