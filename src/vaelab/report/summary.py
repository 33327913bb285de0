"""What a report says about one run folder: its config, model, epochs and metrics.

Reading never raises for a run that is incomplete or unreadable: what is missing
becomes a note, and the rest of the report is still written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vaelab.config import RunConfig
from vaelab.errors import VaelabError
from vaelab.models import GenerativeModel, parameter_counts
from vaelab.runs import load, run_config
from vaelab import run_files
from vaelab.training import checkpoint as ckpt


@dataclass
class RunSummary:
    """One run folder, read.

    records: metrics.jsonl, one dict per epoch; last / best: the records of the last
    epoch and of the epoch whose weights are the best ones kept (None when unknown).
    cfg and model are None when they could not be read; notes say why.
    """

    path: Path
    config_text: str = ""
    cfg: RunConfig | None = None
    model: GenerativeModel | None = None
    records: list[dict] = field(default_factory=list)
    last: dict | None = None
    best: dict | None = None
    best_source: str = ""  # how the best epoch was found, said under the metrics table
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def params(self) -> int | None:
        """The model's own parameters (a VQ-VAE's code prior, trained apart, left out)."""
        return None if self.model is None else parameter_counts(self.model)[0]


def best_record(run: Path, records: list[dict]) -> tuple[dict | None, str]:
    """(the record of the best epoch, how it was found).

    The best epoch the checkpoint records is the trainer's own choice (it skips
    epochs of a KL warm-up), so it comes first; without it, the lowest val/loss.
    """
    by_epoch = {r.get("epoch"): r for r in records}
    try:
        epoch = ckpt.best_epoch(run)
    except VaelabError:
        epoch = None
    if epoch in by_epoch:
        return by_epoch[epoch], f"epoch {epoch}: the best weights the trainer kept"
    scored = [r for r in records if "val/loss" in r]
    if not scored:
        return None, ""
    best = min(scored, key=lambda r: r["val/loss"])
    return best, f"epoch {best['epoch']}: the lowest val/loss"


def summarize(run: str | Path) -> RunSummary:
    """Read config.yaml, metrics.jsonl and the best weights of `run` (on the CPU)."""
    s = RunSummary(Path(run))
    config_file = s.path / run_files.CONFIG
    if config_file.is_file():
        s.config_text = config_file.read_text(errors="replace")  # shown as it is, even if not text
    try:
        s.cfg = run_config(s.path)
        s.model = load(s.path, "best")
    except VaelabError as e:
        s.notes.append(f"model not loaded: {e}")
    try:
        s.records = run_files.read_jsonl(s.path / run_files.METRICS)
    except VaelabError as e:  # not a metrics file
        s.notes.append(f"{run_files.METRICS} is not readable: {e}")
    if s.records:
        s.last = s.records[-1]
        s.best, s.best_source = best_record(s.path, s.records)
    else:
        s.notes.append("no metrics: no epoch finished yet")
    return s
