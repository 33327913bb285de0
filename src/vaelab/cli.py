"""The `vaelab` command: one sub-command per verb; each parses, calls one function, prints.

Errors a user can fix become one line on stderr and exit status 2: a bad option value, a
missing or wrong-kind path (argparse `type=` functions below: checked while the command line
is read, before any work) and a vaelab.errors.VaelabError raised later. --help exits 0.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from vaelab.version import __version__


EXIT_USAGE = 2  # a bad input, a missing or unreadable file: one line on stderr
EXIT_DIVERGED = 3  # training stopped on a NaN/inf or exploded loss or weight; the last sound checkpoint is kept

# Bounds of the numeric options, checked while the command line is read, before any work.
# sample -n: 512 rows of 8 images; 64x64 images enlarged twice (as run pictures are) make a
# picture of 71.6 million pixels, under the 89.5 million Pillow opens (plots/grid.py).
MAX_PICTURE_IMAGES = 4096
MAX_RECONSTRUCT = MAX_PICTURE_IMAGES // 2  # reconstruct -n: each input beside its reconstruction
MAX_STEPS = 100  # interpolate and traverse --steps: columns of one picture
MAX_SPAN = 1000.0  # traverse --span, in latent units (standard deviations of a VAE's prior)
MAX_K = 10_000  # evaluate --k: the IS-NLL holds 32 x k x latent_dim noise values at once
MIN_GENERATED = 4  # evaluate --samples: precision/recall compare each with its 3 nearest neighbours
MAX_GENERATED = 50_000  # evaluate --samples: all are held in memory as float images
MAX_SEED = 2**32 - 1  # --seed: 32 bits, what every random generator takes
RUN_HELP = "a run folder (what vaelab train wrote, or a model's save_pretrained folder)"
CHECKPOINT_HELP = "whose weights: best (the lowest validation loss; the default) or last (the last checkpoint's)"
SEED_HELP = "random seed, 0 to 2**32 - 1 (default 0): the same seed draws the same pictures"
SPLIT_HELP = "images from the held-out part (val, the default) or the training part (train)"
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf")  # = plots.grid.PICTURE_SUFFIXES, without importing torch here
NAME_MAX = 255  # bytes in one file or folder name (Linux, macOS, Windows)


def cmd_train(args: argparse.Namespace) -> None:
    from vaelab.nn import distributed
    from vaelab.runs import load_config, run_config, train
    from vaelab import run_files

    if args.resume:
        run_dir, overrides = Path(args.resume), args.items
        cfg = run_config(run_dir, overrides)
    else:
        if not args.items:
            raise _usage("train needs a CONFIG file or shipped config name (or --resume RUN)")
        config, overrides = args.items[0], args.items[1:]
        cfg = load_config(config, overrides)
        run_dir = Path(args.out) if args.out else Path("runs") / Path(config).stem
        check_run_folder_path(run_dir)
        # train() refuses a used folder too, in its own words (resume=, overwrite=); here the command's, and early
        if any((run_dir / name).exists() for name in run_files.RUN_FILES) and not args.overwrite:
            raise _usage(f"{run_dir} already holds a run: --resume {run_dir} continues it, --overwrite starts over")
    try:
        result = train(cfg, run_dir, resume=bool(args.resume), overwrite=args.overwrite)
    except KeyboardInterrupt:
        saved = "state saved" if (run_dir / run_files.CHECKPOINT).exists() else "nothing trained yet"
        print(f"interrupted: {saved} in {run_dir}; continue with: vaelab train --resume {run_dir}", file=sys.stderr)
        sys.exit(130)
    if not distributed.is_main():  # torchrun: one process says it
        return
    print(f"run folder: {result.run_dir}")
    for name in ("reconstructions.png", "samples.png"):
        if (result.run_dir / name).exists():
            print(f"  {result.run_dir / name}")


def cmd_configs(args: argparse.Namespace) -> None:
    from vaelab.runs.shipped import shipped_configs

    configs = shipped_configs()
    width = max(map(len, configs))
    for name, description in configs.items():
        print(f"{name:<{width}}  {description}".rstrip())


def _picture_path(args: argparse.Namespace, name: str) -> Path:
    """--out, or `name` in the run folder; when that is taken (the pictures training drew,
    or an earlier command's), NAME_2.png, NAME_3.png, ...: a new picture never replaces one."""
    if args.out:
        return Path(args.out)
    path = Path(args.run) / name
    n = 2
    while path.exists() or path.is_symlink():
        path, n = Path(args.run) / f"{Path(name).stem}_{n}{Path(name).suffix}", n + 1
    return path


def cmd_sample(args: argparse.Namespace) -> None:
    from vaelab.plots.run_pictures import save_samples
    from vaelab.runs import load

    model = load(args.run, args.checkpoint)
    suffix = "" if args.label is None else f"_label_{args.label}"
    out = _picture_path(args, f"samples{suffix}.png")
    print(save_samples(model, out, n=args.n, seed=args.seed, label=args.label))


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from vaelab.plots.run_pictures import save_reconstructions
    from vaelab.runs import load

    model = load(args.run, args.checkpoint)
    out = _picture_path(args, "reconstructions.png")
    print(save_reconstructions(model, _split(args.run, args.split), out, n=args.n))


def cmd_interpolate(args: argparse.Namespace) -> None:
    from vaelab.plots.run_pictures import save_interpolation
    from vaelab.runs import load

    model = load(args.run, args.checkpoint)
    data = _split(args.run, args.split)
    out = _picture_path(args, f"interpolate_{args.start}_{args.end}_{args.method}.png")
    print(save_interpolation(model, data, args.start, args.end, out, args.steps, args.method))


def cmd_traverse(args: argparse.Namespace) -> None:
    from vaelab.plots.run_pictures import save_traversal
    from vaelab.runs import load

    model = load(args.run, args.checkpoint)
    data = _split(args.run, args.split)
    out = _picture_path(args, f"traverse_{args.index}.png")
    print(save_traversal(model, data, args.index, out, span=args.span, steps=args.steps))


def cmd_prior_train(args: argparse.Namespace) -> None:
    from vaelab.evaluation import bits_per_dim
    from vaelab.nn import distributed
    from vaelab.runs import train_prior
    from vaelab import run_files

    try:
        result = train_prior(args.run, args.overrides, resume=args.resume)
    except KeyboardInterrupt:
        print(f"interrupted: state saved; continue with: vaelab prior train {args.run} --resume", file=sys.stderr)
        sys.exit(130)
    if not distributed.is_main():  # torchrun: one process says it
        return
    meta = run_files.read_metadata(result.run_dir / run_files.CHECKPOINT)  # recorded with the prior: no model to rebuild
    shape = meta.get("code_shape", meta["grid"])
    positions = math.prod(shape)
    last = result.history[-1] if result.history else {}
    print(f"prior: {result.run_dir}")
    for split in ("train", "val"):
        if f"{split}/nll" in last:
            nll = last[f"{split}/nll"]
            bits = bits_per_dim(nll, positions)
            print(f"  {split} NLL {nll:.2f} nats per image = {bits:.3f} bits per code ({positions} codes)")


PLOTS = ("reconstructions", "samples", "interpolation", "traversal", "latent", "manifold", "groups", "curves")


def cmd_plot(args: argparse.Namespace) -> None:
    """Every picture asked for (all that apply by default) into the run folder."""
    from vaelab.errors import CapabilityError
    from vaelab.plots import curves, groups, latent_space, manifold, run_pictures
    from vaelab.runs import load
    from vaelab import run_files

    run = Path(args.run)
    model = load(run, args.checkpoint)
    data = _split(args.run, "val")
    draw = {
        "reconstructions": lambda: run_pictures.save_reconstructions(model, data, run / "reconstructions.png"),
        "samples": lambda: run_pictures.save_samples(model, run / "samples.png"),
        "interpolation": lambda: run_pictures.save_interpolation(model, data, 0, 1, run / "interpolate_0_1_slerp.png"),
        "traversal": lambda: run_pictures.save_traversal(model, data, 0, run / "traverse_0.png"),
        "latent": lambda: latent_space.save_latent_scatter(
            *latent_space.latent_points(model, data), run / "latent_space.png", class_names=data.class_names, method=args.method
        ),
        "manifold": lambda: manifold.save_manifold_grid(model, run / "manifold.png"),
        "groups": lambda: groups.save_group_heatmap(model, run / "latent_groups.png"),
        "curves": lambda: curves.save_training_curves(run_files.read_jsonl(run / run_files.METRICS), run / "curves.png"),
    }
    unknown = [w for w in args.what if w not in PLOTS]
    if unknown:
        raise _usage(f"unknown picture {unknown[0]!r}; choose from {', '.join(PLOTS)}")
    asked = args.what or list(PLOTS)
    for name in asked:
        try:
            print(draw[name]())
        except CapabilityError as e:
            if args.what:  # asked for by name: say why not
                raise
            print(f"  ({name}: {e})")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from vaelab.runs import EvalOptions, evaluate_run, scorecard_lines

    result = evaluate_run(args.run, EvalOptions(k=args.k, n=args.n, samples=args.samples, classifier=args.classifier, seed=args.seed))
    for line in scorecard_lines(result):
        print(f"  {line}")
    print(f"  written to {Path(args.run) / 'evaluation.json'}")


def cmd_classifier_train(args: argparse.Namespace) -> None:
    from vaelab.runs import train_dataset_classifier

    record = train_dataset_classifier(args.dataset, args.overrides, args.out, epochs=args.epochs, seed=args.seed)
    accuracy = record.get("held_out_accuracy")
    print(f"classifier {record['id']} for {args.dataset}: {record['folder']}")
    if accuracy is not None:
        print(f"  held-out accuracy {accuracy:.4f}")


def cmd_report(args: argparse.Namespace) -> None:
    from vaelab.report import write_report

    print(write_report([Path(r) for r in args.runs], Path(args.output)))


def cmd_explore(args: argparse.Namespace) -> None:
    from vaelab.explore.serve import open_runs, serve

    try:
        serve(open_runs(args.runs), args.port, open_browser=not args.no_browser)
    except KeyboardInterrupt:  # uvicorn has shut down gracefully, then raised the signal again
        print("vaelab explorer: stopped", flush=True)


def _data_line(run: Path, data) -> str:
    """What the run was trained on: the data set its config names, or the record of data handed in from Python."""
    from vaelab import run_files

    source = run_files.weights_source(run, "last")
    record = run_files.read_metadata(source[0]).get("data") if source else None
    if not isinstance(record, dict):  # a run of vaelab before the record, or no weights yet
        return f"{data.name} ({data.split} split, held out {data.val:g})"
    held = f", held out {record['held_out']}" if record.get("held_out") else ", none held out"
    return (f"{record['name']}: {record['dtype']} {record['train']}{held}, labels {'yes' if record['labels'] else 'no'}, "
            f"sha256 {record['sha256'][:16]}")


def cmd_info(args: argparse.Namespace) -> None:
    from vaelab.config import to_dict
    from vaelab.models import parameter_counts
    from vaelab.models.networks import CUSTOM
    from vaelab.runs import load, run_config
    from vaelab import run_files

    cfg = run_config(args.run)
    history = run_files.read_jsonl(Path(args.run) / run_files.METRICS)
    print(f"run:    {args.run}")
    if cfg.model.backbone == CUSTOM:  # networks only their author has: described, not built
        print(f"model:  {cfg.model.name} with your own networks (model.backbone: {CUSTOM}; load it from Python)")
    else:
        model = load(args.run, "last")
        own, in_prior = parameter_counts(model)
        prior = f" (+ {in_prior:,} in its code prior)" if in_prior else ""
        print(f"model:  {cfg.model.name}, {own:,} parameters{prior}, data shape {model.data_shape}")
    print(f"data:   {_data_line(Path(args.run), cfg.data)}")
    print(f"epochs: {len(history)} of {cfg.train.epochs}")
    if history:
        last = history[-1]
        terms = "  ".join(f"{k} {v:.4f}" for k, v in last.items() if "/" in k and not k.endswith("seconds"))
        print(f"last:   {terms}   (nats per example)")
        if any("val/loss" in r for r in history):
            best = min(history, key=lambda r: r.get("val/loss", float("inf")))
            print(f"best:   val/loss {best['val/loss']:.4f} at epoch {best['epoch']}")
    if args.config:
        import yaml

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")


def _split(run: str, split: str):
    """The held-out ('val') or training images of a run's dataset."""
    from vaelab.data import load_dataset
    from vaelab.runs import run_config

    data = load_dataset(run_config(run).data)
    return data.held_out_or_train()[0] if split == "val" else data.train


def check_run_folder_path(path: str | Path) -> None:
    """`train --out PATH`: a VaelabError unless PATH is a folder or can become one."""
    problem = _folder_problem(str(path))
    if problem:
        raise _usage(f"argument --out: {problem}")


def _usage(message: str):
    from vaelab.errors import VaelabError

    return VaelabError(message)


# Checks of the command line (argparse `type=` functions): a bad value stops the command
# before it loads anything, as one line naming the option.


def _path_problem(text: str) -> str | None:
    """Why no file or folder can be written at `text`, or None. Missing folders on the way
    are fine (the writers create them); a file in their place, or no permission, is not."""
    if "\x00" in text:
        return f"{text!r} holds a NUL character"
    try:
        os.fsencode(text)
    except UnicodeError:
        return f"{text!r} is not a valid file name here"
    path = Path(text).absolute()
    if any(len(os.fsencode(part)) > NAME_MAX for part in path.parts):
        return f"a name in {text!r} is longer than {NAME_MAX} bytes"
    try:
        folder = path.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            return f"{str(folder)!r} is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"no permission to write in {str(folder)!r}"
    except OSError as e:
        return f"cannot reach {text!r}: {e.strerror}"
    return None


def _folder_problem(text: str) -> str | None:
    """Why `text` cannot be a folder to write in, or None."""
    problem = _path_problem(text)
    if problem is None and Path(text).exists() and not Path(text).is_dir():
        problem = f"{text!r} is a file, not a folder"
    return problem


def _run_folder(text: str) -> str:
    """An argparse type: an existing folder (whether it holds a run is checked when it is opened)."""
    if not Path(text).is_dir():
        found = "is a file, not a folder" if Path(text).exists() else "not found"
        raise argparse.ArgumentTypeError(f"run folder {text!r} {found}")
    return text


def _output_file(suffixes: tuple[str, ...]):
    """An argparse type: a file to write, ending in one of `suffixes` (any case), not a folder."""

    def parse(text: str) -> str:
        problem = None
        if Path(text).suffix.lower() not in suffixes:
            problem = f"expected a file name ending in {_alternatives(suffixes)}, got {text!r}"
        problem = problem or _path_problem(text)
        if problem is None and Path(text).is_dir():
            problem = f"{text!r} is a folder, not a file"
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return text

    return parse


def _output_folder(text: str) -> str:
    """An argparse type: a folder to write in (made when missing), not a file."""
    problem = _folder_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _count(low: int, high: int | None = None):
    """An argparse type: a whole number from `low` to `high` (no upper bound when None)."""
    bounds = f"at least {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {bounds}, got {text!r}")
        return value

    return parse


