"""CIFAR-10: a generated archive in the official format, served from a loopback HTTP server."""

import io
import os
import pickle
import pickletools
import struct
import tarfile

import numpy as np
import pytest
import torch

from test_data_download import closed_port_url, md5, server, sha256  # noqa: F401 (server is a fixture)
from vaelab.config import DataConfig
from vaelab.data import cifar10, load_dataset
from vaelab.data.cifar10 import load_cifar10
from vaelab.errors import DataError

N = 4  # images per batch file
NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
FOLDER = "cifar-10-batches-py"


class Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote it: bytes and str are both its native str.

    (Python 3 pickles bytes at protocol 2 as _codecs.encode(...) calls, a global the official
    files never name.)
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n))
        self.write(obj)
        self.memoize(obj)

    def save_native_str(self, obj: str):
        self.save_py2_str(obj.encode("latin-1"))

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_native_str


def pickled(obj, numpy_module=b"numpy.core.multiarray") -> bytes:
    # Like the official files: protocol 2 from Python 2, arrays named by numpy.core as numpy 1 wrote them.
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    return f.getvalue().replace(b"cnumpy._core.multiarray\n", b"c" + numpy_module + b"\n")


def globals_named(data: bytes) -> set[str]:
    return {arg for op, arg, _ in pickletools.genops(data) if op.name in ("GLOBAL", "STACK_GLOBAL", "INST")}


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
    """Serve `write_tar`'s archive with the patched digests; returns (served folder, URL)."""
    folder, url = server
    monkeypatch.setattr(cifar10, "MIRRORS", [closed_port_url(), url])
    monkeypatch.setattr(cifar10, "FILE_MD5", {name: md5(data) for name, data in FILES.items()})
    return folder, url


def pin(monkeypatch, data: bytes):
    """Pin the archive's digests to those of `data`."""
    monkeypatch.setattr(cifar10, "ARCHIVE_SHA256", sha256(data))
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(data))


def serve(folder, monkeypatch, files=FILES, extra=()):
    pin(monkeypatch, write_tar(folder / "cifar-10-python.tar.gz", files, extra))


def test_pinned_digests_and_mirrors():
    assert cifar10.ARCHIVE_SHA256 == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    assert cifar10.ARCHIVE_MD5 == "c58f30108f718f92721af3b95e74349a"
    assert cifar10.MIRRORS and all(m.startswith("https://") for m in cifar10.MIRRORS)


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


def test_wrong_sha256_fails_cleanly(served, tmp_path, monkeypatch):
    serve(served[0], monkeypatch)  # the served archive has the pinned md5, but not the pinned SHA-256
    monkeypatch.setattr(cifar10, "ARCHIVE_SHA256", sha256(b"the published archive"))
    root = tmp_path / "root"
    with pytest.raises(DataError, match=f"checksum mismatch: got sha256 .*, expected {sha256(b'the published archive')}"):
        load_dataset(DataConfig(name="cifar10", root=str(root)))
    assert list(root.iterdir()) == []


def test_present_archive_with_wrong_sha256_is_kept_and_not_extracted(served, tmp_path, monkeypatch):
    serve(served[0], monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    write_tar(root / "cifar-10-python.tar.gz", {**FILES, "readme.html": b"mine"})  # another archive
    mine = (root / "cifar-10-python.tar.gz").read_bytes()
    assert sha256(mine) != cifar10.ARCHIVE_SHA256
    with pytest.raises(DataError, match="has sha256 .* delete it"):
        load_cifar10(root, "train")
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]
    assert (root / "cifar-10-python.tar.gz").read_bytes() == mine


