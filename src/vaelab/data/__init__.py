"""Datasets held in memory as uint8 tensors, and the batches drawn from them."""

from vaelab.data.batches import batches, to_float
from vaelab.data.dataset import DataSplits, ImageDataset
from vaelab.data.load import DATASETS, load_dataset

__all__ = ["DATASETS", "DataSplits", "ImageDataset", "batches", "load_dataset", "to_float"]
