"""Random command lines against a tiny trained run: each returns 0, or 2 with one line on stderr.

Hypothesis draws a verb that reads a run folder and some of its real options in any order.
Half of the command lines take values that mostly pass (so that whole commands run); the
other half also take anything (negative and huge whole numbers, nan and inf, random text,
wrong file names), miss values and carry stray tokens. No exception may escape `main`, and
no call may take long (the deadline). Outputs go to a scratch working folder.
"""

import contextlib
import io
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vaelab.cli import main

TINY = """
data: {name: shapes, image_size: 16, num_samples: 200, val: 40}
model: {name: vae, latent_dim: 3, hidden: [16]}
train: {epochs: 1, batch_size: 50, progress: false}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run inside a scratch folder that is the working directory meanwhile,
    so that relative output paths drawn below land there."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "tiny.yaml").write_text(TINY)
    assert main(["train", str(folder / "tiny.yaml"), "--out", str(folder / "run")]) == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        yield str(folder / "run")


def relative(text: str) -> bool:
    """Stay inside the scratch folder: no absolute path, no way up."""
    return not text.startswith(("/", "~")) and ".." not in text


WHOLE = st.one_of(
    st.integers(-3, 12),
    st.sampled_from([-(10**30), 2**31, 2**63, 2**64, 10**30, 101, 2049, 4097, 10_001, 50_001]),
).map(str)
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), st.sampled_from(["nan", "-inf", "1e400", "0x10", "1_0"]))
TEXT = st.text(max_size=12).filter(relative)
NAMES = st.sampled_from(["x.gif", "x.svg", "x", "x.html", "sub", ".", "", "-", "tiny.yaml/x.png", "run/x.png/"])
BAD = st.one_of(WHOLE, NUMBER, TEXT, NAMES)

PICTURES = st.one_of(st.sampled_from(["x.png", "X.PNG", "sub/y.jpg", "x.jpeg", "x.pdf"]), TEXT.map(lambda t: t + ".png"))
PICTURE = {"--checkpoint": st.sampled_from(["best", "last"]), "--out": PICTURES}
SPLIT = st.sampled_from(["val", "train"])
IMAGE = st.integers(0, 45).map(str)  # the held-out split has 40 images
STEPS = st.integers(2, 100).map(str)
SEED = st.integers(0, 2**32 - 1).map(str)
# For each verb, its options and a strategy for values that mostly pass (None: a flag).
OPTIONS = {
    "sample": {**PICTURE, "-n": st.integers(1, 64).map(str), "--seed": SEED, "--label": st.sampled_from(["all", "0"])},
    "reconstruct": {**PICTURE, "-n": st.integers(1, 2048).map(str), "--split": SPLIT},
    "interpolate": {**PICTURE, "--from": IMAGE, "--to": IMAGE, "--steps": STEPS, "--split": SPLIT,
                    "--method": st.sampled_from(["slerp", "linear"])},
    "traverse": {**PICTURE, "--index": IMAGE, "--span": st.floats(0.01, 1000).map(str), "--steps": STEPS, "--split": SPLIT},
    "plot": {"--checkpoint": PICTURE["--checkpoint"], "--method": st.sampled_from(["auto", "pca", "tsne"])},
    "info": {"--config": None},
    # small counts only: a valid large --k or -n is just slow (BAD's large ones are refused)
    "evaluate": {"-n": st.integers(1, 50).map(str), "--k": st.integers(1, 6).map(str), "--samples": st.integers(4, 8).map(str),
                 "--seed": SEED, "--classifier": TEXT},
    "report": {"-o": st.one_of(st.sampled_from(["r.html", "sub/r.html", "R.HTML"]), TEXT.map(lambda t: t + ".html"))},
}
POSITIONAL = {  # what may follow RUN
    "plot": st.sampled_from(["reconstructions", "samples", "interpolation", "traversal", "latent", "manifold", "curves"]),
    "report": st.just("{run}"),
}


@st.composite
def command_lines(draw) -> list[str]:
    """Half of them made of values that mostly pass; the other half anything goes: bad
    values, missing ones, a stray token anywhere."""
    chaos = draw(st.booleans())

    def value(good):
        return draw(st.one_of(good, BAD) if chaos else good)

    verb = draw(st.sampled_from(sorted(OPTIONS)))
    argv = draw(st.sampled_from([[], ["-q"]])) + [verb, "{run}"]
    if verb in POSITIONAL:
        argv += [value(POSITIONAL[verb]) for _ in range(draw(st.integers(0, 2)))]
    if verb == "interpolate":  # --from and --to are required: give them, or one of them now and then
        argv += draw(st.sampled_from([["--from", "0", "--to", "1"], ["--from", "3"], []])) if chaos else ["--from", "0", "--to", "1"]
    options = OPTIONS[verb]
    for name in draw(st.lists(st.sampled_from(sorted(options)), max_size=3)):
        argv.append(name)
        if options[name] is not None and not (chaos and draw(st.booleans())):  # chaos: the value may be missing
            argv.append(value(options[name]))
    if chaos and draw(st.booleans()):
        argv.insert(draw(st.integers(0, len(argv))), draw(TEXT))  # a stray token anywhere
    return argv


@settings(max_examples=200, deadline=timedelta(seconds=20), database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(argv=command_lines())
def test_every_command_line_succeeds_or_is_one_error_line(run, argv):
    argv = [a.replace("{run}", run) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)  # any exception fails the test, with the command line that raised it
    text = err.getvalue()
    event(f"{next(a for a in argv if a in OPTIONS)}: exit {code}")  # see pytest --hypothesis-show-statistics
    assert "Traceback" not in text
    assert code in (0, 2), (argv, code, text)
    if code == 2:
        lines = text.splitlines()
        assert len(lines) == 1 and lines[0].startswith("vaelab: error: "), (argv, text)
