"""folder:PATH: any folder of PNG/JPEG images, labels from sub-folders."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from vaelab.config import DataConfig
from vaelab.data import load_dataset
from vaelab.data.folder import load_folder
from vaelab.errors import ConfigError, DataError


def save(path, image: Image.Image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def grey(level, size=(12, 12)):
    return Image.new("L", size, level)


def rgb(colour, size=(12, 12)):
    return Image.new("RGB", size, colour)


def test_sub_folders_give_labels_in_sorted_order(tmp_path):
    save(tmp_path / "dogs" / "x" / "deep.png", rgb((0, 0, 250)))
    save(tmp_path / "dogs" / "c.JPEG", rgb((0, 250, 0)))
    save(tmp_path / "cats" / "b.jpg", rgb((250, 250, 0)))
    save(tmp_path / "cats" / "a.png", rgb((250, 0, 0)))
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    (tmp_path / "cats" / "._a.png").write_bytes(os.urandom(100))  # macOS fork: hidden, skipped
    (tmp_path / ".thumbs").mkdir()
    (tmp_path / ".thumbs" / "t.png").write_bytes(os.urandom(100))
    (tmp_path / "empty").mkdir()  # holds no images: no class
    os.symlink(tmp_path, tmp_path / "dogs" / "x" / "loop")  # a cycle, not followed

    data = load_folder(tmp_path, image_size=8)
    assert data.images.shape == (4, 3, 8, 8) and data.images.dtype == torch.uint8
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 1, 1]
    assert data.labels.dtype == torch.int64 and data.num_classes == 2
    # cats/a.png, cats/b.jpg, dogs/c.JPEG, dogs/x/deep.png: the dominant channel of each.
    centre = data.images[:, :, 4, 4].int()
    assert (centre > 200).int().tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_flat_folder_has_no_labels(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", rgb((10 * i, 0, 0)))
    data = load_folder(tmp_path, image_size=8)
    assert data.labels is None and data.class_names is None and len(data) == 3


def test_greyscale_only_is_one_channel(tmp_path):
    save(tmp_path / "a.png", grey(100))
    save(tmp_path / "b.png", Image.new("1", (12, 12), 1))
    save(tmp_path / "c.png", Image.fromarray(np.full((12, 12), 0x8000, dtype=np.uint16)))  # 16 bits
    save(tmp_path / "d.png", Image.new("LA", (12, 12), (30, 0)))
    save(tmp_path / "e.jpg", grey(200))
    data = load_folder(tmp_path, image_size=6)
    assert data.images.shape == (5, 1, 6, 6)
    assert data.images[:, 0, 3, 3].int().tolist()[:4] == [100, 255, 128, 30]
    assert abs(int(data.images[4, 0, 3, 3]) - 200) <= 2


def test_mixed_is_rgb(tmp_path):
    save(tmp_path / "a.png", grey(100))
    save(tmp_path / "b.png", rgb((200, 10, 20)))
    save(tmp_path / "c.png", Image.new("RGBA", (12, 12), (1, 2, 3, 0)))
    data = load_folder(tmp_path, image_size=6)
    assert data.images.shape == (3, 3, 6, 6)
    assert data.images[:, :, 3, 3].tolist() == [[100, 100, 100], [200, 10, 20], [1, 2, 3]]


def test_non_square_is_centre_cropped(tmp_path):
    # 100 wide, 60 high: the centre 60x60 is white with a black 20x20 centre; the 20-pixel
    # strips left and right of it are red and must not show.
    a = np.full((60, 100, 3), 255, dtype=np.uint8)
    a[:, :20], a[:, 80:] = (255, 0, 0), (255, 0, 0)
    a[20:40, 40:60] = 0
    save(tmp_path / "wide.png", Image.fromarray(a))
    save(tmp_path / "tall.png", Image.fromarray(a.transpose(1, 0, 2).copy()))  # 60 wide, 100 high
    data = load_folder(tmp_path, image_size=30)
    x = data.images.int()
    assert data.images.shape == (2, 3, 30, 30)
    assert (x[:, 1] >= x[:, 0] - 2).all()  # no red anywhere: green as bright as red
    assert (x[:, :, 12:18, 12:18] < 10).all()  # the black square in the middle
    assert (x[:, :, :8, :] > 245).all() and (x[:, :, :, :8] > 245).all()  # white around it


def test_corrupt_files_are_named(tmp_path):
    save(tmp_path / "good.png", rgb((1, 2, 3)))
    (tmp_path / "x.png").write_bytes(os.urandom(300))
    with pytest.raises(DataError, match="1 of 2 image files .*: x.png") as e:
        load_folder(tmp_path, image_size=8)
    assert str(tmp_path) in str(e.value) and "good.png" not in str(e.value)

    for i in range(6):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(200))
    with pytest.raises(DataError, match="7 of 8 image files .*bad0.jpg.* and 2 more"):
        load_folder(tmp_path, image_size=8)

    for p in tmp_path.glob("bad*"):
        p.unlink()
    data = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "x.png")
    (tmp_path / "x.png").write_bytes((tmp_path / "x.png").read_bytes()[:-300])  # truncated: header fine
    with pytest.raises(DataError, match="x.png"):
        load_folder(tmp_path, image_size=8)


def test_missing_empty_and_mixed_layouts(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        load_folder(tmp_path / "nowhere")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.txt").write_text("no images")
    with pytest.raises(DataError, match="holds no .png, .jpg or .jpeg images"):
        load_folder(tmp_path)
    save(tmp_path / "sub" / "a.png", grey(1))
    save(tmp_path / "loose.png", grey(2))
    with pytest.raises(DataError, match=r"both directly in it \(e.g. loose.png\) and in sub-folders"):
        load_folder(tmp_path)


def test_load_dataset_dispatches_folder_names(tmp_path):
    for i in range(10):
        save(tmp_path / "imgs" / ("odd" if i % 2 else "even") / f"{i}.png", grey(20 * i, (30, 20)))
    s = load_dataset(DataConfig(name=f"folder:{tmp_path / 'imgs'}", image_size=16, limit=8, val=2,
                                binarize="static"))
    assert s.train.shape == (1, 16, 16) and len(s.train) == 6 and len(s.val) == 2
    assert s.train.class_names == ["even", "odd"] and s.val.labels.tolist() == [1, 1]
    assert set(s.train.images.unique().tolist()) <= {0, 255}  # static binarization applies
    assert s.train.name == f"folder:{tmp_path / 'imgs'}"
    with pytest.raises(ConfigError, match="data.name must be one of .* or folder:..., got 'folder:'"):
        DataConfig(name="folder:")  # refused as it is made, before any loading
