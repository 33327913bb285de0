"""Train a model into a run folder: model + data + the training loop + the pictures."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from vaelab import run_files
from vaelab.config import NO_DATA, RunConfig, check, to_dict
from vaelab.crashpoints import crash_point
from vaelab.data import DataSplits, ImageDataset, load_dataset
from vaelab.data.given import data_record, given_splits
from vaelab.models import GenerativeModel, build_model
from vaelab.models.base import TrainingSetSized
from vaelab.errors import RunError, VaelabError
from vaelab.nn import distributed
from vaelab.nn.device import pick_device
from vaelab.plots.run_pictures import save_run_pictures
from vaelab.runs.folder import PRIOR_DIR, run_config
from vaelab.runs.memory import check_memory
from vaelab.runs.resume import check_resume_changes
from vaelab.training import TrainResult, average_terms, dataset_epochs, fit, hold_folder

PICTURES = ("reconstructions.png", "samples.png")
OWNED = (*run_files.RUN_FILES, *PICTURES, run_files.MARKER)  # the files a trainer writes into its folder
LEFT_BESIDE = (PRIOR_DIR, "evaluation.json", "tensorboard")  # what else a run's folder gathers


def train(
    cfg: RunConfig,
    run_dir: str | Path,
    resume: bool = False,
    data: Any = None,
    model: GenerativeModel | None = None,
    *,
    labels: torch.Tensor | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train `cfg.model` on `cfg.data` (or on `data`) into `run_dir`.

    `data`: the data to train on instead of loading `cfg.data`'s data set: DataSplits
    (training and held-out parts, used as they are), or images held out and binarized as
    `cfg.data` says (data.val, data.split_seed, data.binarize): a tensor [N, C, H, W] (or
    [N, H, W]), uint8 or float in [0, 1], with `labels` int64 [N] if any; an
    ImageDataset; a torch Dataset of images or (image, label) pairs. Unless they are the
    data set `cfg.data` names, the run records data.name: none, so that no command ever
    loads another data set in their place (they ask for the data instead); every run keeps
    a record of its data (name, shapes, dtype, sha256) in its weights' metadata.

    `model`: a model you built (with your own encoder and decoder, say) to train instead of
    a fresh one of `cfg.model`; its config replaces `cfg.model` in the run folder. To resume
    such a run, pass the same kind of model again (its weights come from the checkpoint).

    The run folder gets config.yaml, the checkpoint, weights and metrics.jsonl (see
    training.fit), then reconstructions.png and, for a model that can sample, samples.png.
    resume=True continues the run in `run_dir`; `cfg` may differ from the config it was
    trained with only where runs.resume allows. A folder that holds a run is refused
    unless resume or `overwrite` (start over) says what to do with it. The folder is locked
    while this runs: a second trainer on it fails at once with a RunError.
    """
    run_dir = Path(run_dir)
    cfg, data = _what_to_train(cfg, data, labels, model)
    device = training_device(cfg.train.device)  # a device this machine lacks: refused before the folder is touched
    check_memory(cfg, device, data, model)  # so is a run that cannot fit in memory, before anything is allocated
    prepare = (lambda: check_resumable(run_dir)) if resume else (lambda: _start_over(run_dir, overwrite))
    with held_by_main(run_dir, OWNED, prepare=prepare):
        if resume:
            check_resume_changes(to_dict(run_config(run_dir)), to_dict(cfg))
        torch.manual_seed(cfg.train.seed)
        data = data if data is not None else load_dataset(cfg.data)
        model = _model_for(cfg, data.train, model).to(device)
        result = _fit(model, cfg, data, run_dir, resume)
        shown, _ = data.held_out_or_train()
        crash_point("pictures")
        if distributed.is_main():
            save_run_pictures(model, shown, run_dir)
    return result


def _what_to_train(cfg: RunConfig, data: Any, labels: torch.Tensor | None,
                   model: GenerativeModel | None) -> tuple[RunConfig, DataSplits | None]:
    """The run's config and data (None: cfg.data's data set, loaded later): `model`'s config
    in place of cfg.model, data.name none for data that are not the data set cfg.data names
    (nothing could load them by name), then every rule across the config's values."""
    if model is not None:
        cfg = replace(cfg, model=model.config)
    if data is not None:
        data = given_splits(data, labels, cfg.data)
        if data.train.name != cfg.data.name:
            cfg = replace(cfg, data=replace(cfg.data, name=NO_DATA))
    check(cfg)  # each value was checked when set; here the rules across them, after any assignments
    return cfg, data


