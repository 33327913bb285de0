"""The `vaelab` command: one sub-command per verb; each parses, calls one function, prints.

Errors a user can fix (vaelab.errors.VaelabError) become one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


EXIT_USAGE = 2


def cmd_train(args: argparse.Namespace) -> None:
    from vaelab.runs import load_config, run_config, train
    from vaelab.training import checkpoint as ckpt

    if args.resume:
        run_dir, overrides = Path(args.resume), args.items
        cfg = run_config(run_dir, overrides)
    else:
        if not args.items:
            raise _usage("train needs a CONFIG file (or --resume RUN)")
        config_path, overrides = Path(args.items[0]), args.items[1:]
        cfg = load_config(config_path, overrides)
        run_dir = Path(args.out) if args.out else Path("runs") / config_path.stem
        if (run_dir / ckpt.STATE).exists() and not args.overwrite:
            raise _usage(f"{run_dir} already holds a run: --resume {run_dir} continues it, --overwrite starts over")
    try:
        result = train(cfg, run_dir, resume=bool(args.resume))
    except KeyboardInterrupt:
        print(f"interrupted: state saved in {run_dir}; continue with: vaelab train --resume {run_dir}", file=sys.stderr)
        sys.exit(130)
    print(f"run folder: {result.run_dir}")
    for name in ("reconstructions.png", "samples.png"):
        if (result.run_dir / name).exists():
            print(f"  {result.run_dir / name}")


def cmd_sample(args: argparse.Namespace) -> None:
    from vaelab.plots.run_pictures import save_samples
    from vaelab.runs import load

    model = load(args.run, args.checkpoint)
    label = args.label if args.label in (None, "all") else _int(args.label, "--label")
    suffix = "" if label is None else f"_label_{label}"
    out = Path(args.out) if args.out else Path(args.run) / f"samples{suffix}.png"
    print(save_samples(model, out, n=args.n, seed=args.seed, label=label))


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from vaelab.plots.run_pictures import save_reconstructions
    from vaelab.runs import load

    model = load(args.run, args.checkpoint)
    out = Path(args.out) if args.out else Path(args.run) / "reconstructions.png"
    print(save_reconstructions(model, _split(args.run, args.split), out, n=args.n))


def cmd_interpolate(args: argparse.Namespace) -> None:
    from vaelab.plots.run_pictures import save_interpolation
    from vaelab.runs import load

    model = load(args.run, args.checkpoint)
    data = _split(args.run, args.split)
    for index in (args.start, args.end):
        _check_index(index, data, args.split)
    out = Path(args.out) if args.out else Path(args.run) / f"interpolate_{args.start}_{args.end}_{args.method}.png"
    print(save_interpolation(model, data, args.start, args.end, out, args.steps, args.method))


def cmd_traverse(args: argparse.Namespace) -> None:
    from vaelab.plots.run_pictures import save_traversal
    from vaelab.runs import load

    model = load(args.run, args.checkpoint)
    data = _split(args.run, args.split)
    _check_index(args.index, data, args.split)
    out = Path(args.out) if args.out else Path(args.run) / f"traverse_{args.index}.png"
    print(save_traversal(model, data, args.index, out, span=args.span, steps=args.steps))


def cmd_prior_train(args: argparse.Namespace) -> None:
    from vaelab.evaluation import bits_per_dim
    from vaelab.runs import load, train_prior

    try:
        result = train_prior(args.run, args.overrides, resume=args.resume)
    except KeyboardInterrupt:
        print(f"interrupted: state saved; continue with: vaelab prior train {args.run} --resume", file=sys.stderr)
        sys.exit(130)
    grid = load(args.run, prior=False).grid
    last = result.history[-1] if result.history else {}
    print(f"prior: {result.run_dir}")
    for split in ("train", "val"):
        if f"{split}/nll" in last:
            nll = last[f"{split}/nll"]
            bits = bits_per_dim(nll, grid[0] * grid[1])
            print(f"  {split} NLL {nll:.2f} nats per image = {bits:.3f} bits per code ({grid[0]}x{grid[1]} codes)")


PLOTS = ("reconstructions", "samples", "interpolation", "traversal", "latent", "manifold", "curves")


def cmd_plot(args: argparse.Namespace) -> None:
    """Every picture asked for (all that apply by default) into the run folder."""
    from vaelab.errors import CapabilityError
    from vaelab.plots import curves, latent_space, manifold, run_pictures
    from vaelab.runs import load
    from vaelab.training import checkpoint as ckpt

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
        "curves": lambda: curves.save_training_curves(ckpt.read_jsonl(run / ckpt.METRICS), run / "curves.png"),
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

    for run in args.runs:
        if not Path(run).is_dir():
            raise _usage(f"run folder {run} not found")
    print(write_report([Path(r) for r in args.runs], Path(args.output)))


def cmd_info(args: argparse.Namespace) -> None:
    from vaelab.config import to_dict
    from vaelab.models import parameter_counts
    from vaelab.runs import load, run_config
    from vaelab.training import checkpoint as ckpt

    cfg = run_config(args.run)
    model = load(args.run, "last")
    history = ckpt.read_jsonl(Path(args.run) / ckpt.METRICS)
    own, in_prior = parameter_counts(model)
    prior = f" (+ {in_prior:,} in its code prior)" if in_prior else ""
    print(f"run:    {args.run}")
    print(f"model:  {cfg.model.name}, {own:,} parameters{prior}, data shape {model.data_shape}")
    print(f"data:   {cfg.data.name} ({cfg.data.split} split, held out {cfg.data.val:g})")
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


def _check_index(index: int, data, split: str) -> None:
    if not 0 <= index < len(data):
        raise _usage(f"image index {index} out of range: the {split} split has {len(data)} images")


def _int(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _usage(f"{option} takes a class index or 'all', not {text!r}") from None


def _usage(message: str):
    from vaelab.errors import VaelabError

    return VaelabError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaelab", description="Train, sample and inspect autoencoders and VAEs.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_picture_verbs, _add_prior, _add_plot, _add_evaluate, _add_classifier, _add_report_and_info):
        add(sub)
    return parser


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model from a YAML config", description="vaelab train CONFIG.yaml [key=value ...]")
    p.add_argument("items", nargs="*", metavar="CONFIG [key=value ...]", help="config file, then overrides such as train.epochs=5")
    p.add_argument("--out", help="run folder (default runs/<config name>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder (overrides may follow)")
    p.add_argument("--overwrite", action="store_true", help="start over in a folder that already holds a run")
    p.set_defaults(func=cmd_train)


def _run_parser(sub, name: str, help: str) -> argparse.ArgumentParser:
    """A verb that reads a run folder and writes a picture."""
    q = sub.add_parser(name, help=help, description=help)
    q.add_argument("run", metavar="RUN", help="run folder")
    q.add_argument("--checkpoint", choices=["best", "last"], default="best")
    q.add_argument("--out", help="PNG to write (default: in the run folder)")
    return q


def _add_picture_verbs(sub) -> None:
    p = _run_parser(sub, "sample", "draw images from the model's prior")
    p.add_argument("-n", type=int, default=64, help="number of samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", help="conditional models: a class index, or 'all' for one row per class")
    p.set_defaults(func=cmd_sample)

    p = _run_parser(sub, "reconstruct", "inputs beside their reconstructions")
    p.add_argument("-n", type=int, default=32, help="number of images")
    p.add_argument("--split", choices=["val", "train"], default="val")
    p.set_defaults(func=cmd_reconstruct)

    p = _run_parser(sub, "interpolate", "decode a path in latent space between two images")
    p.add_argument("--from", dest="start", type=int, required=True, metavar="I", help="index of the first image")
    p.add_argument("--to", dest="end", type=int, required=True, metavar="J", help="index of the last image")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--method", choices=["slerp", "linear"], default="slerp")
    p.add_argument("--split", choices=["val", "train"], default="val")
    p.set_defaults(func=cmd_interpolate)

    p = _run_parser(sub, "traverse", "sweep each latent dimension around one image (rows sorted by KL)")
    p.add_argument("--index", type=int, default=0, help="the image whose posterior mean is the centre")
    p.add_argument("--span", type=float, default=3.0, help="sweep z_d over [-span, span]")
    p.add_argument("--steps", type=int, default=9)
    p.add_argument("--split", choices=["val", "train"], default="val")
    p.set_defaults(func=cmd_traverse)


def _add_prior(sub) -> None:
    p = sub.add_parser("prior", help="a learned prior over a VQ-VAE's codes", description="a learned prior over a VQ-VAE's codes")
    prior_sub = p.add_subparsers(dest="prior_command", required=True, metavar="COMMAND")
    q = prior_sub.add_parser("train", help="fit a gated PixelCNN to the run's training codes (RUN/prior/)")
    q.add_argument("run", metavar="RUN", help="a VQ-VAE run folder")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. train.epochs=30 conditional=true pixelcnn.layers=12")
    q.add_argument("--resume", action="store_true", help="continue RUN/prior/ where it stopped")
    q.set_defaults(func=cmd_prior_train)


def _add_plot(sub) -> None:
    help = "pictures of a run into its folder: reconstructions, samples, paths, latent space, manifold, curves"
    p = sub.add_parser("plot", help=help, description=help)
    p.add_argument("run", metavar="RUN", help="run folder")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("what", nargs="*", metavar="WHAT", help=f"any of {', '.join(PLOTS)} (default: all that apply)")
    p.add_argument("--method", choices=["auto", "pca", "tsne"], default="auto", help="latent scatter: 2-D latents directly, else PCA (or t-SNE)")
    p.set_defaults(func=cmd_plot)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="likelihood, latent statistics, reconstruction, sample quality, retained information",
                       description="evaluate a run on its held-out images; writes RUN/evaluation.json")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--k", type=int, default=1000, help="importance samples per image for the IS-NLL (default 1000)")
    p.add_argument("-n", type=int, default=1000, help="held-out images to evaluate (default 1000)")
    p.add_argument("--samples", type=int, default=1000, help="generated images for FD, precision/recall and CAS")
    p.add_argument("--classifier", help="classifier folder (default classifiers/<dataset> when present)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_evaluate)


def _add_classifier(sub) -> None:
    p = sub.add_parser("classifier", help="the per-dataset classifier behind FD, precision/recall and CAS")
    clf_sub = p.add_subparsers(dest="classifier_command", required=True, metavar="COMMAND")
    q = clf_sub.add_parser("train", help="train a small CNN on a dataset's training part (classifiers/<dataset>/)")
    q.add_argument("--dataset", required=True, help="mnist, fashion-mnist, cifar10, shapes, folder:PATH ...")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="data settings, e.g. root=../shared/data/mnist split=test val=1000")
    q.add_argument("--epochs", type=int, default=10)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", help="folder (default classifiers/<dataset>)")
    q.set_defaults(func=cmd_classifier_train)


def _add_report_and_info(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page for one or more runs", description="one self-contained HTML page (config, metrics, curves, pictures; a comparison table for several runs)")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("info", help="what a run folder holds", description="what a run folder holds")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--config", action="store_true", help="also print the full config")
    p.set_defaults(func=cmd_info)


def main(argv: list[str] | None = None) -> int:
    from vaelab.errors import VaelabError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        args.func(args)
    except VaelabError as e:
        print(f"vaelab: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