def test_corrupt_or_foreign_archive_leaves_nothing(served, tmp_path, monkeypatch):
    folder, _ = served
    root = tmp_path / "root"
    data = write_tar(folder / "cifar-10-python.tar.gz", FILES)
    (folder / "cifar-10-python.tar.gz").write_bytes(data[: len(data) // 2])  # truncated gzip stream
    pin(monkeypatch, data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot extract it"):
        load_cifar10(root, "train")
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]

    (root / "cifar-10-python.tar.gz").unlink()
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.addfile(member("other/data_batch_1"), io.BytesIO(b"evil"))
    pin(monkeypatch, (folder / "cifar-10-python.tar.gz").read_bytes())
    with pytest.raises(DataError, match="holds no folder cifar-10-batches-py"):
        load_cifar10(root, "train")
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]


def test_download_disabled_names_the_archive(tmp_path):
    with pytest.raises(DataError, match="data.download") as e:
        load_cifar10(tmp_path, "train", download=False)
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(e.value)


def test_official_format_names_only_the_allowed_globals():
    assert set().union(*map(globals_named, FILES.values())) == {
        "numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    assert {f"{m} {n}" for m, n in cifar10.ALLOWED_GLOBALS} == {
        "numpy.core.multiarray _reconstruct", "numpy._core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


def place(root, monkeypatch, name: str, data: bytes):
    """root/FOLDER holding FILES with `name` replaced by `data`, whose md5 is made the expected one."""
    (root / FOLDER).mkdir(parents=True)
    for n, d in {**FILES, name: data}.items():
        (root / FOLDER / n).write_bytes(d)
    monkeypatch.setattr(cifar10, "FILE_MD5", {n: md5(d) for n, d in {**FILES, name: data}.items()})


@pytest.mark.parametrize("numpy_module", [b"numpy.core.multiarray", b"numpy._core.multiarray"])
def test_official_format_batch_is_read(tmp_path, monkeypatch, numpy_module):
    data = torch.arange(2 * 3072).remainder(251).to(torch.uint8).reshape(2, 3072).numpy()
    batch = pickled({b"batch_label": b"testing batch 1 of 1", b"data": data, b"labels": [3, 9],
                     b"filenames": [b"a.png", b""]}, numpy_module)
    place(tmp_path, monkeypatch, "test_batch", batch)
    test = load_cifar10(tmp_path, "test", download=False)
    assert test.images.shape == (2, 3, 32, 32) and test.labels.tolist() == [3, 9]
    assert torch.equal(test.images.reshape(2, -1), torch.from_numpy(data)) and test.class_names[3] == "cat"


class Planted:
    """Unpickles as call(*args): what a planted file would have a plain unpickler run."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def payloads(marker):
    return {
        "open": Planted(open, str(marker), "w"),  # named __builtin__.open at protocol 2
        "os.system": Planted(os.system, f"touch {marker}"),
        "numpy.save": Planted(np.save, str(marker), np.zeros(1)),  # numpy, but not an allowed name
        "getattr": Planted(getattr, np.ndarray, "tofile"),  # reaching past the allowed ndarray
    }


@pytest.mark.parametrize("kind", ["open", "os.system", "numpy.save", "getattr"])
@pytest.mark.parametrize("name, split", [("test_batch", "test"), ("batches.meta", "train")])
@pytest.mark.parametrize("protocol", [2, 4])
def test_planted_payload_is_refused_and_not_run(tmp_path, monkeypatch, kind, name, split, protocol):
    marker = tmp_path / "marker.npy"  # the name np.save writes to
    evil = {b"data": data_of(name if name != "batches.meta" else "test_batch"), b"labels": [0] * N,
            b"label_names": NAMES, b"payload": payloads(marker)[kind]}
    root = tmp_path / "root"
    # Protocol 2 as Python 2 wrote it (a Python 3 one would be refused at its first bytes key,
    # _codecs.encode, before the payload); protocol 4 as Python 3 writes it.
    place(root, monkeypatch, name, pickled(evil) if protocol == 2 else pickle.dumps(evil, protocol=4))
    with pytest.raises(DataError, match=r"refuses to load \S+: not part of a CIFAR-10 batch") as e:
        load_cifar10(root, split, download=False)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(root / FOLDER / name) + ":")
    assert f".{kind.split('.')[-1]}: not part" in message  # e.g. "refuses to load posix.system: ..."
    assert not marker.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_refused_name_is_shown_on_one_line(tmp_path, monkeypatch):
    # protocol 4: STACK_GLOBAL takes any strings, so a name may hold a newline or be long.
    strings = b"".join(pickle.SHORT_BINUNICODE + bytes([len(t)]) + t for t in (b"os", b"sys\ntem" * 20))
    place(tmp_path, monkeypatch, "test_batch", b"\x80\x04" + strings + pickle.STACK_GLOBAL + pickle.STOP)
    with pytest.raises(DataError, match=r"refuses to load 'os\.sys\\ntem") as e:
        load_cifar10(tmp_path, "test", download=False)
    assert "\n" not in str(e.value) and len(str(e.value)) < 500
