"""Will a run fit in memory? An estimate of what training holds at once, checked against what
the machine has before anything is allocated, so that a config whose values each pass their
range check but together cannot fit is refused in one line, not by `can't allocate memory`.

What the estimate counts (bytes; what a run surely holds, not all it may, so that a refusal is sure):

    data         the images as uint8 (N x C x H x W) with their labels (and the shapes'
                 factors), in host memory while they load: N and the image shape are known
                 before loading (shapes: data.num_samples and data.image_size; mnist,
                 fashion-mnist, cifar10, celeba: their official counts; a folder: its image
                 files, counted as greyscale). On a GPU with train.data_on_device they are
                 held there too.
    parameters   counted on PyTorch's meta device (no memory behind them), float32, times
                 PARAMETER_COPIES: the weights, their gradients, Adam's two moments and the
                 best epoch's copy.
    activations  the float32 outputs of the model's layers for one batch (train.batch_size,
                 or the whole training part when smaller), counted by a forward pass on the
                 meta device (as far as it runs there): what the backward pass keeps.

What the machine has: on the CPU (and Apple's MPS, which shares it) the memory the system
calls available (/proc/meminfo's MemAvailable, within a container's cgroup limit), on a
CUDA device its free memory (torch.cuda.mem_get_info). When that cannot be told, nothing
is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vaelab.config import FIXED_SIDES, NO_DATA, RunConfig
from vaelab.data import DataSplits
from vaelab.data.celeba import PARTITIONS
from vaelab.data.imagefiles import is_image_file
from vaelab.data.roots import dataset_root
from vaelab.errors import ConfigError, VaelabError
from vaelab.models import GenerativeModel, build_model

FLOAT = 4  # bytes of a float32
PARAMETER_COPIES = 5  # weights, gradients, Adam's exp_avg and exp_avg_sq, the best epoch's weights
LABEL = 8  # bytes of an int64 label
SHAPES_EXTRA = LABEL + 5 * 8  # shapes: a label and five int64 factors per image
PROBE_BATCH = 2  # examples in the meta forward pass that counts the activations

# (official split, count), channels, classes of the data sets vaelab reads by name
COUNTS = {
    ("mnist", "train"): 60_000, ("mnist", "test"): 10_000,
    ("fashion-mnist", "train"): 60_000, ("fashion-mnist", "test"): 10_000,
    ("cifar10", "train"): 50_000, ("cifar10", "test"): 10_000,
    ("celeba", "train"): 162_770, ("celeba", "test"): 19_962,
}
CELEBA_ALL = 202_599  # celeba's train split without the partition file: every image
CHANNELS = {"mnist": 1, "fashion-mnist": 1, "cifar10": 3, "celeba": 3, "shapes": 1}
CLASSES = {"mnist": 10, "fashion-mnist": 10, "cifar10": 10, "shapes": 3}

# cgroup v2, then v1: (limit, usage, statistics, the statistic of page cache the kernel can drop)
CGROUPS = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat", "inactive_file"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
     "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file"),
)


@dataclass(frozen=True)
class DataSize:
    """What a run's data set holds, known before it is loaded."""

    count: int  # examples loaded (before data.limit, which is taken after loading)
    shape: tuple[int, int, int]  # C, H, W
    classes: int | None
    extra: int  # bytes per example beside the image (labels, factors)

    @property
    def bytes(self) -> int:
        return self.count * (self.shape[0] * self.shape[1] * self.shape[2] + self.extra)


@dataclass(frozen=True)
class Need:
    """Bytes a run holds at once, by kind; `host` and `device` where they are held."""

    data: int  # the images loaded into host memory (0: handed in from Python, already there)
    data_on_device: int  # the images moved to a GPU (0 on the CPU)
    parameters: int  # weights and optimizer state
    activations: int
    batch: int  # the batch the activations are counted at
    largest: str  # the largest parameter tensor, by name and shape ('' when unknown)
    device: torch.device

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    @property
    def host(self) -> int:
        return self.data + (0 if self.on_gpu else self.parameters + self.activations)

    @property
    def gpu(self) -> int:
        return self.data_on_device + self.parameters + self.activations if self.on_gpu else 0