def _span(text: str) -> float:
    """An argparse type: a number above 0 and at most MAX_SPAN (so not nan, not inf)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_SPAN:  # false for nan too
        raise argparse.ArgumentTypeError(f"expected a number above 0 and at most {MAX_SPAN:g}, got {text!r}")
    return value


def _label(text: str) -> int | str:
    """An argparse type: 'all' or a class index >= 0 (checked against the model's classes later)."""
    if text == "all":
        return text
    try:
        return _count(0)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a class index (0, 1, ...) or 'all', got {text!r}") from None


def _alternatives(items: tuple[str, ...]) -> str:
    return " or ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def _one_line(text: str) -> str:
    """`text` with its line breaks written as \\n."""
    return "\\n".join(text.splitlines())


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (no usage block), then exit status 2.
    Sub-command parsers are made of the same class."""

    def error(self, message: str):
        print(f"vaelab: error: {_one_line(message)} (see: {self.prog} --help)", file=sys.stderr)
        self.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vaelab", description="Train, sample and inspect autoencoders and VAEs.")
    parser.set_defaults(overrides_in=None)  # the verbs that take key=value overrides name where they go
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    parser.add_argument("--version", action="version", version=f"vaelab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_configs, _add_picture_verbs, _add_prior, _add_plot, _add_evaluate, _add_classifier, _add_report_and_info):
        add(sub)
    return parser


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model from a YAML config", description="vaelab train CONFIG [key=value ...]",
                       epilog="Config keys: data.*, model.* (model.name picks the model and its keys) and train.*, "
                              "each with its type, default and accepted values, are listed in the guide's reference "
                              "(docs/reference/config.md; `make docs`) and in the comments of the shipped configs "
                              "(vaelab configs). A bad key or value is refused in one line before any work.")
    p.add_argument("items", nargs="*", metavar="CONFIG [key=value ...]",
                   help="config file or shipped config name (vaelab configs), then overrides such as train.epochs=5")
    p.add_argument("--out", help="run folder (default runs/<config name>)")
    p.add_argument("--resume", metavar="RUN", type=_run_folder, help="continue the run in this folder (overrides may follow)")
    p.add_argument("--overwrite", action="store_true", help="start over in a folder that already holds a run")
    p.set_defaults(func=cmd_train, overrides_in="items")


def _add_configs(sub) -> None:
    help = "list the shipped configs: vaelab train NAME trains one from any folder"
    p = sub.add_parser("configs", help=help, description=help)
    p.set_defaults(func=cmd_configs)


def _run_parser(sub, name: str, help: str) -> argparse.ArgumentParser:
    """A verb that reads a run folder and writes a picture."""
    q = sub.add_parser(name, help=help, description=help)
    q.add_argument("run", metavar="RUN", type=_run_folder, help=RUN_HELP)
    q.add_argument("--checkpoint", choices=["best", "last"], default="best", help=CHECKPOINT_HELP)
    q.add_argument("--out", type=_output_file(PICTURE_SUFFIXES),
                   help=f"picture to write: {', '.join(PICTURE_SUFFIXES)} (default: a PNG in the run folder, under a "
                        f"new name when the name is taken, so no picture is replaced)")
    return q


def _add_picture_verbs(sub) -> None:
    p = _run_parser(sub, "sample", "draw images from the model's prior")
    p.add_argument("-n", type=_count(1, MAX_PICTURE_IMAGES), default=64, help=f"number of samples, 1 to {MAX_PICTURE_IMAGES} (default 64)")
    p.add_argument("--seed", type=_count(0, MAX_SEED), default=0, help=SEED_HELP)
    p.add_argument("--label", type=_label, help="conditional models: a class index, or 'all' for one row per class")
    p.set_defaults(func=cmd_sample)

    p = _run_parser(sub, "reconstruct", "inputs beside their reconstructions")
    p.add_argument("-n", type=_count(1, MAX_RECONSTRUCT), default=32, help=f"number of images, 1 to {MAX_RECONSTRUCT} (default 32)")
    p.add_argument("--split", choices=["val", "train"], default="val", help=SPLIT_HELP)
    p.set_defaults(func=cmd_reconstruct)

    p = _run_parser(sub, "interpolate", "decode a path in latent space between two images")
    p.add_argument("--from", dest="start", type=_count(0), required=True, metavar="I", help="index of the first image")
    p.add_argument("--to", dest="end", type=_count(0), required=True, metavar="J", help="index of the last image")
    p.add_argument("--steps", type=_count(2, MAX_STEPS), default=10, help=f"points on the path, 2 to {MAX_STEPS} (default 10)")
    p.add_argument("--method", choices=["slerp", "linear"], default="slerp",
                   help="the path: slerp (along the sphere Gaussian codes live near; the default) or linear")
    p.add_argument("--split", choices=["val", "train"], default="val", help=SPLIT_HELP)
    p.set_defaults(func=cmd_interpolate)

    p = _run_parser(sub, "traverse", "sweep each latent dimension around one image (rows sorted by KL)")
    p.add_argument("--index", type=_count(0), default=0, help="the image whose posterior mean is the centre")
    p.add_argument("--span", type=_span, default=3.0, help=f"sweep z_d over [-span, span]; above 0, at most {MAX_SPAN:g} (default 3)")
    p.add_argument("--steps", type=_count(2, MAX_STEPS), default=9, help=f"columns, 2 to {MAX_STEPS} (default 9)")
    p.add_argument("--split", choices=["val", "train"], default="val", help=SPLIT_HELP)
    p.set_defaults(func=cmd_traverse)


def _add_prior(sub) -> None:
    p = sub.add_parser("prior", help="a learned prior over a VQ-VAE's codes", description="a learned prior over a VQ-VAE's codes")
    prior_sub = p.add_subparsers(dest="prior_command", required=True, metavar="COMMAND")
    q = prior_sub.add_parser("train", help="fit a gated PixelCNN to the run's training codes (RUN/prior/)")
    q.add_argument("run", metavar="RUN", type=_run_folder, help="a VQ-VAE run folder")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. train.epochs=30 conditional=true pixelcnn.layers=12")
    q.add_argument("--resume", action="store_true", help="continue RUN/prior/ where it stopped")
    q.set_defaults(func=cmd_prior_train, overrides_in="overrides")


def _add_plot(sub) -> None:
    help = "pictures of a run into its folder: reconstructions, samples, paths, latent space, manifold, oi-VAE groups, curves"
    p = sub.add_parser("plot", help=help, description=help)
    p.add_argument("run", metavar="RUN", type=_run_folder, help=RUN_HELP)
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help=CHECKPOINT_HELP)
    p.add_argument("what", nargs="*", metavar="WHAT", help=f"any of {', '.join(PLOTS)} (default: all that apply)")
    p.add_argument("--method", choices=["auto", "pca", "tsne"], default="auto", help="latent scatter: 2-D latents directly, else PCA (or t-SNE)")
    p.set_defaults(func=cmd_plot)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="likelihood, latent statistics, reconstruction, sample quality, retained information",
                       description="evaluate a run on its held-out images; writes RUN/evaluation.json")
    p.add_argument("run", metavar="RUN", type=_run_folder, help=RUN_HELP)
    p.add_argument("--k", type=_count(1, MAX_K), default=1000,
                   help=f"importance samples per image for the IS-NLL, 1 to {MAX_K} (default 1000)")
    p.add_argument("-n", type=_count(1), default=1000, help="held-out images to evaluate, at least 1 (default 1000; all when fewer)")
    p.add_argument("--samples", type=_count(MIN_GENERATED, MAX_GENERATED), default=1000,
                   help=f"generated images for FD, precision/recall and CAS, {MIN_GENERATED} to {MAX_GENERATED} (default 1000)")
    p.add_argument("--classifier", help="classifier folder (default classifiers/<dataset> when present)")
    p.add_argument("--seed", type=_count(0, MAX_SEED), default=0, help="random seed of the importance samples and the "
                   "generated images, 0 to 2**32 - 1 (default 0)")
    p.set_defaults(func=cmd_evaluate)


def _add_classifier(sub) -> None:
    p = sub.add_parser("classifier", help="the per-dataset classifier behind FD, precision/recall and CAS")
    clf_sub = p.add_subparsers(dest="classifier_command", required=True, metavar="COMMAND")
    q = clf_sub.add_parser("train", help="train a small CNN on a dataset's training part (classifiers/<dataset>/)")
    q.add_argument("--dataset", required=True, help="mnist, fashion-mnist, cifar10, shapes, folder:PATH ...")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="data settings, e.g. root=../shared/data/mnist split=test val=1000")
    q.add_argument("--epochs", type=_count(1), default=10, help="at least 1 (default 10)")
    q.add_argument("--seed", type=_count(0, MAX_SEED), default=0, help="seed of the weights and the batch order "
                   "(default 0)")
    q.add_argument("--out", type=_output_folder, help="folder (default classifiers/<dataset>)")
    q.set_defaults(func=cmd_classifier_train, overrides_in="overrides")


def _add_report_and_info(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page for one or more runs", description="one self-contained HTML page (config, metrics, curves, pictures; a comparison table for several runs)")
    p.add_argument("runs", nargs="+", metavar="RUN", type=_run_folder, help="run folders; several get a comparison table")
    p.add_argument("-o", "--output", type=_output_file((".html",)), default="report.html", help="HTML file to write (default report.html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("explore", help="see and touch runs' latent spaces in the browser (127.0.0.1 only)",
                       description="serve a page on 127.0.0.1 to explore one or more runs' latent spaces")
    p.add_argument("runs", nargs="+", metavar="RUN", type=_run_folder, help="run folders to explore (one page for all)")
    p.add_argument("--port", type=_count(0, 65535), default=0, help="port on 127.0.0.1 (default 0: a free one, printed)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_explore)

    p = sub.add_parser("info", help="what a run folder holds", description="what a run folder holds")
    p.add_argument("run", metavar="RUN", type=_run_folder, help=RUN_HELP)
    p.add_argument("--config", action="store_true", help="also print the full config")
    p.set_defaults(func=cmd_info)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line, parsed. key=value overrides may also follow options
    (`vaelab train c.yaml --out runs/c train.lr=3e-4`), which argparse alone refuses."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.overrides_in is None or any(e.startswith("-") or "=" not in e for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        vars(args)[args.overrides_in] = [*vars(args)[args.overrides_in], *extra]
    return args


def main(argv: list[str] | None = None) -> int:
    from vaelab.errors import TrainingDiverged, VaelabError

    try:
        args = _parse(argv)
    except SystemExit as e:  # --help (0), or a bad command line: _Parser.error printed its one line
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    status = EXIT_USAGE
    try:
        args.func(args)
        status = 0
    except TrainingDiverged as e:
        print(f"vaelab: error: {_one_line(str(e))}", file=sys.stderr)
        status = EXIT_DIVERGED
    except VaelabError as e:
        print(f"vaelab: error: {_one_line(str(e))}", file=sys.stderr)
    except BrokenPipeError:  # `vaelab configs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        status = 0
    except OSError as e:  # what the machine refused (a full disk, a read-only folder) where no check said it first
        where = f"{e.filename}: " if e.filename else ""
        print(f"vaelab: error: {where}{e.strerror or _one_line(str(e))}", file=sys.stderr)
    except BaseException:
        _leave_process_group(None)  # the exception goes on
        raise
    _leave_process_group(status)
    return status


def _leave_process_group(status: int | None) -> None:
    """torchrun: leave the process group (and, with a status, end the process there). A
    command that never imported torch (`vaelab configs`) cannot have joined one."""
    if "torch.distributed" in sys.modules:
        from vaelab.nn import distributed

        distributed.finish(status)


if __name__ == "__main__":
    sys.exit(main())
