"""fetch() against a loopback HTTP server (127.0.0.1 only) serving generated files."""

import hashlib
import http.server
import socket
import threading
from functools import partial

import pytest
import torch

from vaelab.config import DataConfig
from vaelab.data import load_dataset, mnist
from vaelab.data.download import fetch
from vaelab.data.idx import write_idx
from vaelab.errors import DataError


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; /truncated/<name> promises 1000 bytes, sends 10 and hangs up."""

    def do_GET(self):
        if self.path.startswith("/truncated/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """(folder served, base URL ending in '/')."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def closed_port_url():
    """A loopback URL on which nothing listens: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_with_right_md5(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"hello idx")
    root = tmp_path / "root" / "nested"  # created on demand
    path = fetch("f.gz", root, [url], md5(b"hello idx"))
    assert path == root / "f.gz" and path.read_bytes() == b"hello idx"
    assert sorted(p.name for p in root.iterdir()) == ["f.gz"]  # no temporary left behind


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"tampered")
    root = tmp_path / "root"
    with pytest.raises(DataError) as e:
        fetch("f.gz", root, [url], md5(b"original"))
    msg = str(e.value)
    assert "checksum mismatch" in msg and md5(b"original") in msg and md5(b"tampered") in msg
    assert url + "f.gz" in msg and str(root) in msg
    assert list(root.iterdir()) == []  # neither the final nor a temporary file


def test_interrupted_transfer_leaves_no_file(server, tmp_path):
    _, url = server
    root = tmp_path / "root"
    with pytest.raises(DataError, match="cut short: got 10 of 1000 bytes"):
        fetch("f.gz", root, [url + "truncated/"], md5(b"whatever"))
    assert list(root.iterdir()) == []


def test_404_falls_back_to_next_mirror(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"data")
    path = fetch("f.gz", tmp_path, [url + "nothing-here/", url], md5(b"data"))
    assert path.read_bytes() == b"data"


def test_all_mirrors_fail_names_each_url_and_reason(server, tmp_path):
    _, url = server
    dead = closed_port_url()
    with pytest.raises(DataError) as e:
        fetch("f.gz", tmp_path, [url, dead], md5(b"x"))
    msg = str(e.value)
    assert f"{url}f.gz (HTTP 404" in msg
    assert f"{dead}f.gz (cannot connect" in msg
    assert "by hand" in msg and str(tmp_path) in msg


def test_unreachable_mirror(tmp_path):
    dead = closed_port_url()
    with pytest.raises(DataError, match="could not download f.gz.*cannot connect"):
        fetch("f.gz", tmp_path / "root", [dead], md5(b"x"), timeout=5)
    assert list((tmp_path / "root").iterdir()) == []


def test_silent_server_times_out(tmp_path):
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        url = f"http://127.0.0.1:{s.getsockname()[1]}/"
        with pytest.raises(DataError, match="timed out"):
            fetch("f.gz", tmp_path, [url], md5(b"x"), timeout=0.3)


def test_present_file_is_used_without_network(tmp_path):
    (tmp_path / "f.gz").write_bytes(b"local")
    assert fetch("f.gz", tmp_path, [closed_port_url()], md5(b"local")) == tmp_path / "f.gz"


def test_present_file_with_wrong_md5_is_an_error_and_kept(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"good")
    (tmp_path / "f.gz").write_bytes(b"mine")
    with pytest.raises(DataError, match="delete it"):
        fetch("f.gz", tmp_path, [url], md5(b"good"))
    assert (tmp_path / "f.gz").read_bytes() == b"mine"


def test_download_disabled_names_the_missing_path(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"data")
    with pytest.raises(DataError, match="data.download") as e:
        fetch("f.gz", tmp_path, [url], md5(b"data"), download=False)
    assert str(tmp_path / "f.gz") in str(e.value)
    assert not (tmp_path / "f.gz").exists()


def test_load_dataset_downloads_fashion_mnist(server, tmp_path, monkeypatch):
    """End to end: load_dataset fetches the official file names from the (patched) mirrors."""
    folder, url = server
    images = torch.randint(0, 256, (30, 28, 28), dtype=torch.uint8)
    labels = torch.arange(30, dtype=torch.uint8) % 10
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    sums = {f.name: md5(f.read_bytes()) for f in folder.iterdir()}
    monkeypatch.setitem(mnist.MIRRORS, "fashion-mnist", [closed_port_url(), url])
    monkeypatch.setitem(mnist.MD5, "fashion-mnist", sums)

    root = tmp_path / "cache"
    splits = load_dataset(DataConfig(name="fashion-mnist", root=str(root), split="train", val=10))
    assert sorted(p.name for p in root.iterdir()) == sorted(sums)
    assert torch.equal(splits.train.images[:, 0], images[:20])
    assert torch.equal(splits.val.labels, labels[20:].long())
    assert splits.train.class_names[0] == "T-shirt/top" and splits.train.num_classes == 10
