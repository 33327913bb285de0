from pathlib import Path

import pytest
import torch

from vaelab.config import DataConfig
from vaelab.data import load_dataset, mnist
from vaelab.data.download import file_digests
from vaelab.data.idx import read_idx, write_idx
from vaelab.data.mnist import load_mnist
from vaelab.errors import DataError

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared/data/mnist"
needs_shared = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists(),
    reason=f"real MNIST test split not found at {SHARED_MNIST}",
)
# Digits 0..9 in the official 10,000-image MNIST test split.
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@needs_shared
@pytest.mark.parametrize("name", mnist.FILES["test"])
def test_pinned_digests_match_the_real_test_split(name):
    """The pinned SHA-256 and md5 are those of the official files (and of the folder's SHA256SUMS)."""
    got = file_digests(SHARED_MNIST / name, ("sha256", "md5"))
    assert got == {"sha256": mnist.SHA256["mnist"][name], "md5": mnist.MD5["mnist"][name]}
    sums = SHARED_MNIST / "SHA256SUMS"
    if sums.exists():
        listed = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip())
        assert listed[name] == mnist.SHA256["mnist"][name]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_every_file_has_a_pinned_sha256_and_https_mirrors(name):
    files = {f for split in mnist.FILES.values() for f in split}
    assert set(mnist.SHA256[name]) == files and set(mnist.MD5[name]) == files
    hexdigits = set("0123456789abcdef")
    assert all(len(d) == 64 and set(d) <= hexdigits for d in mnist.SHA256[name].values())
    assert all(len(d) == 32 and set(d) <= hexdigits for d in mnist.MD5[name].values())
    assert len(set(mnist.SHA256[name].values())) == 4  # no value pasted twice
    assert mnist.MIRRORS[name] and all(m.startswith("https://") for m in mnist.MIRRORS[name])


@needs_shared
def test_real_test_split_files():
    images = read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10000,)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(labels.long(), minlength=10).tolist() == TEST_LABEL_COUNTS
    assert images.max() == 255 and images.min() == 0


@needs_shared
def test_real_load_dataset_first_9000_train_last_1000_val():
    cfg = DataConfig(name="mnist", root=str(SHARED_MNIST), split="test", val=1000, limit=None, download=False)
    splits = load_dataset(cfg)
    assert len(splits.train) == 9000 and len(splits.val) == 1000
    assert splits.train.shape == (1, 28, 28) and splits.train.images.dtype == torch.uint8
    assert splits.train.labels.dtype == torch.int64
    all_images = read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")
    assert torch.equal(splits.val.images[:, 0], all_images[9000:])
    assert torch.equal(splits.train.images[:, 0], all_images[:9000])
    assert splits.train.class_names == [str(d) for d in range(10)]


@needs_shared
def test_real_folder_train_split_suggests_test_split():
    with pytest.raises(DataError, match="data.split=test"):
        load_mnist("mnist", SHARED_MNIST, "train", download=False)


def write_split(folder, split, n, gz=True):
    """Generated files with the official names of one split; returns (images, labels)."""
    prefix = "train" if split == "train" else "t10k"
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
    labels = (torch.arange(n) % 10).to(torch.uint8)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


def test_uncompressed_files_are_accepted(tmp_path):
    images, labels = write_split(tmp_path, "test", 12, gz=False)
    data = load_mnist("fashion-mnist", tmp_path, "test", download=False)
    assert data.images.shape == (12, 1, 28, 28)
    assert torch.equal(data.images[:, 0], images) and torch.equal(data.labels, labels.long())
    assert data.class_names[-1] == "Ankle boot" and data.name == "fashion-mnist"


def test_test_only_folder(tmp_path):
    write_split(tmp_path, "test", 12, gz=False)
    assert len(load_mnist("mnist", tmp_path, "test", download=False)) == 12
    with pytest.raises(DataError, match="data.split=test") as e:
        load_mnist("mnist", tmp_path, "train", download=False)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(e.value)


def test_missing_everything_names_the_path_without_hint(tmp_path):
    with pytest.raises(DataError) as e:
        load_mnist("mnist", tmp_path, "test", download=False)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in str(e.value)
    assert "data.split" not in str(e.value)


def test_gz_with_wrong_checksum_is_rejected(tmp_path):
    write_split(tmp_path, "test", 12, gz=True)  # generated, so not the published file
    with pytest.raises(DataError, match="has sha256 [0-9a-f]{64}, expected "
                                        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"):
        load_mnist("mnist", tmp_path, "test", download=False)
    assert (tmp_path / "t10k-images-idx3-ubyte.gz").exists()  # kept, for the user to look at


def test_label_count_mismatch_is_rejected(tmp_path):
    write_split(tmp_path, "test", 12, gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", torch.zeros(11, dtype=torch.uint8))
    with pytest.raises(DataError, match="expected 12 labels"):
        load_mnist("mnist", tmp_path, "test", download=False)


def test_wrong_image_size_is_rejected(tmp_path):
    write_split(tmp_path, "test", 12, gz=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", torch.zeros(12, 32, 32, dtype=torch.uint8))
    with pytest.raises(DataError, match="28x28"):
        load_mnist("mnist", tmp_path, "test", download=False)
