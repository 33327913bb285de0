import gzip

import pytest
import torch

from vaelab.data.idx import read_idx, write_idx
from vaelab.errors import DataError


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
@pytest.mark.parametrize("shape", [(7,), (5, 28, 28), (2, 3, 4, 5)])
def test_round_trip(tmp_path, name, shape):
    t = torch.randint(0, 256, shape, dtype=torch.uint8)
    write_idx(tmp_path / name, t)
    back = read_idx(tmp_path / name)
    assert back.dtype == torch.uint8 and back.shape == shape
    assert torch.equal(back, t)


def test_gz_is_really_gzip_and_raw_is_not(tmp_path):
    t = torch.arange(12, dtype=torch.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.gz", t)
    write_idx(tmp_path / "a", t)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "a").read_bytes()[:8] == bytes([0, 0, 8, 2, 0, 0, 0, 3])
    assert len((tmp_path / "a").read_bytes()) == 4 + 2 * 4 + 12


def test_gzip_detected_by_content_not_name(tmp_path):
    t = torch.arange(10, dtype=torch.uint8)
    write_idx(tmp_path / "a.gz", t)
    (tmp_path / "a.gz").rename(tmp_path / "plain-name")
    assert torch.equal(read_idx(tmp_path / "plain-name"), t)


def _raw(t):
    return bytes([0, 0, 8, t.dim()]) + b"".join(n.to_bytes(4, "big") for n in t.shape) + t.numpy().tobytes()


@pytest.mark.parametrize("corrupt, words", [
    (lambda b: b"\x01\x02" + b[2:], "magic"),           # not starting with two zero bytes
    (lambda b: b[:2] + b"\x0d" + b[3:], "0x0d"),        # float32 dtype code: unsupported
    (lambda b: b[:-1], "truncated"),                    # one data byte missing
    (lambda b: b + b"\x00", "truncated or corrupt"),    # one byte too many
    (lambda b: b[:6], "header"),                        # cut inside the dims
    (lambda b: b"", "magic"),
])
def test_corrupt_raw_files_raise(tmp_path, corrupt, words):
    path = tmp_path / "bad-idx2-ubyte"
    path.write_bytes(corrupt(_raw(torch.zeros(3, 4, dtype=torch.uint8))))
    with pytest.raises(DataError, match=words) as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_truncated_gzip_raises(tmp_path):
    path = tmp_path / "cut.gz"
    data = gzip.compress(_raw(torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8)))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.gz"):
        read_idx(path)


def test_gzip_of_truncated_idx_raises(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(_raw(torch.zeros(10, 5, dtype=torch.uint8))[:-7]))
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "nope.gz")


def test_write_rejects_non_uint8(tmp_path):
    with pytest.raises(DataError):
        write_idx(tmp_path / "f", torch.zeros(3))
