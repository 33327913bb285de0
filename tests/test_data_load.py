"""load_dataset: dispatch, limit, held-out splits and config validation (on small shapes data)."""

import pytest
import torch

from vaelab.config import DataConfig
from vaelab.data import DataSplits, ImageDataset, load_dataset
from vaelab.data.shapes import make_shapes
from vaelab.errors import ConfigError, DataError


def shapes_cfg(**kw):
    return DataConfig(**{"name": "shapes", "num_samples": 100, "image_size": 16, "seed": 5, **kw})


@pytest.fixture(scope="module")
def full():
    return make_shapes(100, 16, seed=5)


def test_val_fraction_holds_out_the_last_examples(full):
    s = load_dataset(shapes_cfg(val=0.1))
    assert isinstance(s, DataSplits) and len(s.train) == 90 and len(s.val) == 10
    assert torch.equal(s.val.images, full.images[90:]) and torch.equal(s.train.factors, full.factors[:90])
    assert s.val.factor_names == full.factor_names and s.val.class_names == ["square", "ellipse", "heart"]


def test_val_count_and_zero(full):
    s = load_dataset(shapes_cfg(val=25))
    assert len(s.train) == 75 and torch.equal(s.val.labels, full.labels[75:])
    s = load_dataset(shapes_cfg(val=0))
    assert s.val is None and torch.equal(s.train.images, full.images)


def test_limit_is_applied_before_holding_out(full):
    s = load_dataset(shapes_cfg(limit=40, val=10))
    assert len(s.train) == 30 and torch.equal(s.val.images, full.images[30:40])


@pytest.mark.parametrize("val", [0.2, 20])
def test_split_seed_draws_a_random_subset(full, val):
    s = load_dataset(shapes_cfg(val=val, split_seed=1))
    assert len(s.train) == 80 and len(s.val) == 20
    # Recover positions through the factors (each row of 5 indices is almost surely unique here).
    keys = {tuple(f): i for i, f in enumerate(full.factors.tolist())}
    val_pos = [keys[tuple(f)] for f in s.val.factors.tolist()]
    train_pos = [keys[tuple(f)] for f in s.train.factors.tolist()]
    assert sorted(val_pos + train_pos) == list(range(100))
    assert val_pos == sorted(val_pos) and val_pos != list(range(80, 100))
    same = load_dataset(shapes_cfg(val=val, split_seed=1))
    other = load_dataset(shapes_cfg(val=val, split_seed=2))
    assert torch.equal(same.val.factors, s.val.factors)
    assert not torch.equal(other.val.factors, s.val.factors)


def test_shapes_config_is_used():
    s = load_dataset(shapes_cfg(image_size=24, num_samples=30, val=0, binarize="static"))
    assert s.train.shape == (1, 24, 24) and len(s.train) == 30


@pytest.mark.parametrize("kw, words", [
    ({"name": "cifar100"}, "data.name must be one of shapes, mnist, fashion-mnist, cifar10, celeba, none or folder:"),
    ({"name": "Folder:/x"}, "or folder:..., got 'Folder:/x'"),
    ({"split": "valid"}, "data.split"),
    ({"binarize": "yes"}, "data.binarize"),
    ({"limit": 0}, "data.limit"),
    ({"val": -0.1}, "data.val"),
    ({"val": 2.5}, "a whole count of examples"),
    ({"val": 100}, "leaving none"),
    ({"val": 150}, "leaving none"),
    ({"limit": 10, "val": 10}, "data.val must hold out fewer than the data.limit of 10"),
    ({"image_size": 8}, "data.image_size must be >= 16 for shapes"),
])
def test_bad_config_raises_config_error(kw, words):  # refused as the config is made, or else as it loads
    with pytest.raises(ConfigError, match=words):
        load_dataset(shapes_cfg(**kw))


def test_image_dataset_basics(full):
    assert len(full) == 100 and full.shape == (1, 16, 16) and full.num_classes == 3
    sub = full.subset(torch.tensor([3, 1]))
    assert torch.equal(sub.images, full.images[[3, 1]]) and torch.equal(sub.factors, full.factors[[3, 1]])
    assert sub.name == "shapes" and sub.factor_sizes == full.factor_sizes
    assert len(full.subset(slice(10, 20))) == 10
    plain = ImageDataset(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), labels=torch.tensor([0, 4, 1, 1]))
    assert plain.num_classes == 5 and plain.shape == (3, 8, 8)
    assert ImageDataset(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).num_classes is None


def test_image_dataset_rejects_malformed_tensors():
    with pytest.raises(DataError, match="uint8"):
        ImageDataset(torch.zeros(4, 8, 8, dtype=torch.uint8))
    with pytest.raises(DataError, match="uint8"):
        ImageDataset(torch.zeros(4, 1, 8, 8))
    with pytest.raises(DataError, match="3 labels for 4 images"):
        ImageDataset(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), labels=torch.zeros(3, dtype=torch.int64))
