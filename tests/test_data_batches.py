import pytest
import torch

from vaelab.config import DataConfig
from vaelab.data import ImageDataset, batches, load_dataset, to_float
from vaelab.data.batches import binarize_static
from vaelab.data.idx import write_idx
from vaelab.errors import ConfigError


def grey_dataset(n=10, labels=True):
    images = torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return ImageDataset(images=images, labels=torch.arange(n) if labels else None, name="grey")


def test_batches_shapes_dtypes_and_values():
    d = grey_dataset(10)
    out = list(batches(d, 4))
    assert [len(x) for x, _ in out] == [4, 4, 2]
    for x, y in out:
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 4, 4)
        assert y.dtype == torch.int64 and len(y) == len(x)
    assert torch.equal(torch.cat([x for x, _ in out]), d.images.float() / 255)
    assert torch.cat([y for _, y in out]).tolist() == list(range(10))


def test_drop_last_and_no_labels():
    out = list(batches(grey_dataset(10, labels=False), 4, drop_last=True))
    assert [len(x) for x, _ in out] == [4, 4]
    assert all(y is None for _, y in out)


def test_shuffle_covers_every_index_once_per_epoch():
    d = grey_dataset(103)
    g = torch.Generator().manual_seed(7)
    epochs = [torch.cat([y for _, y in batches(d, 16, shuffle=True, generator=g)]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(103))
        assert order.tolist() != list(range(103))
    assert not torch.equal(epochs[0], epochs[1])  # a new order each epoch
    again = torch.cat([y for _, y in batches(d, 16, shuffle=True, generator=torch.Generator().manual_seed(7))])
    assert torch.equal(again, epochs[0])  # reproducible from the seed
    x, y = next(batches(d, 16, shuffle=True, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(x, d.images[y].float() / 255)  # images stay paired with their labels


def test_to_float_none_and_static_divide_by_255():
    images = torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8).reshape(1, 1, 1, 5)
    for mode in ("none", "static"):
        x = to_float(images, mode)
        assert x.dtype == torch.float32 and torch.allclose(x, images.float() / 255)


def test_binarize_static_threshold():
    images = torch.tensor([0, 1, 127, 128, 200, 255], dtype=torch.uint8)
    assert binarize_static(images).tolist() == [0, 0, 0, 255, 255, 255]
    assert binarize_static(images).dtype == torch.uint8


def test_dynamic_binarization():
    images = torch.full((64, 1, 28, 28), 64, dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    a, b = to_float(images, "dynamic", g), to_float(images, "dynamic", g)
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert abs(a.mean().item() - 64 / 255) < 0.01
    assert not torch.equal(a, b)  # a fresh sample on each call
    assert torch.equal(to_float(images, "dynamic", torch.Generator().manual_seed(0)), a)
    x, _ = next(batches(ImageDataset(images), 64, binarize="dynamic"))
    assert set(x.unique().tolist()) == {0.0, 1.0}


def test_static_binarization_at_load_gives_only_0_and_1(tmp_path):
    images = torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", torch.zeros(20, dtype=torch.uint8))
    cfg = DataConfig(name="mnist", root=str(tmp_path), split="test", download=False, val=0, binarize="static")
    data = load_dataset(cfg).train
    assert data.images.dtype == torch.uint8
    assert torch.equal(data.images[:, 0], (images > 127).to(torch.uint8) * 255)
    x = torch.cat([x for x, _ in batches(data, 8, binarize="static")])
    assert set(x.unique().tolist()) == {0.0, 1.0}
    grey = load_dataset(DataConfig(name="mnist", root=str(tmp_path), split="test", download=False, val=0))
    assert torch.equal(grey.train.images[:, 0], images)  # "none" keeps grey levels


def test_bad_values_raise_config_error():
    d = grey_dataset(4)
    with pytest.raises(ConfigError, match="binarize"):
        to_float(d.images, "otsu")
    with pytest.raises(ConfigError, match="binarize"):
        next(batches(d, 2, binarize="Static"))
    with pytest.raises(ConfigError, match="batch size"):
        next(batches(d, 0))
