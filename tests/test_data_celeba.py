"""CelebA: generated 178x218 JPEGs in img_align_celeba/, crop, resize, cache and splits."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from vaelab.config import DataConfig
from vaelab.data import celeba, load_dataset
from vaelab.data.celeba import load_celeba
from vaelab.errors import ConfigError, DataError

W, H = 178, 218


def face(level: int) -> Image.Image:
    """A 178x218 picture: grey background `level` (tells images apart), a red 40x40 square
    in the centre, and green/blue bands outside the central 140x140 crop (x 19..158, y 39..178).
    Band edges sit on 16-pixel JPEG block edges, so their colour does not bleed into the crop."""
    a = np.full((H, W, 3), level, dtype=np.uint8)
    a[H // 2 - 20:H // 2 + 20, W // 2 - 20:W // 2 + 20] = (255, 0, 0)
    a[:32], a[192:] = (0, 255, 0), (0, 255, 0)  # rows above and below the crop
    a[:, :16], a[:, 160:] = (0, 0, 255), (0, 0, 255)  # columns left and right of it
    return Image.fromarray(a)


def write_faces(root, levels, start=1):
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    for i, level in enumerate(levels, start):
        face(level).save(folder / f"{i:06d}.jpg", quality=95)
    return folder


LEVELS = [40, 70, 100, 130, 160, 190]


def levels_of(images):
    """Background grey level of each image, read next to a corner of the crop."""
    return images[:, 1, 2, 2].tolist()


def close(got, expected, tol=6):
    return len(got) == len(expected) and all(abs(g - e) <= tol for g, e in zip(got, expected))


def test_crop_resize_and_order(tmp_path):
    write_faces(tmp_path, LEVELS)
    data = load_celeba(tmp_path, "train", image_size=32)
    assert data.images.dtype == torch.uint8 and data.images.shape == (6, 3, 32, 32)
    assert data.labels is None and data.name == "celeba"
    x = data.images.int()
    # The red square is in the centre: 40/140 of the side, about 9 pixels of 32.
    assert (x[:, 0, 13:19, 13:19] > 220).all() and (x[:, 1:, 13:19, 13:19] < 40).all()
    assert (x[:, 0, :8, :8] < 200).all() and (x[:, 0, -8:, -8:] < 200).all()
    # Only the 140x140 centre: none of the bands outside it shows.
    assert int((x[:, 1] - x[:, 0]).max()) < 30 and int((x[:, 2] - x[:, 0]).max()) < 30
    assert close(levels_of(data.images), LEVELS)  # sorted file order


def test_cache_is_written_reused_and_invalidated(tmp_path):
    folder = write_faces(tmp_path, LEVELS[:3])
    first = load_celeba(tmp_path, "train", image_size=32)
    cache = tmp_path / "celeba_all_32px.safetensors"
    assert cache.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["celeba_all_32px.safetensors", "img_align_celeba"]
    stamp = cache.stat().st_mtime_ns

    # Same names, other pixels: the cache is used, so the old pixels come back.
    for p in folder.iterdir():
        face(250).save(p, quality=95)
    again = load_celeba(tmp_path, "train", image_size=32)
    assert torch.equal(again.images, first.images) and cache.stat().st_mtime_ns == stamp

    # Other names (same count) or one more file invalidate it; another size is another cache.
    (folder / "000001.jpg").rename(folder / "000009.jpg")
    assert close(levels_of(load_celeba(tmp_path, "train", image_size=32).images), [250, 250, 250])
    assert load_celeba(tmp_path, "train", image_size=16).images.shape == (3, 3, 16, 16)
    write_faces(tmp_path, [10], start=4)
    rebuilt = load_celeba(tmp_path, "train", image_size=32)
    assert close(levels_of(rebuilt.images), [250, 250, 10, 250])

    cache.write_bytes(b"not safetensors")  # a damaged cache is rebuilt, not an error
    assert torch.equal(load_celeba(tmp_path, "train", image_size=32).images, rebuilt.images)
    assert cache.stat().st_size > 1000


def test_partition_file_selects_the_splits(tmp_path):
    write_faces(tmp_path, LEVELS)
    parts = [0, 0, 1, 2, 0, 2]
    (tmp_path / "list_eval_partition.txt").write_text(
        "".join(f"{i:06d}.jpg {p}\n" for i, p in enumerate(parts, 1)))
    train = load_celeba(tmp_path, "train", image_size=16)
    test = load_celeba(tmp_path, "test", image_size=16)
    assert close(levels_of(train.images), [40, 70, 160])  # partition 1 (100) is in neither
    assert close(levels_of(test.images), [130, 190])
    assert (tmp_path / "celeba_train_16px.safetensors").exists()
    assert (tmp_path / "celeba_test_16px.safetensors").exists()

    s = load_dataset(DataConfig(name="celeba", root=str(tmp_path), image_size=16, val=1))
    assert len(s.train) == 2 and len(s.val) == 1 and s.train.shape == (3, 16, 16)


def test_partition_file_errors(tmp_path):
    write_faces(tmp_path, LEVELS[:2])
    listing = tmp_path / "list_eval_partition.txt"
    listing.write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 0\n")
    with pytest.raises(DataError, match=r"1 of the 3 train images .*\(000003.jpg\)"):
        load_celeba(tmp_path, "train", image_size=16)
    listing.write_text("000001.jpg 0\n000002.jpg train\n")
    with pytest.raises(DataError, match="line 2"):
        load_celeba(tmp_path, "train", image_size=16)
    listing.unlink()
    with pytest.raises(DataError, match="data.split=test needs .*list_eval_partition.txt"):
        load_celeba(tmp_path, "test", image_size=16)


def test_missing_or_empty_folder_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError, match="img_align_celeba") as e:
        load_dataset(DataConfig(name="celeba", root=str(tmp_path / "nowhere")))
    assert str(tmp_path / "nowhere" / "img_align_celeba") in str(e.value) and "data.root" in str(e.value)
    (tmp_path / "img_align_celeba").mkdir()
    with pytest.raises(DataError, match="holds no"):
        load_celeba(tmp_path)
    with pytest.raises(ConfigError, match="image_size"):
        load_celeba(tmp_path, image_size=0)


def test_corrupt_jpeg_is_named(tmp_path):
    folder = write_faces(tmp_path, LEVELS[:2])
    (folder / "000003.jpg").write_bytes(os.urandom(500))
    with pytest.raises(DataError, match="1 of 3 image files .* 000003.jpg"):
        load_celeba(tmp_path, image_size=16)
    assert not list(tmp_path.glob("*.safetensors"))


def test_unwritable_cache_warns_and_still_loads(tmp_path, monkeypatch):
    write_faces(tmp_path, LEVELS[:2])

    def refuse(*args):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(celeba, "save_cached", refuse)
    with pytest.warns(UserWarning, match="could not write the CelebA cache .*read-only"):
        data = load_celeba(tmp_path, image_size=16)
    assert data.images.shape == (2, 3, 16, 16)