def _fit(model: GenerativeModel, cfg: RunConfig, data: DataSplits, run_dir: Path, resume: bool) -> TrainResult:
    """training.fit on the data's batches, with the run's metadata (model, shapes, data record)."""
    t = cfg.train
    if isinstance(model, TrainingSetSized):
        model.set_training_set_size(len(data.train))
    meta = {"model": cfg.model.name, "data_shape": list(data.train.shape), "num_classes": data.train.num_classes,
            "data": data_record(data)}
    if not model.conditional:  # labels it will not read need not be gathered every step
        data = DataSplits(replace(data.train, labels=None), None if data.val is None else replace(data.val, labels=None))
    return fit(
        model,
        t,
        run_dir,
        dataset_epochs(data.train, t.batch_size, cfg.data.binarize),
        val_batches=None if data.val is None else dataset_epochs(data.val, t.eval_batch_size, cfg.data.binarize),
        config=to_dict(cfg),
        meta=meta,
        resume=resume,
    )


@contextlib.contextmanager
def held_by_main(folder: Path, owned: tuple[str, ...], prepare=None):
    """Rank 0 holds `folder`'s lock for the block (and runs `prepare`, such as starting over).
    In a data-parallel launch every process learns whether it could, so that a refusal
    stops them all rather than leaving the others waiting in their first collective."""
    with contextlib.ExitStack() as stack:
        error = None
        if distributed.is_main():
            try:
                stack.enter_context(hold_folder(folder, owned=owned))
                if prepare is not None:
                    prepare()
            except VaelabError as e:
                error = e
        (failed,) = distributed.any_of(error is not None)
        if error is not None:
            raise error
        if failed:
            raise RunError(f"{folder}: the first process could not take the run folder (its message says why)")
        yield


def _model_for(cfg: RunConfig, train_set: ImageDataset, model: GenerativeModel | None) -> GenerativeModel:
    """A fresh model of cfg.model for the training set, or `model` once its images are known to fit it."""
    if model is None:
        return build_model(cfg.model, train_set.shape, train_set.num_classes)
    if tuple(model.data_shape) != tuple(train_set.shape):
        raise RunError(f"the model was built for images {list(model.data_shape)} but the data holds "
                       f"{list(train_set.shape)} (C, H, W)")
    return model


def training_device(name: str) -> torch.device:
    """The device train.device names; in a data-parallel launch (torchrun) this joins the
    process group, and each process takes its own GPU (LOCAL_RANK)."""
    device = pick_device(name)
    distributed.start(device.type)
    if distributed.active() and device.type == "cuda":
        return torch.device("cuda", distributed.local_rank())
    return device


def _start_over(run_dir: Path, overwrite: bool) -> None:
    """A fresh start, marked as vaelab's (run_files.MARKER). In a folder that held a run only
    when `overwrite` says so, and only a run vaelab made (else RunError): what that run left
    beside its own files goes too (a code prior would otherwise be attached to the new
    model); the Checkpointer clears the rest. Nothing is deleted through a link (the lock
    has refused a folder that holds one)."""
    used = [name for name in run_files.RUN_FILES if (run_dir / name).exists()]
    if used and not overwrite:
        raise RunError(f"{run_dir} already holds a run: resume=True continues it, overwrite=True starts over")
    if used and not run_files.made_by_vaelab(run_dir):
        raise RunError(f"{run_dir} holds {', '.join(used)} but is not a run vaelab made (no {run_files.MARKER}, no "
                       f"vaelab weights): overwrite deletes only vaelab's runs; train into another folder")
    for name in LEFT_BESIDE if used else ():
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    run_files.write_marker(run_dir)


def check_resumable(run_dir: Path) -> None:
    """RunError when resuming would destroy trained weights: a folder with weights but no
    checkpoint.safetensors (shared without it) would be trained from scratch over them."""
    weights = [name for name in (run_files.LAST, run_files.BEST) if (run_dir / name).is_file()]
    legacy = (run_dir / run_files.LEGACY_STATE).exists()  # vaelab 0.1's: the Checkpointer says why it cannot resume
    if weights and not legacy and not (run_dir / run_files.CHECKPOINT).is_file():
        raise RunError(f"{run_dir} has no {run_files.CHECKPOINT} to resume from, only its weights "
                       f"({', '.join(weights)}), which a resume would replace by training from scratch; "
                       f"to keep them, train into another folder; to start over here, use overwrite")


def mean_terms(model: GenerativeModel, data: ImageDataset, cfg: RunConfig, seed: int = 0) -> dict[str, float]:
    """Loss terms of a model averaged over `data` (nats per example), in eval mode, with the
    run's batch size and binarization."""
    return average_terms(model, dataset_epochs(data, cfg.train.eval_batch_size, cfg.data.binarize), seed)
