"""CIFAR-10: a generated archive in the official format, served from a loopback HTTP server."""

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from test_data_download import closed_port_url, md5, server  # noqa: F401 (server is a fixture)
from vaelab.config import DataConfig
from vaelab.data import cifar10, load_dataset
from vaelab.data.cifar10 import load_cifar10
from vaelab.errors import DataError

N = 4  # images per batch file
NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
FOLDER = "cifar-10-batches-py"


def pickled(obj) -> bytes:
    # Like the official files: protocol 2, arrays named by numpy.core as numpy 1 wrote them.
    return pickle.dumps(obj, protocol=2).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def fake_files() -> dict[str, bytes]:
    """The files of cifar-10-batches-py, N random images per batch; batch k has labels k, k+1, ..."""
    g = torch.Generator().manual_seed(0)
    files = {}
    for k, name in enumerate(TRAIN + ["test_batch"]):
        data = torch.randint(0, 256, (N, 3072), generator=g, dtype=torch.uint8).numpy()
        if name == "data_batch_1":  # image 0: black but for one pixel, channel 2 (blue), row 5, column 7
            data[0] = 0
            data[0, 2 * 1024 + 5 * 32 + 7] = 200
        files[name] = pickled({b"batch_label": name.encode(), b"data": data,
                               b"labels": [(k + i) % 10 for i in range(N)],
                               b"filenames": [f"{name}_{i}.png".encode() for i in range(N)]})
    files["batches.meta"] = pickled({b"label_names": NAMES, b"num_cases_per_batch": N, b"num_vis": 3072})
    return files


FILES = fake_files()


def data_of(name) -> np.ndarray:
    return pickle.loads(FILES[name], encoding="bytes")[b"data"]


def write_tar(path, files: dict[str, bytes], extra=()) -> bytes:
    """A .tar.gz holding FOLDER/<name> for each file, then the TarInfos in `extra`; returns its bytes."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"evil") if info.isreg() else None)
    return path.read_bytes()


def member(name, kind=tarfile.REGTYPE, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, 4 if kind == tarfile.REGTYPE else 0
    return info


@pytest.fixture
def served(server, monkeypatch):  # noqa: F811
    """Serve `write_tar`'s archive with the patched md5s; returns (served folder, URL)."""
    folder, url = server
    monkeypatch.setattr(cifar10, "MIRRORS", [closed_port_url(), url])
    monkeypatch.setattr(cifar10, "FILE_MD5", {name: md5(data) for name, data in FILES.items()})
    return folder, url


def serve(folder, monkeypatch, files=FILES, extra=()):
    data = write_tar(folder / "cifar-10-python.tar.gz", files, extra)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(data))


def test_download_extract_and_read(served, tmp_path, monkeypatch):
    serve(served[0], monkeypatch)
    root = tmp_path / "root"
    s = load_dataset(DataConfig(name="cifar10", root=str(root), split="train", val=4))
    assert len(s.train) == 16 and len(s.val) == 4 and s.train.shape == (3, 32, 32)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]

    data = load_cifar10(root, "train")
    assert data.images.dtype == torch.uint8 and data.images.shape == (5 * N, 3, 32, 32)
    # Channels first: the one lit value of row 0 is blue (c=2) at row h=5, column w=7.
    assert data.images[0].nonzero().tolist() == [[2, 5, 7]] and data.images[0, 2, 5, 7] == 200
    assert torch.equal(data.images[N + 1], torch.from_numpy(data_of("data_batch_2")[1]).reshape(3, 32, 32))
    assert data.labels.dtype == torch.int64 and data.labels[:6].tolist() == [0, 1, 2, 3, 1, 2]
    assert data.class_names[0] == "airplane" and data.class_names[9] == "truck" and data.num_classes == 10

    test = load_cifar10(root, "test")
    assert len(test) == N and test.labels.tolist() == [5, 6, 7, 8]
    assert torch.equal(test.images.reshape(N, -1), torch.from_numpy(data_of("test_batch")))


def test_extracted_folder_is_used_without_the_archive(served, tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / FOLDER).mkdir(parents=True)
    for name, data in FILES.items():
        (root / FOLDER / name).write_bytes(data)
    monkeypatch.setattr(cifar10, "MIRRORS", [closed_port_url()])  # nothing to download from
    data = load_cifar10(root, "test", download=False)
    assert len(data) == N and data.labels.tolist() == [5, 6, 7, 8]
    assert sorted(p.name for p in root.iterdir()) == [FOLDER]


def test_modified_file_is_not_unpickled(served, tmp_path, monkeypatch):
    serve(served[0], monkeypatch)
    root = tmp_path / "root"
    load_cifar10(root, "test")
    (root / FOLDER / "test_batch").write_bytes(pickle.dumps({b"data": "not the official bytes"}))
    with pytest.raises(DataError, match="expected .* delete the folder") as e:
        load_cifar10(root, "test")
    assert str(root / FOLDER / "test_batch") in str(e.value)
    (root / FOLDER / "batches.meta").unlink()
    with pytest.raises(DataError, match="batches.meta is missing"):
        load_cifar10(root, "train")


@pytest.mark.parametrize("bad", [
    member("../evil"),
    member(f"{FOLDER}/../../evil"),
    member("/ABSOLUTE/evil"),
    member(f"{FOLDER}/link", tarfile.SYMTYPE, "../../outside"),
    member(f"{FOLDER}/link", tarfile.SYMTYPE, "/etc/passwd"),
    member(f"{FOLDER}/hard", tarfile.LNKTYPE, "../outside"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-absolute", "hardlink-out"])
def test_unsafe_member_is_refused(served, tmp_path, monkeypatch, bad):
    if bad.name.startswith("/"):  # an absolute path inside this test's folder, to see it is not written
        bad.name = str(tmp_path / "absolute-evil")
    serve(served[0], monkeypatch, extra=[bad])
    root = tmp_path / "root"
    with pytest.raises(DataError, match="refusing to extract member") as e:
        load_cifar10(root, "train")
    assert repr(bad.name) in str(e.value)
    # Nothing outside root, and in root only the verified archive: no folder, no temporary.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root", "served"]
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_wrong_md5_fails_cleanly(served, tmp_path, monkeypatch):
    serve(served[0], monkeypatch)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(b"the published archive"))
    root = tmp_path / "root"
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset(DataConfig(name="cifar10", root=str(root)))
    assert list(root.iterdir()) == []


def test_corrupt_or_foreign_archive_leaves_nothing(served, tmp_path, monkeypatch):
    folder, _ = served
    root = tmp_path / "root"
    data = write_tar(folder / "cifar-10-python.tar.gz", FILES)
    (folder / "cifar-10-python.tar.gz").write_bytes(data[: len(data) // 2])  # truncated gzip stream
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(data[: len(data) // 2]))
    with pytest.raises(DataError, match="cannot extract it"):
        load_cifar10(root, "train")
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]

    (root / "cifar-10-python.tar.gz").unlink()
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.addfile(member("other/data_batch_1"), io.BytesIO(b"evil"))
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5((folder / "cifar-10-python.tar.gz").read_bytes()))
    with pytest.raises(DataError, match="holds no folder cifar-10-batches-py"):
        load_cifar10(root, "train")
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]


def test_download_disabled_names_the_archive(tmp_path):
    with pytest.raises(DataError, match="data.download") as e:
        load_cifar10(tmp_path, "train", download=False)
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(e.value)
