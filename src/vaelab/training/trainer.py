"""The training loop: a plain PyTorch loop over in-memory tensors that may stop anywhere.

Each step does forward, backward, step and a device-side add of the loss terms, nothing
more; every `log_every` steps one read-back updates the progress bar and checks the terms
of those steps for NaN and infinity (so the check costs no host sync per step on a GPU).
Everything that happens once an epoch (validation, metrics line) is outside the hot path.

Stopping, and starting again where it stopped, is what the rest is for:
- checkpoints (checkpoint.py) before the first step, every `checkpoint_seconds` or
  `checkpoint_steps`, after the last epoch; each records the exact place in the
  epoch's data order, so a resumed run (even one killed by SIGKILL) ends bit for bit where
  an uninterrupted one does (on the CPU; GPU kernels need not be deterministic);
- Ctrl-C takes effect at the next step boundary: the exact step is saved, then
  KeyboardInterrupt is raised; a second Ctrl-C stops at once (the last checkpoint stands);
- a non-finite loss term, an exploded loss (beyond EXPLODED times the first step's), or a
  non-finite weight or optimizer state stops training with TrainingDiverged, naming the
  step, epoch and term, and keeps the last sound checkpoint as last and best: a checkpoint
  holds nothing non-finite (checked before it is written), and when the first loss its
  weights gave is the bad one, the checkpoint before it is kept instead (so a lower
  learning rate on resume starts from weights taken before the divergence);
  `train.nonfinite=skip` skips such batches' optimizer steps instead (one host sync a step)
  and counts them; what a forward pass updates by itself (an EMA codebook, a KL warm-up's
  clock) is not rolled back.

`fit` drives any `Trainable` (an image model, the PixelCNN prior of a VQ-VAE alike);
what to train on and where the run folder's other files come from is the run layer's
business (vaelab.runs).
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch
from tqdm.auto import tqdm

from vaelab.config import TrainConfig
from vaelab.crashpoints import crash_point
from vaelab.errors import CapabilityError, ConfigError, TrainingDiverged
from vaelab.models.base import Proximal, Trainable
from vaelab.nn import distributed
from vaelab.nn.device import module_device
from vaelab import run_files
from vaelab.training import checkpoint as ckpt
from vaelab.training.epochs import EpochBatches
from vaelab.training.optim import build_optimizer, set_hyperparameters

log = logging.getLogger("vaelab")

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}  # train.precision -> autocast dtype
# A loss beyond EXPLODED * (1 + |the first step's loss|), in magnitude, has exploded: training
# diverged though the number is still finite (train.lr=1e6 takes a VAE's loss from 182 to 5e28
# in one step). No sound run changes its loss by six orders of magnitude.
EXPLODED = 1e6


@dataclass
class TrainResult:
    model: torch.nn.Module
    run_dir: Path
    history: list[dict]  # one metrics record per epoch, as in metrics.jsonl


@torch.no_grad()
def average_terms(model: Trainable, epoch_batches: EpochBatches, seed: int = 0) -> dict[str, float]:
    """Loss terms averaged over every example of one pass (nats per example), in eval mode,
    plus the model's pass statistics. The data's randomness and the model's sampling use
    a fixed seed, so the numbers of two epochs are comparable."""
    was_training = model.training
    model.eval()
    device = module_device(model)
    model.reset_epoch_stats()
    sums: dict[str, torch.Tensor] = {}
    seen = 0
    # manual_seed seeds every device: fork the one in use too, or the training's CUDA
    # noise would restart from the same state after every validation
    with torch.random.fork_rng(devices=[device] if device.type != "cpu" else [], device_type=device.type):
        torch.manual_seed(seed)
        for x, y in epoch_batches(torch.Generator(device=epoch_batches.device).manual_seed(seed), False):
            x, y = x.to(device), None if y is None else y.to(device)
            out = model(x, y)
            for k, v in {"loss": out.loss.detach(), **out.terms}.items():
                sums[k] = sums.get(k, 0) + v * len(x)
            seen += len(x)
            crash_point("validation")
    model.train(was_training)
    return {**{k: float(v) / seen for k, v in sums.items()}, **model.epoch_stats()}


def fit(
    model: Trainable,
    t: TrainConfig,
    run_dir: Path,
    train_batches: EpochBatches,
    val_batches: EpochBatches | None,
    config: dict,
    meta: dict,
    resume: bool = False,
) -> TrainResult:
    """Train `model` (forward(x, y) -> LossOutput) for `t.epochs` epochs in all, keeping
    everything in `run_dir` (whose lock the caller holds: folder_lock.hold_folder).

    resume=True continues from the folder's checkpoint with the settings in `t` (a new
    learning rate takes effect; more epochs extend a finished run). `config` is written as
    config.yaml; `meta` goes into the weights' metadata. Raises KeyboardInterrupt after
    saving on Ctrl-C, and TrainingDiverged on a non-finite loss or weight.
    """
    if not isinstance(model, Trainable):
        raise CapabilityError(f"fit trains a vaelab Trainable (forward -> LossOutput), not a {type(model).__name__}")
    if distributed.world_size() > t.batch_size:
        raise ConfigError(f"train.batch_size={t.batch_size} cannot be shared by {distributed.world_size()} processes")
    if t.channels_last:
        model.to(memory_format=torch.channels_last)  # conv weights NHWC; saved in the usual layout
    optimizer = build_optimizer(model, t)
    scaler = torch.amp.GradScaler(module_device(model).type) if t.precision == "fp16" else None
    data_device = module_device(model) if t.data_on_device else torch.device("cpu")
    for batches in (train_batches, val_batches):
        if batches is not None:
            batches.to(data_device)  # once: batches are then cut and converted on the device
    generator = torch.Generator().manual_seed(t.seed)  # the data order (and, on the CPU, the binarization)
    noise = None if data_device.type == "cpu" else torch.Generator(device=data_device)  # reseeded each epoch
    checkpoint = ckpt.Checkpointer(run_dir, model, optimizer, generator, meta, t.checkpoint_seconds, t.checkpoint_steps,
                                   noise=noise, scaler=scaler)
    rank = distributed.rank()
    if rank > 0:  # the model's own noise (reparameterisation, restarts) differs by process
        torch.manual_seed(t.seed + 7919 * rank)
    checkpoint.start(resume, config, t.epochs)  # a resume restores each process's own noise
    if rank > 0:
        if checkpoint.progress.step > 0 and not checkpoint.own_rng_restored:  # saved by fewer processes
            torch.manual_seed(t.seed + 7919 * rank + checkpoint.progress.step)
            log.warning("process %d resumes with fresh noise: the checkpoint holds no random state for it", rank)
        if checkpoint.progress.sums is not None:  # the epoch's sums so far are all rank 0's to carry
            checkpoint.progress.sums.zero_()
            checkpoint.progress.seen = 0
    loop = _Loop(model, optimizer, (generator, noise), scaler, checkpoint, t, train_batches, val_batches)
    try:
        with _CtrlC() as ctrl_c:
            loop.run(ctrl_c)
    except (KeyboardInterrupt, TrainingDiverged):
        checkpoint.export()  # the last checkpoint's weights, finite, as last and best
        raise
    finally:
        loop.close()
        checkpoint.drop_previous()
    checkpoint.export()
    distributed.barrier()  # rank 0 has written everything
    return TrainResult(model, checkpoint.run_dir, run_files.read_jsonl(checkpoint.run_dir / run_files.METRICS))


class _Loop:
    """The epochs and steps of one `fit`, and the checks between them."""

    def __init__(self, model, optimizer, generators, scaler, checkpoint: ckpt.Checkpointer, t: TrainConfig,
                 train_batches: EpochBatches, val_batches: EpochBatches | None):
        self.model, self.optimizer, self.scaler, self.checkpoint, self.t = model, optimizer, scaler, checkpoint, t
        self.generator, self.noise = generators  # CPU: data order; on the data's device (or None): binarization
        self.forward = _wrapped(model, t)  # same parameters; state is read from `model`
        self.dtype = PRECISIONS[t.precision]  # autocast's, or None for float32
        self.train_batches, self.val_batches = train_batches, val_batches
        self.progress = checkpoint.progress
        self.device = module_device(model)
        self.total_steps = t.epochs * train_batches.num_batches
        self.unchecked: list[torch.Tensor] = []  # each step's [loss, *terms] not yet checked for NaN/inf
        self.first_loss: float | None = None  # the first checked step's loss: the scale it explodes from
        self.writer = _tensorboard(checkpoint.run_dir) if t.tensorboard and distributed.is_main() else None
        self.epoch_started = time.perf_counter()
        set_hyperparameters(optimizer, t, self.progress.step, self.total_steps)  # the config's, after a resume too

    def run(self, ctrl_c: "_CtrlC") -> None:
        self.model.train()
        while self.progress.epoch < self.t.epochs:
            self.train_epoch(ctrl_c)
            record = self.end_epoch()
            due, pressed = distributed.any_of(self.checkpoint.due(), ctrl_c.pressed)
            if self.progress.epoch == self.t.epochs or due or pressed:
                self.save()
            crash_point("epoch:end")
            if pressed and self.progress.epoch < self.t.epochs:  # saved above; when done, just finish
                raise KeyboardInterrupt
            log.info("epoch %d/%d  %s", record["epoch"], self.t.epochs, _summary(record))

    def train_epoch(self, ctrl_c: "_CtrlC") -> None:
        p, data = self.progress, self.train_batches
        if p.batch == 0:
            p.start_epoch(self.generator)
            self.model.reset_epoch_stats()
            order = data.order(self.generator, True)
            if self.noise is not None:  # the device's own draws, seeded from the CPU generator
                self.noise.manual_seed(int(torch.randint(2**62, (), generator=self.generator)))
        else:  # resumed mid-epoch: the same order, redrawn from the generator's state at the epoch's start
            start = torch.Generator()
            start.set_state(p.epoch_start)
            order = data.order(start, True)
        self.epoch_started = time.perf_counter()
        bar = tqdm(total=data.num_batches, initial=p.batch, desc=f"epoch {p.epoch + 1}/{self.t.epochs}",
                   disable=None if self.t.progress else True, leave=False, dynamic_ncols=True)
        for i in range(p.batch, data.num_batches):
            x, y = data.batch(order, i, self.noise or self.generator)  # the whole batch: every process draws alike
            shard = _shard(x, y)
            if shard is not None:
                self.step(*shard)
            p.batch, p.step = i + 1, p.step + 1
            if self.t.lr_schedule != "constant":
                set_hyperparameters(self.optimizer, self.t, p.step, self.total_steps)
            crash_point("step")
            self.between_steps(ctrl_c, bar)
            bar.update()
        bar.close()

    def between_steps(self, ctrl_c: "_CtrlC", bar) -> None:
        """Ctrl-C, the NaN/inf check (every log_every steps) and a due checkpoint. Processes of
        a data-parallel run take these decisions together, every log_every steps only."""
        p = self.progress
        at_log = p.step % self.t.log_every == 0
        if distributed.active() and not at_log:
            return
        due, pressed = distributed.any_of(self.checkpoint.due(), ctrl_c.pressed)
        if pressed:
            self.save()
            raise KeyboardInterrupt
        if at_log:
            self.check_finite()
            if not bar.disable and p.sums is not None:
                bar.set_postfix({k: f"{v / p.seen:.2f}" for k, v in zip(p.terms, p.sums.tolist())}, refresh=False)
        if due:
            self.save()


    def step(self, x: torch.Tensor, y: torch.Tensor | None, weight: float = 1.0) -> None:
        """One update on (this process's share of) a batch; `weight` makes the processes'
        averaged gradient that of the whole batch's mean loss when shares differ in size."""
        x, y = x.to(self.device, non_blocking=True), None if y is None else y.to(self.device, non_blocking=True)
        if self.t.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            out = self.forward(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss = out.loss if weight == 1.0 else out.loss * weight
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()
        values = torch.stack([out.loss.detach().float(), *(v.float() for v in out.terms.values())])  # [1 + terms]
        p = self.progress
        if self.t.nonfinite == "skip" and distributed.any_of(not self.finite_update(values))[0]:  # every process skips alike
            p.skipped += 1
            return
        if self.t.grad_clip:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            for group in self.optimizer.param_groups:  # a critic's gradient (HasCritic) is clipped apart
                torch.nn.utils.clip_grad_norm_(group["params"], self.t.grad_clip)
        stepped = True
        if self.scaler is None:
            self.optimizer.step()
        else:  # skips the update when the scaled gradients overflowed, and adapts the scale
            scale = self.scaler.get_scale() if isinstance(self.model, Proximal) else None
            self.scaler.step(self.optimizer)
            self.scaler.update()
            stepped = scale is None or self.scaler.get_scale() >= scale  # the scale falls when the step was skipped
        if isinstance(self.model, Proximal) and stepped:  # e.g. the oi-VAE's group lasso, at the step's learning rate
            self.model.proximal_step(self.optimizer.param_groups[0]["lr"])
        if p.sums is None:
            p.terms, p.sums = ["loss", *out.terms], values * len(x)
        else:
            p.sums.add_(values, alpha=len(x))
        p.seen += len(x)
        if self.t.nonfinite == "stop":
            self.unchecked.append(values)

    def finite_update(self, values: torch.Tensor) -> bool:
        """Whether the loss terms and the gradients are all finite (reads back: one sync).
        With fp16's gradient scaler, overflowing gradients are the scaler's to skip."""
        if self.scaler is not None:
            return bool(torch.isfinite(values).all())
        grads = [q.grad for q in self.model.parameters() if q.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=values.device)
        return bool(torch.isfinite(values).all() & torch.isfinite(norm))

    def check_finite(self) -> None:
        """Stop if a loss term of the steps since the last check is NaN or infinite, or the
        loss exploded (beyond explosion_limit in magnitude).

        One read-back: a NaN or inf stays in the epoch's running sums, and the losses since
        the last check are compared with the limit in the same read; only when something is
        bad are those steps searched for the first bad one."""
        p = self.progress
        block = torch.stack(self.unchecked) if self.unchecked else None  # [steps, 1 + terms]
        if block is not None and self.first_loss is None:
            self.first_loss = float(block[0, 0])  # one read, at the first check
        limit = self.explosion_limit()
        local_bad = block is not None and bool(~torch.isfinite(p.sums).all() | (block[:, 0].abs() > limit).any())
        (any_bad,) = distributed.any_of(local_bad)
        if not any_bad:
            self.unchecked.clear()
            return
        first = p.step - len(self.unchecked) + 1  # the first step not checked before
        if not local_bad:
            self.diverged(f"a loss term became NaN or infinite, or the loss exploded, in another process by step "
                          f"{p.step}", first - 1)
        self.diverged(*self.first_bad_step(block, first, limit))

    def explosion_limit(self) -> float:
        """The magnitude beyond which a loss has exploded (inf until a finite first loss is known)."""
        if self.first_loss is None or not math.isfinite(self.first_loss):
            return math.inf
        return EXPLODED * (1 + abs(self.first_loss))

    def first_bad_step(self, block: torch.Tensor, first: int, limit: float) -> tuple[str, int]:
        """(what went wrong at the first bad step of `block`, the losses of steps first, first + 1,
        ...; the step whose weights gave it, the one before)."""
        p = self.progress
        rows = ((~torch.isfinite(block)).any(1) | (block[:, 0].abs() > limit)).nonzero()
        if len(rows) == 0:  # every step finite, their sum not: terms beyond the float range
            col = int((~torch.isfinite(p.sums)).nonzero()[0])
            return f"the loss term {p.terms[col]!r} grew beyond the float range by step {p.step}", first - 1
        row = int(rows[0])
        step = first + row
        cols = (~torch.isfinite(block[row])).nonzero()
        if len(cols):
            col = int(cols[0])
            return f"the loss term {p.terms[col]!r} is {float(block[row, col])} at step {step}", step - 1
        return (f"the loss term 'loss' exploded to {float(block[row, 0]):.3g} at step {step} (from "
                f"{self.first_loss:.3g} at the first step)"), step - 1

    def diverged(self, what: str, since: int) -> NoReturn:
        """Stop: the weights after step `since` are the first that went wrong. A checkpoint
        holding them (or later ones) gives way to the one before it (Checkpointer.fall_back)."""
        p = self.progress
        kept = self.checkpoint.fall_back() if since <= self.checkpoint.saved_step else self.checkpoint.saved_step
        epoch = p.epoch + (p.batch > 0)  # within an epoch, or the one just finished
        raise TrainingDiverged(
            f"training diverged in epoch {epoch}: {what}; stopped, keeping the last sound "
            f"checkpoint (step {kept}) as last and best. Try a lower train.lr, "
            f"train.grad_clip, or train.nonfinite=skip"
        )

    def save(self) -> None:
        """A checkpoint, after checking the losses since the last check, and that the weights
        and the optimizer's state hold nothing non-finite."""
        self.check_finite()
        p = self.progress
        bad = _nonfinite_state(self.model, self.optimizer)
        if bad is not None:
            self.diverged(f"{bad} became NaN or infinite by step {p.step}", p.step)
        if not distributed.active() or p.sums is None:
            self.checkpoint.save()
            return
        local = p.sums, p.seen  # data-parallel: the checkpoint holds every process's sums (restored on rank 0)
        sums, p.seen = _summed(p)
        p.sums = p.sums.new_tensor(sums)
        try:
            self.checkpoint.save()
        finally:
            p.sums, p.seen = local

    def end_epoch(self) -> dict:
        """The epoch's metrics record (training terms, held-out terms), counted by the checkpointer."""
        self.check_finite()
        p = self.progress
        record = {"epoch": p.epoch + 1, "step": p.step, "lr": self.optimizer.param_groups[0]["lr"]}
        sums, seen = _summed(p)
        record.update({f"train/{k}": v / max(seen, 1) for k, v in zip(p.terms or ["loss"], sums)})
        record.update({f"train/{k}": v for k, v in self.model.epoch_stats().items()})
        if self.t.nonfinite == "skip":
            record["train/skipped"] = p.skipped
        record["train/seconds"] = time.perf_counter() - self.epoch_started
        if self.val_batches is not None:
            held_out = average_terms(self.model, self.val_batches)
            bad = [k for k, v in held_out.items() if not math.isfinite(v)]
            if bad:
                self.diverged(f"the held-out {bad[0]!r} is {held_out[bad[0]]} after the epoch", p.step)
            if abs(held_out["loss"]) > self.explosion_limit():
                self.diverged(f"the held-out 'loss' exploded to {held_out['loss']:.3g} after the epoch", p.step)
            record.update({f"val/{k}": v for k, v in held_out.items()})
        p.finish_epoch()
        self.checkpoint.end_epoch(record, self.model.objective_is_final())
        if self.writer:
            for k, v in record.items():
                self.writer.add_scalar(k, v, p.step)
        return record

    def close(self) -> None:
        if self.writer:
            self.writer.close()


class _CtrlC:
    """Ctrl-C (SIGINT) while training: the first asks the loop to save at the next step
    boundary and stop; a second one stops at once. Only in the main thread (where Python
    delivers signals); elsewhere Ctrl-C keeps its usual effect."""

    def __init__(self):
        self.pressed, self.previous, self.installed = False, None, False

    def __enter__(self) -> "_CtrlC":
        if threading.current_thread() is threading.main_thread():
            self.previous, self.installed = signal.getsignal(signal.SIGINT), True
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        log.warning("Ctrl-C: saving after this step (press again to stop at once)")

    def __exit__(self, *exc) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, self.previous if self.previous is not None else signal.SIG_DFL)


def _wrapped(model: torch.nn.Module, t: TrainConfig):
    """What the training step calls: the model, in DistributedDataParallel when several
    processes train (gradients averaged in backward), compiled when t.compile."""
    if distributed.active():
        device = module_device(model)
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    return torch.compile(model, dynamic=False) if t.compile else model  # one graph per batch shape (the last batch: one more)


def _shard(x: torch.Tensor, y: torch.Tensor | None):
    """(x, y, weight): this process's rows of a batch (every world_size-th, from its rank)
    and its weight (share size * processes / batch size); None for an empty share."""
    if not distributed.active():
        return x, y, 1.0
    rank, world = distributed.rank(), distributed.world_size()
    if len(x) < world:  # a last batch too small to share: skipped by every process alike
        return None
    xs, ys = x[rank::world], None if y is None else y[rank::world]
    return xs, ys, len(xs) * world / len(x)


def _summed(p: ckpt.Progress) -> tuple[list[float], int]:
    """The epoch's summed loss terms and examples, over every process ([nan]: none trained)."""
    if p.sums is None:
        return [math.nan], p.seen
    if not distributed.active():
        return p.sums.tolist(), p.seen
    packed = distributed.all_sum(torch.cat([p.sums.detach(), p.sums.new_tensor([p.seen])]))
    return packed[:-1].tolist(), int(packed[-1])


def _nonfinite_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> str | None:
    """What first holds NaN or inf among the model's floating weights and buffers and the
    optimizer's state (e.g. Adam's exp_avg_sq), named; None when all is finite. One read-back."""
    names = {id(q): n for n, q in model.named_parameters()}
    state = [(f"the weight {n!r}", v) for n, v in model.state_dict().items()]
    state += [(f"the optimizer's {key} for {names.get(id(q), 'a parameter')!r}", v)
              for q, values in optimizer.state.items() for key, v in values.items() if isinstance(v, torch.Tensor)]
    state = [(what, v) for what, v in state if v.is_floating_point() and v.numel()]
    if not state:
        return None
    device = state[0][1].device
    if bool(torch.stack([torch.isfinite(v).all().to(device) for _, v in state]).all()):
        return None
    return next(what for what, v in state if not bool(torch.isfinite(v).all()))


def _summary(record: dict) -> str:
    keys = [k for k in record if k.startswith(("train/", "val/")) and not k.endswith("seconds")]
    return "  ".join(f"{k} {record[k]:.3f}" for k in keys) + f"  ({record['train/seconds']:.1f}s)"


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("train.tensorboard=true but the tensorboard package is not installed; skipping it")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
