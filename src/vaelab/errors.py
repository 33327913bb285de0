"""Typed errors. Nothing below the CLI prints or exits: it raises one of these,
and the CLI turns it into one line on stderr and exit status 2."""


class VaelabError(Exception):
    """Base class: an error the user can fix (bad input, missing file, ...)."""


class ConfigError(VaelabError):
    """A config key is unknown, a value has the wrong type or is out of range."""


class DataError(VaelabError):
    """A dataset is missing, corrupt, fails its checksum or cannot be downloaded."""


class RunError(VaelabError):
    """A run folder is missing, incomplete, or holds a checkpoint of another model."""


class CapabilityError(VaelabError):
    """The model cannot do what was asked (e.g. sample from a plain autoencoder)."""


class TrainingDiverged(VaelabError):
    """A loss term, a weight or the optimizer state became NaN or infinite, or the loss exploded;
    the run stopped at its last sound checkpoint."""