def check_memory(cfg: RunConfig, device: torch.device, data: DataSplits | None = None,
                 model: GenerativeModel | None = None) -> None:
    """ConfigError (one line, with the estimate and what is available) when training `cfg` on
    `device` cannot fit in memory; `data` and `model` as `vaelab.train` takes them (None: the
    data set cfg.data names, a fresh model of cfg.model). Allocates nothing."""
    need = estimate(cfg, device, data, model)
    host = host_available()
    if host is not None and need.host > host:
        raise ConfigError(_refusal(cfg, need, need.host, f"the machine has {_size(host)} of memory available"))
    if need.on_gpu:
        free, _ = torch.cuda.mem_get_info(device)
        if need.gpu > free:
            raise ConfigError(_refusal(cfg, need, need.gpu, f"{_gpu_name(device)} has {_size(free)} free"))


def estimate(cfg: RunConfig, device: torch.device, data: DataSplits | None = None,
             model: GenerativeModel | None = None) -> Need:
    """The memory training `cfg` on `device` needs, counted without allocating (see the module's docstring)."""
    if data is not None:  # handed in from Python: already in host memory
        size = DataSize(len(data.train) + (0 if data.val is None else len(data.val)), tuple(data.train.shape),
                        data.train.num_classes, LABEL)
        loaded = 0
    else:
        size = data_size(cfg)
        loaded = 0 if size is None else size.bytes
    if size is None:  # no data set to load by name: loading it will say so
        return Need(0, 0, 0, 0, 0, "", device)
    used = size.count if cfg.data.limit is None else min(size.count, cfg.data.limit)  # what training keeps
    on_device = used * (size.bytes // max(size.count, 1)) if device.type == "cuda" and cfg.train.data_on_device else 0
    batch = min(cfg.train.batch_size, used)
    parameters, largest, per_example = _model_size(cfg, size, model)
    copies = PARAMETER_COPIES - (model is not None)  # a model handed in holds its weights already
    return Need(loaded, on_device, parameters * FLOAT * copies,
                batch * per_example * FLOAT, batch, largest, device)


def data_size(cfg: RunConfig) -> DataSize | None:
    """What cfg.data's data set holds, from the config and (celeba, a folder) a look at its
    files; None for data.name none."""
    d = cfg.data
    side = d.side()
    if d.name == NO_DATA:
        return None
    if d.name == "shapes":
        return DataSize(d.num_samples, (1, side, side), CLASSES["shapes"], SHAPES_EXTRA)
    if d.name in CHANNELS:
        count = COUNTS[d.name, d.split]
        if d.name == "celeba" and d.split == "train" and not (dataset_root("celeba", d.root) / PARTITIONS).exists():
            count = CELEBA_ALL
        classes = CLASSES.get(d.name)
        return DataSize(count, (CHANNELS[d.name], side, side), classes, 0 if classes is None else LABEL)
    count, classes = _folder_count(Path(d.name.removeprefix("folder:").strip()).expanduser())
    return DataSize(count, (1, side, side), classes, 0 if classes is None else LABEL)


def _folder_count(folder: Path) -> tuple[int, int | None]:
    """(image files under `folder`, not following links; its class sub-folders, or None)."""
    count = 0
    for _, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        count += sum(is_image_file(Path(name)) for name in files)
    try:
        classes = sum(entry.is_dir() and not entry.name.startswith(".") for entry in os.scandir(folder))
    except OSError:  # not a folder: loading it will say so
        classes = 0
    return count, classes or None


def _model_size(cfg: RunConfig, size: DataSize, model: GenerativeModel | None) -> tuple[int, str, int]:
    """(parameters, the largest tensor's name and shape, float32 activations per example) of
    `model`, or of cfg.model built on the meta device; zeros when it cannot be built there
    (building it for real will say why)."""
    if model is not None:  # yours, already built: its parameters, and its input for activations
        return sum(p.numel() for p in model.parameters()), _largest(model), _numel(size.shape)
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            meta = build_model(cfg.model, size.shape, size.classes)
    except (VaelabError, RuntimeError, NotImplementedError, ValueError, TypeError):
        return 0, "", _numel(size.shape)
    activations = max(_activation_floats(meta, size.shape), _numel(size.shape))
    return sum(p.numel() for p in meta.parameters()), _largest(meta), activations


def _activation_floats(model: GenerativeModel, shape: tuple[int, int, int]) -> int:
    """Numbers per example output by the model's layers in a training forward pass on the
    meta device; a pass that stops at an operation the meta device lacks (autocast off
    around a quantizer, say) counts the layers that ran."""
    counted = [0]

    def count(module: nn.Module, args, out) -> None:
        if isinstance(out, torch.Tensor):
            counted[0] += out.numel()

    handles = [m.register_forward_hook(count) for m in model.modules() if next(m.children(), None) is None]
    x = torch.zeros(PROBE_BATCH, *shape, device="meta")
    y = torch.zeros(PROBE_BATCH, dtype=torch.int64, device="meta") if model.conditional else None
    try:
        with torch.random.fork_rng(devices=[]):
            model(x, y)
    except Exception:  # noqa: BLE001 - an operation the meta device lacks: count the layers that ran
        pass
    finally:
        for handle in handles:
            handle.remove()
    return counted[0] // PROBE_BATCH


def _largest(model: nn.Module) -> str:
    """The name and shape of the model's largest parameter tensor, for the advice."""
    named = max(model.named_parameters(), key=lambda item: item[1].numel(), default=None)
    return "" if named is None else f"{named[0]} {list(named[1].shape)}"


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def host_available() -> int | None:
    """Bytes of memory this process can still take: the system's available memory, within the
    limit of its cgroup (a container); None when neither can be told."""
    found = [n for n in (_mem_available(), _cgroup_available()) if n is not None]
    return min(found) if found else None


def _mem_available() -> int | None:
    """/proc/meminfo's MemAvailable (Linux), else the free pages os.sysconf counts, in bytes."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "MemAvailable":
                return int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name (macOS)
        return None


def _cgroup_available() -> int | None:
    """What the cgroup's memory limit leaves (page cache the kernel can drop counts as free); None without a limit."""
    for limit_file, usage_file, stat_file, inactive_key in CGROUPS:
        try:
            limit = Path(limit_file).read_text().strip()
            if limit == "max":
                return None
            usage = int(Path(usage_file).read_text())
            stats = dict(line.split() for line in Path(stat_file).read_text().splitlines() if len(line.split()) == 2)
            return max(0, int(limit) - usage + int(stats.get(inactive_key, 0)))
        except (OSError, ValueError):
            continue
    return None


def _gpu_name(device: torch.device) -> str:
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"the GPU cuda:{index}"


def _refusal(cfg: RunConfig, need: Need, total: int, available: str) -> str:
    """The one line that refuses the run: the estimate, its parts, what is available, and what to lower."""
    data = need.data_on_device if need.on_gpu else need.data
    parts = {"data": data, "parameters and optimizer state": need.parameters,
             f"activations at a batch of {need.batch}": need.activations}
    shown = ", ".join(f"{what} {_size(n)}" for what, n in parts.items())
    where = "on the GPU" if need.on_gpu else "in memory"
    return f"this run needs about {_size(total)} {where} ({shown}); {available}: {_advice(cfg, need, parts)}"


def _advice(cfg: RunConfig, need: Need, parts: dict[str, int]) -> str:
    """What to lower, for the largest part of the estimate."""
    largest = max(parts, key=parts.__getitem__)
    if largest == "data":
        d = cfg.data
        keys = ("data.num_samples or data.image_size" if d.name == "shapes"
                else "data.image_size" if d.name not in FIXED_SIDES and d.name != NO_DATA else "")
        lower = f"lower {keys}" if keys else "train on fewer images"
        return lower + (", or set train.data_on_device=false" if need.on_gpu else "")
    if largest.startswith("parameters"):
        return "make the model smaller" + (f" (its largest tensor: {need.largest})" if need.largest else "")
    return "lower train.batch_size"


def _size(n: int) -> str:
    """Bytes as people read them: 950 B, 12 MB, 1.2 TB (powers of 1000)."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    step = 0
    while n >= 1000 and step < len(units) - 1:
        n, step = n / 1000, step + 1
    return f"{n:.1f} {units[step]}" if step and n < 10 else f"{n:.0f} {units[step]}"
